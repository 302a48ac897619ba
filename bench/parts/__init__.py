"""Benchmark parts: each module exposes run() -> dict; bench_<area>.py groups them."""

from __future__ import annotations

import importlib
from typing import Any


def run_parts(names: tuple[str, ...]) -> dict[str, Any]:
    """Run the named parts in one process; `passed` is false if any part missed its target."""
    out: dict[str, Any] = {}
    for name in names:
        print(f"  part {name} ...", flush=True)
        out[name] = importlib.import_module(f"bench.parts.{name}").run()
    out["passed"] = all(v.get("passed", True) for v in out.values())
    return out
