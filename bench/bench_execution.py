"""Issue #4 figures in one run: signing, Plan -> signed bytes, simulation cold and warm."""

from __future__ import annotations

from typing import Any

from bench.parts import run_parts

PARTS = ("signing", "simulation", "plan")


def run() -> dict[str, Any]:
    return run_parts(PARTS)
