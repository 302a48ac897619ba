"""Issue #5 figure: price-feed event -> signed liquidation transaction, 1k/10k/100k borrowers."""

from __future__ import annotations

from typing import Any

from bench.parts import run_parts

PARTS = ("liquidation",)


def run() -> dict[str, Any]:
    return run_parts(PARTS)
