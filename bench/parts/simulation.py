"""How long a simulation takes: a Uniswap V2 router swap on a pyrevm fork of the devnet.

cold: the first simulation on a new block's fork (header read, fork opened, every account and
slot read lazily over RPC). cold_after_warm: the same after `warm()` prefetched the accounts
and the pair's slots (token balance slots still load lazily). warm: the same simulation again
on that fork (memory only). warm_latest_block: warm plus the eth_blockNumber that `block=None`
costs. sequence_of_two: two dependent swaps, each in its own journal.
Target (issue #4): warm under 1 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tallyio.devnet import deploy
from tallyio.devnet import uniswap_v2 as v2
from tallyio.devnet.context import attach
from tallyio.devnet.deployer import load_artifact
from tallyio.sim import ForkSimulator, SimTx

TARGET_WARM_US = 1_000.0
COLD_ROUNDS = 15
WARM_ROUNDS = 2_000
USDC_IN = 1_000 * 10**6


def _swap(manifest: dict[str, Any]) -> tuple[SimTx, str, str]:
    """Fund and approve the trader on chain; the swap as a raw tx, its profit token, trader."""
    ctx = attach(manifest)
    trader = ctx.accounts["trader"]
    router = ctx.d.at(load_artifact(v2.ROUTER), manifest["uniswap_v2"][0]["router"])
    ctx.fund("USDC", trader, 10 * USDC_IN)
    ctx.approve("USDC", trader, router.address)
    path = [manifest["tokens"]["USDC"], manifest["tokens"]["WETH"]]
    fn = router.functions.swapExactTokensForTokens(USDC_IN, 0, path, trader, 2**64)
    data = bytes.fromhex(fn._encode_transaction_data()[2:])
    return SimTx(trader, router.address, data), manifest["tokens"]["WETH"], trader


def _us(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - started) / 1_000)
    return out


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_us": round(statistics.median(ordered), 1),
        "p90_us": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "min_us": round(ordered[0], 1),
    }


def _measure(manifest: dict[str, Any]) -> dict[str, Any]:
    tx, weth, trader = _swap(manifest)
    ctx = attach(manifest)
    sim = ForkSimulator(manifest["rpc_url"])
    cold = []
    for _ in range(COLD_ROUNDS):
        ctx.d.mine()  # a new block: the next simulation opens a new fork
        block = ctx.d.block_number()
        cold += _us(lambda b=block: sim.simulate(tx, weth, trader, block=b), 1)
    prefetched = []
    pair = manifest["uniswap_v2"][0]["pairs"][0]["address"]  # WETH/USDC
    accounts = [tx.to, pair, weth, manifest["tokens"]["USDC"], trader]
    for _ in range(COLD_ROUNDS):
        ctx.d.mine()
        block = ctx.d.block_number()
        sim.warm(accounts, {pair: range(6, 13)}, block=block)  # as a new block header arrives
        prefetched += _us(lambda b=block: sim.simulate(tx, weth, trader, block=b), 1)
    block = ctx.d.block_number()
    outcome = sim.simulate(tx, weth, trader, block=block)
    assert outcome.success and outcome.profit > 0, outcome
    warm = _us(lambda: sim.simulate(tx, weth, trader, block=block), WARM_ROUNDS)
    latest = _us(lambda: sim.simulate(tx, weth, trader), WARM_ROUNDS // 4)
    two = [tx, tx]
    sequence = _us(lambda: sim.simulate_sequence(two, weth, trader, block=block), WARM_ROUNDS // 4)
    warm_stats = _summary(warm)
    return {
        "swap_gas_used": outcome.gas_used,
        "cold": _summary(cold),
        "cold_after_warm": _summary(prefetched),
        "warm": warm_stats,
        "warm_latest_block": _summary(latest),
        "sequence_of_two": _summary(sequence),
        "target_warm_us": TARGET_WARM_US,
        "passed": warm_stats["median_us"] < TARGET_WARM_US,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        state = Path(tmp)
        manifest = deploy.up(state)
        try:
            return _measure(manifest)
        finally:
            deploy.down(state)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
