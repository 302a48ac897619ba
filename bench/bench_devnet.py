"""How long `devnet up` takes: a cold deployment and a start from the cached state dump.

Target (issue #2): under 60 s on the 2-core machine.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tallyio.devnet import deploy

TARGET_SECONDS = 60.0


def _timed_up(cache_dir: Path) -> float:
    os.environ["TALLYIO_CACHE_DIR"] = str(cache_dir)
    state = Path(tempfile.mkdtemp(prefix="bench-devnet-"))
    started = time.monotonic()
    deploy.up(state)
    elapsed = time.monotonic() - started
    deploy.down(state)
    return elapsed


def run() -> dict[str, Any]:
    old = os.environ.get("TALLYIO_CACHE_DIR")
    try:
        with tempfile.TemporaryDirectory() as cache:
            cold = _timed_up(Path(cache))
            cached = _timed_up(Path(cache))
    finally:
        if old is None:
            os.environ.pop("TALLYIO_CACHE_DIR", None)
        else:
            os.environ["TALLYIO_CACHE_DIR"] = old
    return {
        "cold_up_seconds": round(cold, 2),
        "cached_up_seconds": round(cached, 2),
        "target_seconds": TARGET_SECONDS,
        "passed": cold < TARGET_SECONDS,
    }
