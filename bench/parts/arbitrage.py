"""Issue #6: from a real pool event to the signed arbitrage transaction, against a naive search.

On a real devnet, a trader's swap moves WETH `DISLOCATION_PCT`% up on the Uniswap V2 WETH/USDC
pair in one mined block. The engine is built as the devnet runner builds its arbitrage (state
snapshot from the chain, `PricedArbitrage` over the pool graph, the executor pipeline) with
100, 1,000 or 10,000 synthetic tail pools (arbitrage_market.py) in state and graph beside the
devnet's real pools. Each sample feeds the engine that block as the node collector delivers it
(Block, the Transfer/Sync/Swap logs, BlockEnd) and times from the first Log's `handle` to the
first signed transaction's bytes:

    state.apply -> strategy (graph update, float screen of the cycles through the moved pool,
    best-first exact sizing to the bound, plans) -> risk -> Approved -> pipeline: simulation on the
    warm pyrevm fork (ForkSimulator, the simulator the runner plugs in), fees from the
    engine's head -> nonce -> sign

The pipeline is the liquidation bench's SigningExecutor: it signs and sends nothing. Between
samples the state is rewound to the block before (a Reorg through the store) and the strategy
re-reads the pools, as after a reorg, with nothing left pending from the block before.

The naive baseline, in the same run on the same graph and block: every cycle of the index sized
from scratch with exact ints (the strategy's own per-cycle path, no index, no screen). Above
`NAIVE_SAMPLE` cycles its per-cycle cost is measured on a random sample and multiplied by the
cycle count (`naive_sampled`). The 20x target compares searches (the engine's strategy stage
against the naive search); the event-to-signed ratio is given beside it.

Hops: 4 (the strategy's default) at 100 and 1,000 pools. At 10,000 pools the 4-hop index of
this market has millions of cycles (counted and timed in the run, `four_hop`), so that size
runs with 3 hops.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.parts.arbitrage_market import tail_market, tail_tokens
from bench.parts.liquidation import (
    Recorder,
    SigningExecutor,
    first_signed,
    percentile,
    signing_submit,
)
from tallyio.app.arbitrage import PricedArbitrage, arbitrage_config
from tallyio.app.devnet_market import DevnetMarket
from tallyio.app.runner import deploy_executor, freeze_heap
from tallyio.app.strategies import MIN_PROFIT_BPS
from tallyio.chain import ChainClient, build_client
from tallyio.chain.reorg import block_from_rpc
from tallyio.collectors.node import log_from_rpc
from tallyio.core.engine import Engine
from tallyio.core.events import Block, Log, Reorg
from tallyio.core.opportunity import BlockContext
from tallyio.devnet import deploy
from tallyio.devnet.context import attach
from tallyio.devnet.scenarios import dislocate
from tallyio.sim import ForkSimulator
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_handlers
from tallyio.state.positions import lending_handlers, merge_handlers
from tallyio.state.store import MarketState
from tallyio.strategies.arbitrage import ArbitrageStrategy
from tallyio.strategies.cycles import enumerate_cycles

SIZES = ((100, 4), (1_000, 4), (10_000, 3))  # (synthetic pools, max hops)
SAMPLES = 100
WARMUP = 5
NAIVE_SAMPLE = 2_000
DISLOCATION_PCT = 3.0
TARGET_P50_MS_AT_1000 = 1.0
TARGET_SPEEDUP_AT_10000 = 20.0
STAGES = ("state", "strategy", "risk", "plan", "simulate", "fees", "sign")


def _handlers(market: DevnetMarket) -> Any:
    lending = lending_handlers([market.aave], [market.venus], market.targets)
    return merge_handlers(pool_handlers(), lending)


async def _engine(
    manifest: dict[str, Any], client: ChainClient, before: Block, extra: int, hops: int,
    rec: Recorder,
) -> tuple[Engine, SigningExecutor, PricedArbitrage, float]:  # fmt: skip
    """The runner's arbitrage engine over the devnet's pools and `extra` synthetic ones."""
    market = DevnetMarket.from_manifest(manifest)
    loaded = await market.load_state(client, before)
    synthetic = tail_market(extra, market.eth_prices(loaded.view), random.Random(extra))
    state = MarketState({**dict(loaded.items()), **synthetic}, _handlers(market),
                        block=before.number, block_hash=before.hash)  # fmt: skip
    built = time.perf_counter()
    config = replace(arbitrage_config(market, MIN_PROFIT_BPS), max_hops=hops)
    strategy = PricedArbitrage(ArbitrageStrategy(config, PoolGraph.from_entries(state.items())),
                               market)  # fmt: skip
    build_s = time.perf_counter() - built
    sim = ForkSimulator(manifest["rpc_url"])
    pipeline, submit = signing_submit(manifest, client, market.chain_id, sim, rec)
    engine = Engine(state, [strategy], submit, market.context(10**9), metrics=rec)
    freeze_heap()  # as the runner does once the engine is built
    return engine, pipeline, strategy, build_s


async def _event(
    manifest: dict[str, Any], client: ChainClient
) -> tuple[str, Block, Block, list[Log]]:
    """The dislocated pair, the block before the swap, and the swap's block with its logs."""
    chain_id = int(manifest["chain_id"])
    pair = manifest["uniswap_v2"][0]["pairs"][0]["address"]  # WETH/USDC on uniswap_v2
    await asyncio.to_thread(dislocate, attach(manifest), pair, DISLOCATION_PCT)
    block = block_from_rpc(chain_id, await client.request("eth_getBlockByNumber",
                                                          ["latest", False]))  # fmt: skip
    raw = await client.request("eth_getBlockByNumber", [hex(block.number - 1), False])
    logs = await client.request("eth_getLogs", [{"blockHash": block.hash}])
    events = sorted((log_from_rpc(chain_id, r) for r in logs), key=lambda e: e.log_index)
    return pair.lower(), block_from_rpc(chain_id, raw), block, events


