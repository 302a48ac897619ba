"""`make demo`: an embedded devnet, what is deployed on it, and a price shock moving borrowers.

Until the strategies land, the demo shows the market the engine will trade: every protocol
deployed from its real bytecode, the seeded borrowers' health, and how successive
collateral price drops push them past their liquidation thresholds.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tallyio.devnet import deploy
from tallyio.devnet.context import attach
from tallyio.devnet.health import BorrowerHealth, all_borrowers
from tallyio.devnet.node import pid_alive
from tallyio.devnet.scenarios import price_shock
from tallyio.devnet.summary import render_summary

SHOCK_STEPS = (("WETH", -4.0), ("WBTC", -4.0), ("WETH", -4.0), ("WBTC", -4.0), ("WETH", -6.0))


def _table(rows: list[BorrowerHealth]) -> str:
    lines = [f"  {'protocol':<9} {'account':<14} {'HF':>7} {'headroom $':>14}  status"]
    for r in rows:
        hf = f"{r.health_factor:.4f}" if r.health_factor is not None else "-"
        status = "LIQUIDATABLE" if r.liquidatable else "healthy"
        account = f"{r.account[:8]}…{r.account[-4:]}"
        lines.append(f"  {r.protocol:<9} {account:<14} {hf:>7} {r.liquidity_usd:>14,.2f}  {status}")
    return "\n".join(lines)


def run_demo(json_output: bool = False, progress: Callable[[str], None] = print) -> int:
    state_dir = Path(tempfile.mkdtemp(prefix="tallyio-demo-"))
    started = time.monotonic()
    progress("bringing up the embedded devnet (anvil + real protocol bytecode)")
    manifest = deploy.up(state_dir, progress=progress)
    report: dict[str, Any] = {"devnet_seconds": round(time.monotonic() - started, 2)}
    try:
        ctx = attach(manifest)
        if not json_output:
            print(render_summary(manifest))
        rows = all_borrowers(ctx)
        report["borrowers"] = [r.as_dict() for r in rows]
        if not json_output:
            print("\nSeeded borrowers\n" + _table(rows))
        report["steps"] = _shock_steps(ctx, json_output)
    finally:
        pid = deploy.down(state_dir)
        report["stopped_pid"] = pid
        report["left_running"] = pid is not None and pid_alive(pid)
    if json_output:
        report["manifest"] = manifest
        print(json.dumps(report, indent=2))
    else:
        print(f"\ndevnet stopped (pid {pid}); nothing left running. "
              "Liquidation and arbitrage strategies land in later releases.")  # fmt: skip
    return 0


def _shock_steps(ctx: Any, json_output: bool) -> list[dict[str, Any]]:
    steps = []
    for symbol, pct in SHOCK_STEPS:
        old, new = price_shock(ctx, symbol, pct)
        rows = all_borrowers(ctx)
        liquidatable = [r.account for r in rows if r.liquidatable]
        steps.append({"symbol": symbol, "pct": pct, "old_price": old, "new_price": new,
                      "liquidatable": liquidatable})  # fmt: skip
        if not json_output:
            print(f"\n{symbol} {pct:+.1f}%: ${old / 1e8:,.2f} -> ${new / 1e8:,.2f}; "
                  f"{len(liquidatable)} of {len(rows)} borrowers liquidatable")  # fmt: skip
    return steps
