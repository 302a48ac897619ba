"""`make demo`: an embedded devnet, the engine running live on it, and a market that moves.

The devnet deploys every protocol from its real bytecode and seeds borrowers near their
liquidation thresholds. The engine follows the chain block by block; a scenario drops
collateral prices step by step, so borrowers on Aave V3 and Venus become liquidatable at
different moments, and the engine liquidates them with flash loans through TallyExecutor (the
devnet's funded searcher account signs: live on the devnet, never a real key). Then seeded
random dislocations move one pool at a time (as `scenarios.random_dislocations` draws them), and
the engine closes each with a flash-loan-funded cycle through the pools in the next block.
Last, a user's large swap waits in the mempool: the engine backruns it through the devnet's
bundle relay, [user's swap, ours] in one block. Each step prints what the engine saw and did;
a summary table per strategy ends it. `--json` prints the same as one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tallyio.app.report import LiveReport
from tallyio.app.runner import EngineOptions, Running
from tallyio.app.session import run_session, settle
from tallyio.devnet import deploy
from tallyio.devnet.context import DeployContext, attach
from tallyio.devnet.health import BorrowerHealth, all_borrowers
from tallyio.devnet.node import pid_alive
from tallyio.devnet.scenarios import (
    PoolRef,
    all_pools,
    dislocate,
    find_pool,
    pending_victim_swap,
    price_shock,
    resume_mining,
)
from tallyio.devnet.summary import render_summary
from tallyio.paths import repo_root
from tallyio.strategies.monitored import MonitoredLiquidation

SHOCK_STEPS = (("WETH", -4.0), ("WBTC", -4.0), ("WETH", -4.0), ("WBTC", -4.0), ("WETH", -6.0))
ARB_SEED, ARB_STEPS = 7, 4  # seeded random dislocations after the shocks
BACKRUN_USDC = 250_000 * 10**6  # the user's pending swap: an eighth of the pair's USDC side


def _table(rows: list[BorrowerHealth]) -> str:
    lines = [f"  {'protocol':<9} {'account':<14} {'HF':>7} {'headroom $':>14}  status"]
    for r in rows:
        hf = f"{r.health_factor:.4f}" if r.health_factor is not None else "-"
        status = "LIQUIDATABLE" if r.liquidatable else "healthy"
        account = f"{r.account[:8]}…{r.account[-4:]}"
        lines.append(f"  {r.protocol:<9} {account:<14} {hf:>7} {r.liquidity_usd:>14,.2f}  {status}")
    return "\n".join(lines)


def _risk_view(running: Running) -> dict[str, Any]:
    """Per lending strategy: accounts liquidatable now, and the watch list's nearest."""
    out: dict[str, Any] = {}
    for s in running.engine.strategies:
        if not isinstance(s, MonitoredLiquidation):
            continue
        watch = s.watch_list()
        out[s.name] = {
            "liquidatable": [a for a, _ in s.liquidatable],
            "watched": len(watch),
            "nearest": None if not watch else {
                "account": watch[0].account, "health_factor": round(watch[0].health_factor, 4),
                "asset": running.market.symbol_of(watch[0].asset),
                "price_move_pct": round(watch[0].price_move * 100, 2),
            },
        }  # fmt: skip
    return out


def _risk_line(view: dict[str, Any]) -> str:
    parts = []
    for name, v in view.items():
        near = v["nearest"]
        tail = ""
        if near:
            tail = (f", nearest {near['account'][:10]}… at HF {near['health_factor']:.3f} "
                    f"({near['asset']} {near['price_move_pct']:+.1f}% liquidates it)")  # fmt: skip
        parts.append(f"{name}: {len(v['liquidatable'])} liquidatable, {v['watched']} watched{tail}")
    return "\n".join(f"    {p}" for p in parts)


def _pool_name(ref: PoolRef) -> str:
    venue = f"V3 {ref.fee / 10_000:.2f}%" if ref.kind == "uniswap_v3" else "V2"
    return f"{ref.symbol0}/{ref.symbol1} {venue} {ref.address[:8]}…"


async def _dislocations(
    running: Running, ctx: DeployContext, out: list[dict[str, Any]], quiet: bool
) -> None:
    """One pool at a time, drawn from ARB_SEED as `random_dislocations` draws them."""
    rng = random.Random(ARB_SEED)  # noqa: S311 - scenario replay, not cryptography
    pools = all_pools(ctx.manifest)
    if not quiet:
        print("\nNow random dislocations, one pool at a time: the engine closes each with a "
              "flash-loan cycle through the other pools.", flush=True)  # fmt: skip
    for _ in range(ARB_STEPS):
        ref = rng.choice(pools)
        pct = round(rng.uniform(0.5, 3.0), 2) * rng.choice((-1, 1))
        await settle(running)
        receipt = await asyncio.to_thread(dislocate, ctx, ref.address, pct)
        block = int(receipt["blockNumber"], 16)
        if not quiet:
            print(f"\n── {_pool_name(ref)} {ref.symbol0} {pct:+.2f}% "
                  f"(swap in block {block})", flush=True)  # fmt: skip
        out.append({"pool": ref.address, "pair": f"{ref.symbol0}/{ref.symbol1}",
                    "kind": ref.kind, "fee": ref.fee, "pct": pct, "block": block})  # fmt: skip
        await settle(running)
        # Blocks come only with transactions here: one more lets what was held back go.
        await asyncio.to_thread(ctx.d.mine)
    await settle(running)