def _rewind(engine: Engine, strategy: PricedArbitrage, before: Block, block: Block) -> None:
    """Back to the block before, as a reorg leaves it; nothing carried from that block (the
    bench's first block searched every cycle, as the runner's does, outside the samples)."""
    engine.state.apply(Reorg(block.chain_id, before.number, (block.hash,)))
    strategy.sync(engine.state.view)
    strategy._whole, strategy._carry = False, set()


def _ms(seconds: float) -> float:
    return round(seconds * 1_000, 4)


def _naive(inner: ArbitrageStrategy, ctx: BlockContext, rng: random.Random) -> dict[str, Any]:
    """Every cycle sized from scratch with exact ints (the strategy's own per-cycle path)."""
    cycles = inner.index.cycles
    sample = cycles if len(cycles) <= NAIVE_SAMPLE else rng.sample(cycles, NAIVE_SAMPLE)
    start = time.perf_counter()
    for cycle in sample:
        inner.opportunity(cycle, ctx)
    per_cycle = (time.perf_counter() - start) / len(sample)
    return {
        "naive_sampled": len(sample) < len(cycles),
        "naive_cycles_evaluated_per_s": round(1 / per_cycle),
        "naive_search_ms": round(per_cycle * len(cycles) * 1e3, 3),
    }


def _four_hop(graph: PoolGraph, lendable: frozenset[str]) -> dict[str, Any]:
    """The 4-hop index this graph would need: cycles counted (not kept), enumeration timed."""
    start = time.perf_counter()
    count = sum(1 for _ in enumerate_cycles(graph, lendable, 4))
    return {"cycles": count, "enumerate_s": round(time.perf_counter() - start, 1)}


