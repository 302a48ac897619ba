"""Issue #3 figures in one run: exact quotes, account checks, sweeps, events; eth_call baseline."""

from __future__ import annotations

from typing import Any

from bench.parts import run_parts

PARTS = ("uniswap", "balancer", "lending", "state_pools", "state_lending")


def run() -> dict[str, Any]:
    return run_parts(PARTS)
