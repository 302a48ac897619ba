"""Run every benchmark (or those named) and write each one's figures as JSON.

python -m bench.run [name ...]     # e.g. `python -m bench.run devnet`
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
STANDALONE = ("arbitrage",)  # parts with their own results file: bench/parts/<name>.py


def discover() -> list[str]:
    groups = [p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py")]
    return sorted([*groups, *STANDALONE])


def _module(name: str) -> Any:
    package = "bench.parts." if name in STANDALONE else "bench.bench_"
    return importlib.import_module(package + name)


def main(argv: list[str]) -> int:
    names = argv or discover()
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for name in names:
        module = _module(name)
        print(f"bench {name} ...", flush=True)
        started = time.monotonic()
        figures = module.run()
        record = {
            "benchmark": name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            "seconds": round(time.monotonic() - started, 3),
            "figures": figures,
        }
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
        if figures.get("passed") is False:
            failed += 1
    return 1 if failed else 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
