"""Arbitrage hot path: one pool event to a signed transaction, against a naive cycle search.

Synthetic markets of 100, 1,000 and 10,000 Uniswap V2 pools over 40, 200 and 500 tokens, four
of them hubs a flash loan can lend (a WETH-like one at 2,000 units per ETH-unit...). Every
other token trades against one to three hubs on one to four venues, and the rest of the pools
join random pairs of long-tail tokens; reserves are 1e20-1e24 base units at prices drawn
once per token, each pool within +-0.2% of them (so few cycles pay until an event moves one).

Per event (a V2 Sync log moving one pool's price by 0.5-3%), timed from the log to the signed
bytes: MarketState.apply -> ArbitrageStrategy.process (graph update, float screen of the
cycles through the pool, exact sizing of the survivors) -> the best Opportunity's Plan ->
fast_encode_plan -> Signer.sign_eip1559. The pool is restored (untimed) before the next.

The naive baseline re-evaluates every cycle in the index from scratch with exact ints (the
same closed-form sizing, no index, no screen) per event; at 10,000 pools that is millions of
cycles, so its per-cycle cost is measured on a random sample and multiplied by the cycle
count (`naive_sampled`), as stated in the figures.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from eth_abi import encode

from tallyio.core.events import Log
from tallyio.core.opportunity import BlockContext
from tallyio.execution.calldata import fast_encode_plan
from tallyio.execution.signer import SecretKey, Signer
from tallyio.protocols.events import V2_SYNC
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_handlers, pool_key
from tallyio.state.store import MarketState
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy

SIZES = ((100, 40), (1_000, 200), (10_000, 500))  # (pools, tokens)
EVENTS = 300
NAIVE_SAMPLE = 2_000
HUBS = 4
MAX_HOPS = 3  # see the module docstring: 4-hop indexes of these markets are too large
TARGET_P50_MS_AT_1000 = 1.0
TARGET_SPEEDUP_AT_10000 = 20.0
KEY = 0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318
E18 = 10**18


def _address(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:038x}"


def market(n_pools: int, n_tokens: int, rng: random.Random) -> dict[Any, Any]:
    tokens = [_address(1, k) for k in range(n_tokens)]
    price = {t: 10 ** rng.uniform(-2, 2) for t in tokens}  # units of token per hub-0 unit
    price[tokens[0]] = 1.0
    pairs: list[tuple[str, str]] = []  # (hub or token, token)
    for t in tokens[HUBS:]:
        for hub in rng.sample(tokens[:HUBS], rng.choice((1, 1, 2, 3))):
            pairs += [(hub, t)] * rng.randint(1, 4)
    for i in range(HUBS):
        for j in range(i + 1, HUBS):
            pairs += [(tokens[i], tokens[j])] * 3
    while len(pairs) < n_pools:
        a, b = rng.sample(tokens[HUBS:], 2)
        pairs.append((a, b))
    rng.shuffle(pairs)
    entries: dict[Any, Any] = {}
    for n, (a, b) in enumerate(pairs[:n_pools]):
        t0, t1 = sorted((a, b))
        depth = 10 ** rng.uniform(20, 24)
        mid = price[t1] / price[t0] * rng.uniform(0.998, 1.002)
        pool = V2Pool(_address(2, n), t0, t1, int(depth), int(depth * mid))
        entries[pool_key(pool.address)] = pool
    return entries


def _sync(pool: V2Pool, reserve0: int, reserve1: int, block: int) -> Log:
    data = "0x" + encode(["uint112", "uint112"], [reserve0, reserve1]).hex()
    return Log(1, block, "0x01", "0x02", 0, pool.address, (V2_SYNC,), data)


def _block(number: int, tokens: list[str]) -> BlockContext:
    prices = dict.fromkeys(tokens[:HUBS], E18)
    return BlockContext(1, number, 0, 10 * 10**9, 10**9, prices)


def _config(vault: str) -> ArbitrageConfig:
    hubs = frozenset(_address(1, k) for k in range(HUBS))
    return ArbitrageConfig(aave_pool=vault, aave_tokens=hubs, v3_flash=False,
                           max_notional_wei=10**6 * E18, max_hops=MAX_HOPS)  # fmt: skip


def _one_size(n_pools: int, n_tokens: int, rng: random.Random) -> dict[str, Any]:
    entries = market(n_pools, n_tokens, rng)
    state = MarketState(entries, pool_handlers(), block=1)
    built = time.perf_counter()
    strategy = ArbitrageStrategy(_config(_address(3, 1)), PoolGraph.from_entries(state.items()))
    build_s = time.perf_counter() - built
    tokens = [_address(1, k) for k in range(n_tokens)]
    signer = Signer(SecretKey(KEY.to_bytes(32, "big")))
    pools = [v for v in entries.values() if strategy.index.through(v.address).size]
    latencies, sent, sized, block = [], 0, 0, 1
    for _ in range(EVENTS):
        pool = rng.choice(pools)
        move = 1 + rng.choice((-1, 1)) * rng.uniform(0.005, 0.03)
        block += 1
        log = _sync(pool, pool.reserve0, int(pool.reserve1 * move), block)
        ctx = _block(block, tokens)
        start = time.perf_counter()
        found = strategy.process(state.apply(log), state.view, ctx)
        if found:
            calldata = fast_encode_plan(found[0].plan)
            signer.sign_eip1559(chain_id=1, nonce=block, max_priority_fee_per_gas=10**9,
                                max_fee_per_gas=30 * 10**9, gas=found[0].gas_estimate * 2,
                                to=_address(4, 1), data=calldata)  # fmt: skip
        latencies.append(time.perf_counter() - start)
        sent += bool(found)
        sized += min(len(strategy.index.screen([pool.address])), strategy.config.max_candidates)
        block += 1  # put the pool back, untimed
        strategy.process(state.apply(_sync(pool, pool.reserve0, pool.reserve1, block)),
                         state.view, _block(block, tokens))  # fmt: skip
    naive = _naive(strategy, _block(block, tokens), rng)
    latencies.sort()
    p50 = statistics.median(latencies)
    screened = sum(len(strategy.index.through(p.address)) for p in pools) / len(pools)
    return {
        "pools": n_pools,
        "tokens": n_tokens,
        "cycles": len(strategy.index.cycles),
        "index_build_s": round(build_s, 3),
        "events": EVENTS,
        "events_with_tx": sent,
        "event_to_signed_tx_p50_ms": round(p50 * 1e3, 4),
        "event_to_signed_tx_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 4),
        "cycles_through_a_pool_mean": round(screened, 1),
        "cycles_screened_per_s": round(screened * EVENTS / sum(latencies)),
        "cycles_sized_exactly_per_event": round(sized / EVENTS, 2),
        **naive,
        "speedup_vs_naive_p50": round(naive["naive_event_ms"] / (p50 * 1e3), 1),
    }


def _naive(strategy: ArbitrageStrategy, ctx: BlockContext, rng: random.Random) -> dict[str, Any]:
    """Every cycle sized from scratch with exact ints (the strategy's own per-cycle path)."""
    cycles = strategy.index.cycles
    sample = cycles if len(cycles) <= NAIVE_SAMPLE else rng.sample(cycles, NAIVE_SAMPLE)
    start = time.perf_counter()
    for cycle in sample:
        strategy.opportunity(cycle, ctx)
    per_cycle = (time.perf_counter() - start) / len(sample)
    return {
        "naive_sampled": len(sample) < len(cycles),
        "naive_cycles_evaluated_per_s": round(1 / per_cycle),
        "naive_event_ms": round(per_cycle * len(cycles) * 1e3, 3),
    }


def run() -> dict[str, Any]:
    rng = random.Random(6)
    sizes = [_one_size(n, t, rng) for n, t in SIZES]
    at = {s["pools"]: s for s in sizes}
    p50_ok = at[1_000]["event_to_signed_tx_p50_ms"] < TARGET_P50_MS_AT_1000
    speed_ok = at[10_000]["speedup_vs_naive_p50"] >= TARGET_SPEEDUP_AT_10000
    return {
        "sizes": sizes,
        "target_p50_ms_at_1000": TARGET_P50_MS_AT_1000,
        "p50_target_met": p50_ok,
        "target_speedup_at_10000": TARGET_SPEEDUP_AT_10000,
        "speedup_target_met": speed_ok,
        "passed": p50_ok and speed_ok,
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