async def _backrun(running: Running, ctx: DeployContext, quiet: bool) -> dict[str, Any]:
    """A user's large USDC->WETH swap left pending (automine off); the engine backruns it
    through the relay. Mining resumes afterwards, whatever happened."""
    venue = next(v for v in ctx.manifest["uniswap_v2"] if v["name"] == "uniswap_v2")
    pair = next(p for p in venue["pairs"] if {p["symbol0"], p["symbol1"]} == {"WETH", "USDC"})
    ref = find_pool(ctx.manifest, pair["address"])
    await settle(running)
    seen = len(running.engine.stats.results)
    h = await asyncio.to_thread(pending_victim_swap, ctx, ref.address, BACKRUN_USDC,
                                zero_for_one=ref.symbol0 == "USDC")  # fmt: skip
    if not quiet:
        print(f"\n── a user swaps {BACKRUN_USDC // 10**6:,} USDC for WETH on {_pool_name(ref)}: "
              f"pending {h[:12]}…, the engine backruns it in a bundle", flush=True)  # fmt: skip
    try:
        for _ in range(600):  # up to 30 s for the bundle's result
            if any(o.strategy == "backrun" for o, _ in running.engine.stats.results[seen:]):
                break
            await asyncio.sleep(0.05)
    finally:
        await asyncio.to_thread(resume_mining, ctx)
    await settle(running)
    return {"pool": ref.address, "amount_in": BACKRUN_USDC, "user_tx": h}


def _scenario(
    ctx: DeployContext, steps: list[dict[str, Any]], moves: list[dict[str, Any]], quiet: bool,
    backrun: dict[str, Any],
) -> Any:  # fmt: skip
    async def run(running: Running) -> None:
        for symbol, pct in SHOCK_STEPS:
            await settle(running)
            old, new = await asyncio.to_thread(price_shock, ctx, symbol, pct)
            block = int(await running.client.request("eth_blockNumber"), 16)
            if not quiet:
                print(f"\n── {symbol} {pct:+.1f}%: ${old / 1e8:,.2f} -> ${new / 1e8:,.2f} "
                      f"(price update in block {block})", flush=True)  # fmt: skip
            await settle(running)
            view = _risk_view(running)
            if not quiet:
                print(_risk_line(view), flush=True)
            steps.append({"symbol": symbol, "pct": pct, "old_price": old, "new_price": new,
                          "block": block, "at_risk": view})  # fmt: skip
        await _dislocations(running, ctx, moves, quiet)
        backrun.update(await _backrun(running, ctx, quiet))

    return run


def run_demo(json_output: bool = False, progress: Callable[[str], None] = print) -> int:
    state_dir = Path(tempfile.mkdtemp(prefix="tallyio-demo-"))
    started = time.monotonic()
    progress("bringing up the embedded devnet (anvil + real protocol bytecode)")
    manifest = deploy.up(state_dir, progress=progress)
    report: dict[str, Any] = {"devnet_seconds": round(time.monotonic() - started, 2)}
    try:
        ctx = attach(manifest)
        rows = all_borrowers(ctx)
        report["borrowers"] = [r.as_dict() for r in rows]
        if not json_output:
            print(render_summary(manifest))
            print("\nSeeded borrowers\n" + _table(rows))
            print("\nThe engine runs LIVE on the devnet (its searcher account signs); "
                  "collateral prices now fall step by step.", flush=True)  # fmt: skip
        live = LiveReport(quiet=json_output)
        steps: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        options = EngineOptions(
            live=True, journal_path=state_dir / "journal.db", state_dir=state_dir,
            risk_config=repo_root() / "config" / "risk" / "devnet.toml", relay_urls=("devnet",),
        )  # fmt: skip
        backrun: dict[str, Any] = {}
        scenario = _scenario(ctx, steps, moves, json_output, backrun)
        running = asyncio.run(run_session(manifest, options, live, scenario))
        report |= {"executor": running.executor_address, "steps": steps,
                   "dislocations": moves, "backrun": backrun, **live.as_dict()}  # fmt: skip
        report["journal"] = str(state_dir / "journal.db")
        if not json_output:
            print("\nSummary\n" + live.summary_table())
    finally:
        pid = deploy.down(state_dir)
        report["stopped_pid"] = pid
        report["left_running"] = pid is not None and pid_alive(pid)
    if json_output:
        report["manifest"] = manifest
        print(json.dumps(report, indent=2, default=str))
    else:
        print(f"\ndevnet stopped (pid {pid}); nothing left running. "
              f"Journal: {report['journal']}")  # fmt: skip
    sys.stdout.flush()
    return 0
