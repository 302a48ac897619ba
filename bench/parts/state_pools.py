"""Pool state hot paths: logs through MarketState.apply, and the float pre-screen over all pools.

A synthetic market of 1,000 V2 pairs, 300 V3 pools (60 initialized ticks each) and 50 Balancer
weighted pools over 60 tokens. Logs are real event bytes (eth_abi-encoded), one Block event
per 200 logs as a node would deliver them. Figures (best of several rounds):
  * v2_sync_per_s / v3_swap_per_s / mixed_per_s: logs applied per second through
    MarketState.apply (decode + handler + undo record), best of several rounds;
  * mixed_with_columns_per_s: the same, each Delta also applied to PoolColumns;
  * v3_swap_us_300_ticks: one V3 Swap log on a pool with 300 initialized ticks (the ticks are
    not rebuilt on a swap, so this stays flat in the tick count);
  * prescreen_us: cross_venue_spreads over every row (venue pairs precomputed), candidates
    built; prescreen_numpy_us: its vectorised part alone (spread_edges); rows, pairs, hits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from eth_abi import encode

from tallyio.core.events import Block, Event, Log
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.events import V2_SYNC, V3_SWAP
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.columns import PoolColumns, cross_venue_spreads, spread_edges, venue_pairs
from tallyio.state.pools import balancer_vault_key, pool_handlers, pool_key
from tallyio.state.store import MarketState

ROUNDS = 7
LOGS = 20_000
PER_BLOCK = 200
N_V2, N_V3, N_BAL, N_TOKENS, TICKS = 1_000, 300, 50, 60, 60
VAULT = "0x" + "ba" * 20
SENDER = "0x" + encode(["address"], ["0x" + "ee" * 20]).hex()


def _address(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:038x}"


def _tokens(rng: random.Random) -> tuple[str, str]:
    a, b = sorted(rng.sample(range(N_TOKENS), 2))
    return _address(1, a), _address(1, b)


def _v3(address: str, tokens: tuple[str, str], ticks: int, tick: int = 0) -> V3Pool:
    nets = {t * 60: 10**15 if t < 0 else -(10**15) for t in range(-ticks // 2, ticks // 2 + 1) if t}
    sqrt_price = get_sqrt_ratio_at_tick(tick)
    return V3Pool(address, *tokens, 3000, 60, sqrt_price, tick, 10**18, nets)


def market(rng: random.Random) -> dict[Any, Any]:
    entries: dict[Any, Any] = {balancer_vault_key(VAULT): VAULT}
    for n in range(N_V2):
        reserve1 = int(10**21 * rng.uniform(0.995, 1.005))  # prices near 1: few candidates
        pool = V2Pool(_address(2, n), *_tokens(rng), 10**21, reserve1)
        entries[pool_key(pool.address)] = pool
    for n in range(N_V3):
        tick = rng.randint(-50, 50)
        entries[pool_key(_address(3, n))] = _v3(_address(3, n), _tokens(rng), TICKS, tick)
    for n in range(N_BAL):
        tokens = tuple(sorted(_address(1, t) for t in rng.sample(range(N_TOKENS), 3)))
        weighted = WeightedPool(
            _address(4, n) + "0001" + "00" * 10, _address(4, n), tokens,
            (2 * 10**21, 10**21, 10**21), (ONE // 2, ONE // 4, ONE // 4), (ONE,) * 3, 10**15,
        )  # fmt: skip
        entries[pool_key(weighted.address)] = weighted
    return entries


def _sync(rng: random.Random, block: int, index: int) -> Log:
    data = encode(["uint112", "uint112"], [rng.randrange(10**20, 10**22)] * 2)
    address = _address(2, rng.randrange(N_V2))
    return Log(1, block, f"0x{block:064x}", "0x", index, address, (V2_SYNC,), "0x" + data.hex())


def _swap(rng: random.Random, block: int, index: int, pools: int = N_V3) -> Log:
    tick = rng.randrange(-1_700, 1_700)
    values = [10**18, -(10**18), get_sqrt_ratio_at_tick(tick), 10**18, tick]
    data = encode(["int256", "int256", "uint160", "uint128", "int24"], values)
    topics = (V3_SWAP, SENDER, SENDER)
    address = _address(3, rng.randrange(pools))
    return Log(1, block, f"0x{block:064x}", "0x", index, address, topics, "0x" + data.hex())


def stream(make: Callable[[random.Random, int, int], Log], rng: random.Random) -> list[Event]:
    events: list[Event] = []
    for k in range(LOGS):
        block = 2 + k // PER_BLOCK
        if k % PER_BLOCK == 0:
            events.append(Block(1, block, f"0x{block:064x}", "", 0, None))
        events.append(make(rng, block, k % PER_BLOCK))
    return events


def _per_second(entries: dict[Any, Any], events: list[Event], columns: bool = False) -> int:
    best = float("inf")
    for _ in range(ROUNDS):
        state = MarketState(entries, pool_handlers(), block=1)
        cols = PoolColumns.from_entries(entries) if columns else None
        started = time.perf_counter()
        for event in events:
            deltas = state.apply(event)
            if cols is not None:
                cols.apply(deltas)
        best = min(best, time.perf_counter() - started)
    return round(LOGS / best)


def _best_us(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        best = min(best, time.perf_counter() - started)
    return round(best / repeat * 1e6, 2)


def run() -> dict[str, Any]:
    rng = random.Random(7)
    entries = market(rng)
    syncs, swaps = stream(_sync, rng), stream(_swap, rng)
    mixed = stream(lambda r, b, i: (_sync if r.random() < 0.5 else _swap)(r, b, i), rng)
    big: dict[Any, Any] = {
        pool_key(_address(3, 0)): _v3(_address(3, 0), (_address(1, 0), _address(1, 1)), 300)
    }
    big_state = MarketState(big, pool_handlers(), block=1)
    big_swap = _swap(rng, 1, 0, pools=1)
    columns = PoolColumns.from_entries(entries)
    pairs = venue_pairs(columns)
    return {
        "v2_sync_per_s": _per_second(entries, syncs),
        "v3_swap_per_s": _per_second(entries, swaps),
        "mixed_per_s": _per_second(entries, mixed),
        "mixed_with_columns_per_s": _per_second(entries, mixed, columns=True),
        "v3_swap_us_300_ticks": _best_us(lambda: big_state.apply(big_swap), 2_000),
        "prescreen_us": _best_us(lambda: cross_venue_spreads(columns, pairs), 200),
        "prescreen_numpy_us": _best_us(lambda: spread_edges(columns, pairs), 200),
        "prescreen_rows": len(columns),
        "prescreen_pairs": int(pairs[0].size),
        "prescreen_candidates": len(cross_venue_spreads(columns, pairs)),
        "venue_pairs_ms": round(_best_us(lambda: venue_pairs(columns), 5) / 1_000, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