async def _measure_size(
    manifest: dict[str, Any], client: ChainClient, event: tuple[str, Block, Block, list[Log]],
    n: int, hops: int,
) -> dict[str, Any]:  # fmt: skip
    pair, before, block, logs = event
    rec = Recorder()
    engine, pipeline, strategy, build_s = await _engine(manifest, client, before, n, hops, rec)
    inner = strategy.inner
    latencies: list[float] = []
    stages: dict[str, list[float]] = defaultdict(list)
    missed = 0
    for i in range(WARMUP + SAMPLES):
        rec.take()
        latency = await first_signed(engine, pipeline, block, logs)
        taken = rec.take()
        if i == 0:
            screened = len(inner.index.screen([pair]))
            naive = _naive(inner, engine.block, random.Random(n))  # type: ignore[arg-type]
        _rewind(engine, strategy, before, block)
        if i < WARMUP:
            continue
        if latency is None:
            missed += 1
            continue
        latencies.append(latency)
        for stage in STAGES:
            stages[stage].append(taken.get(stage, 0.0))
        stages["fees"][-1] = taken.get("prepare", 0.0) - taken.get("simulate", 0.0)
    p50 = {k: statistics.median(v) for k, v in stages.items()}
    e2e = percentile(latencies, 0.5) if latencies else float("nan")
    through = len(inner.index.through(pair))
    out = {
        "synthetic_pools": n,
        "pools": len(inner.graph.pools),
        "tail_tokens": tail_tokens(inner.graph.tokens),
        "max_hops": hops,
        "cycles": len(inner.index.cycles),
        "index_build_s": round(build_s, 3),
        "samples": len(latencies),
        "missed": missed,
        "opportunities_per_event": engine.stats.opportunities // (WARMUP + SAMPLES),
        "event_to_signed_tx_p50_ms": _ms(e2e),
        "event_to_signed_tx_p99_ms": _ms(percentile(latencies, 0.99)) if latencies else None,
        "stages_p50_ms": {k: _ms(v) for k, v in p50.items()},
        "cycles_through_event_pool": through,
        "cycles_screened_per_s": round(through / p50["strategy"]),
        "cycles_passing_screen_per_event": screened,
        "sizing_candidates_per_event": min(screened, inner.config.max_candidates),
        **naive,
        "speedup_vs_naive_search": round(naive["naive_search_ms"] / (p50["strategy"] * 1e3), 1),
        "speedup_vs_naive_event_to_signed": round(
            (naive["naive_search_ms"] + (e2e - p50["strategy"]) * 1e3) / (e2e * 1e3), 1
        ),
    }
    if hops < 4:
        out["four_hop"] = _four_hop(inner.graph, inner.index.lendable)
    return out


async def _measure(manifest: dict[str, Any], sizes: Sequence[tuple[int, int]]) -> dict[str, Any]:
    await asyncio.to_thread(deploy_executor, manifest)
    client = build_client(manifest["rpc_url"])
    try:
        event = await _event(manifest, client)
        by_size = [await _measure_size(manifest, client, event, n, h) for n, h in sizes]
    finally:
        await client.close()
    at = {s["synthetic_pools"]: s for s in by_size}
    p50 = at.get(1_000, {}).get("event_to_signed_tx_p50_ms")
    speedup = at.get(10_000, {}).get("speedup_vs_naive_search")
    p50_ok = p50 is not None and p50 < TARGET_P50_MS_AT_1000
    speed_ok = speedup is not None and speedup >= TARGET_SPEEDUP_AT_10000
    return {
        "what": "a real pool's Sync/Swap logs handled -> first signed arbitrage tx (ms), with "
        "synthetic tail pools beside the devnet's real ones",
        "event": f"WETH +{DISLOCATION_PCT}% on the uniswap_v2 WETH/USDC pair, one mined swap",
        "simulator": "ForkSimulator (pyrevm fork of the event's block, warm), as the runner's",
        "stages": "per event, summed over every plan it produced; strategy is the search "
        "(graph update, screen, exact sizing, plans); fees is the pipeline's quote from the "
        "engine's head",
        "sizes": by_size,
        "target_p50_ms_at_1000": TARGET_P50_MS_AT_1000,
        "p50_target_met": p50_ok,
        "target_speedup_at_10000": TARGET_SPEEDUP_AT_10000,
        "speedup_target_met": speed_ok,
        "passed": p50_ok and speed_ok,
    }


def run(sizes: Sequence[tuple[int, int]] = SIZES) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-arb-") as tmp:
        state = Path(tmp)
        manifest = deploy.up(state)
        try:
            return asyncio.run(_measure(manifest, sizes))
        finally:
            deploy.down(state)


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    chosen = tuple((int(a), 4) for a in sys.argv[1:]) or SIZES
    print(json.dumps(run(chosen), indent=2))
