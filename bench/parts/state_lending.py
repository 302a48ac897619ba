"""Lending state hot paths: the float health sweep, events through MarketState, exact checks.

Figures:
  * sweep_ns_per_position_{10k,100k,1m}: `health.sweep` over n positions x 4 assets (float64
    whole-column multiply-adds and a division), best of several rounds; `passed` when 1M < 20 ns;
  * rescreen_us_1m_10k_rows: re-screening the 10,000 holders of an asset after its price moved
    (a book where most rows hold the asset falls back to the full sweep);
  * events_per_s: aToken Mint / BalanceTransfer and vToken Transfer logs through
    MarketState.apply (decode, handler, undo), one Block (+ clock log) per 200 logs;
  * exact_check_us: one account's exact Aave HF (calculateUserAccountData) from state, on a
    devnet snapshot; eth_call_us: getUserAccountData by eth_call on that devnet (sequential
    round trips); speedup = eth_call_us / exact_check_us.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tallyio.core.events import Block, Event, Log
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import lending_events as ev
from tallyio.protocols import venus
from tallyio.state.health import HealthBook, aave_account_data, sweep
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusMarket,
    VenusMarketRef,
    VenusRef,
    aave_inputs,
    lending_handlers,
    reserve_key,
)
from tallyio.state.prices import clock_log
from tallyio.state.store import MarketState

ROUNDS = 5
M = 4
TARGET_NS = 20.0
RAY = 10**27


def _best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t)
    return best


def _book(n: int) -> HealthBook:
    rng = np.random.default_rng(n)
    amounts = rng.uniform(0, 1e6, (n, 2 * M)) * (rng.random((n, 2 * M)) < 0.25)
    return HealthBook(
        [str(i) for i in range(n)] if n <= 100_000 else [""] * n,
        [f"a{j}" for j in range(M)],
        np.ascontiguousarray(amounts.T),
        rng.uniform(0.5, 0.9, M),
        rng.uniform(1.0, 1.1, M),
        rng.uniform(1, 100, M),
    )


def sweep_figures() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, n in (("10k", 10_000), ("100k", 100_000), ("1m", 1_000_000)):
        book = _book(n)
        ns = _best(partial(sweep, book, book.prices), 9)
        out[f"sweep_ns_per_position_{label}"] = round(ns / n, 2)
        if n == 1_000_000:
            rescreen = partial(book.rescreen, np.arange(0, n, 100))
            out["rescreen_us_1m_10k_rows"] = round(_best(rescreen) / 1_000, 1)
        del book
    out["passed"] = out["sweep_ns_per_position_1m"] < TARGET_NS
    return out


def _synthetic_logs(n: int) -> tuple[MarketState, list[Event]]:
    pool, asset, a, v, s = (f"0x{i:040x}" for i in (1, 2, 3, 4, 5))
    comp, vt = f"0x{6:040x}", f"0x{7:040x}"
    aref = AaveMarketRef(pool, (AaveReserveRef(asset, a, v, s),))
    vref = VenusRef(comp, (VenusMarketRef(vt, asset, 18, 2 * 10**26),))
    model = venus.JumpRateModel(0, 0, 0, 8 * 10**17)
    market = venus.MarketState(10**30, 0, 0, 0, 10**18, 0, 0, 2 * 10**26, model)
    reserve = aave.ReserveData(asset, 0, 18, 0, 8000, 8500, 10500, 1000, 0, RAY, 0, RAY, 0, 1)
    entries: dict[Any, Any] = {
        reserve_key("aave_v3", pool, asset): reserve,
        reserve_key("venus", comp, vt): VenusMarket(vt, market, 0, 0, 0),
    }
    state = MarketState(entries, lending_handlers([aref], [vref], []), block=0)
    users = ["0x" + f"{i + 1000:064x}" for i in range(2_000)]
    events: list[Event] = []
    for i in range(n):
        if i % 200 == 0:
            block = Block(1, 1 + i // 200, f"0x{i:064x}", "", 1_000 + i, None)
            events += [block, clock_log(block)]
        u, w = users[i % len(users)], users[(i * 7 + 1) % len(users)]
        bn = 1 + i // 200
        if i % 3 == 0:
            data = f"0x{10**18:064x}{0:064x}{RAY + i:064x}"
            events.append(Log(1, bn, "", "", i, a, (ev.SCALED_MINT, u, u), data))
        elif i % 3 == 1:
            events.append(Log(1, bn, "", "", i, vt, (ev.TRANSFER, "0x" + vt[2:].rjust(64, "0"), u),
                              f"0x{10**8:064x}"))  # fmt: skip
        else:
            data = f"0x{10**3:064x}{RAY:064x}"
            sender = users[(i - 2) % len(users)]  # minted two logs ago
            events.append(Log(1, bn, "", "", i, a, (ev.BALANCE_TRANSFER, sender, w), data))
    return state, events


def events_per_s(n: int = 30_000) -> float:
    best = float("inf")
    for _ in range(3):
        state, events = _synthetic_logs(n)
        t = time.perf_counter_ns()
        for e in events:
            state.apply(e)
        best = min(best, time.perf_counter_ns() - t)
    return round(n / best * 1e9)


async def _devnet_figures(tmp: Path) -> dict[str, Any]:
    from tallyio.chain import build_client
    from tallyio.devnet import deploy
    from tallyio.state.position_loader import (
        calldata,
        discover_accounts,
        load_snapshot,
        refs_from_manifest,
    )

    manifest = deploy.up(tmp, protocols=("aave_v3",))
    client = build_client(manifest["rpc_url"])
    try:
        aref = refs_from_manifest(manifest | {"venus": {"comptroller": "0x0", "markets": {},
                                                       "oracle": "0x0"}})[0]  # fmt: skip
        head = int(await client.request("eth_blockNumber"), 16)
        users = await discover_accounts(client, aref, 0, head)
        snap = await load_snapshot(client, block=head, aave_markets=[(aref, users)])
        ts = snap[("clock",)][1]
        reserves, emodes = aave_inputs(snap.get, aref)
        reps = 200

        def exact() -> None:
            for _ in range(reps):
                for u in users:
                    aave_account_data(reserves, emodes, snap.get, aref, u, ts)

        exact_us = _best(exact) / 1_000 / (reps * len(users))
        calls = [calldata("getUserAccountData(address)", u).hex() for u in users] * 20
        t = time.perf_counter_ns()
        for data in calls:
            await client.request("eth_call", [{"to": aref.pool, "data": "0x" + data}, hex(head)])
        call_us = (time.perf_counter_ns() - t) / 1_000 / len(calls)
    finally:
        await client.close()
        deploy.down(tmp)
    return {
        "accounts": len(users),
        "exact_check_us": round(exact_us, 2),
        "eth_call_us": round(call_us, 1),
        "speedup": round(call_us / exact_us, 1),
    }


def run() -> dict[str, Any]:
    figures = sweep_figures()
    figures["events_per_s"] = events_per_s()
    with tempfile.TemporaryDirectory(prefix="tallyio-bench-lending-") as tmp:
        figures |= asyncio.run(_devnet_figures(Path(tmp)))
    return figures
