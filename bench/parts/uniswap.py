"""How fast exact Uniswap quotes are in pure Python ints, and the same quotes by eth_call.

Local figures: the best of several timed rounds. V2 is nanoseconds per getAmountOut (the
library function, and V2Pool.amount_out with its token lookup); V3 is microseconds per
V3Pool.amount_out on a synthetic pool, sized to cross exactly 0, 1 and 5 initialized ticks,
for the readable model and for the native fast path beside it (uniswap_v3_fast.amount_out,
checked equal here).
Baseline: a devnet started here, the median of single eth_calls to UniswapV2Router02
.getAmountsOut and QuoterV2.quoteExactInputSingle over loopback JSON-RPC, for quotes that the
local model answers identically (checked: a mismatch raises).

Targets (issue #3): V2 quote < 1 us; V3 quote crossing one initialized tick < 50 us;
local >= 1000x faster than eth_call (V3: the fast path; the readable model's ratio is kept).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from eth_abi import decode, encode
from eth_utils import keccak

from tallyio.devnet import deploy
from tallyio.protocols import uniswap_v3_fast
from tallyio.protocols.uniswap_v2 import V2Pool, get_amount_out
from tallyio.protocols.uniswap_v3 import V3Pool, swap
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick

ROUNDS = 5
V2_CALLS = 200_000
V3_CALLS = 2_000
V3_FAST_CALLS = 50_000
ETH_CALLS = 200
TARGET_V2_NS = 1_000
TARGET_V3_1_TICK_US = 50
TARGET_SPEEDUP = 1_000

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
E18 = 10**18


def _best_ns(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - started) / calls)
    return best


# -- local ----------------------------------------------------------------------------------
def _v2_local() -> dict[str, float]:
    amount, r_in, r_out = 3 * E18, 1_000 * E18, 2_000_000 * 10**6  # WETH into WETH/USDC
    pool = V2Pool("0xpair", A, B, r_in, r_out)
    return {
        "v2_get_amount_out_ns": round(
            _best_ns(lambda: get_amount_out(amount, r_in, r_out, 30), V2_CALLS)
        ),
        "v2_pool_amount_out_ns": round(_best_ns(lambda: pool.amount_out(A, amount), V2_CALLS)),
    }


def synthetic_v3_pool() -> V3Pool:
    """0.05% pool (spacing 10) at tick 5: a full-range position plus nested ranges whose
    lower ticks sit at -60, -120, ... -600, all inside one bitmap word below the price."""
    ticks = {-887270: E18, 887270: -E18}
    for k in range(1, 11):
        ticks[-60 * k] = ticks.get(-60 * k, 0) + E18 // 2
        ticks[60 * k] = ticks.get(60 * k, 0) - E18 // 2
    liquidity = E18 + 10 * E18 // 2
    return V3Pool("0xpool", A, B, 500, 10, get_sqrt_ratio_at_tick(5) + 12345, 5, liquidity, ticks)


def amount_to_reach(pool: V3Pool, tick: int) -> int:
    """The token0 input that moves the price down to `tick` (so crosses what lies above it)."""
    result = swap(pool, True, 2**200, get_sqrt_ratio_at_tick(tick))
    return result.amount0


def _quote(pool: V3Pool, amount: int) -> Callable[[], int]:
    return lambda: pool.amount_out(pool.token0, amount)


def _fast_quote(pool: V3Pool, amount: int) -> Callable[[], int]:
    quote, token = uniswap_v3_fast.amount_out, pool.token0
    if quote(pool, token, amount) != pool.amount_out(token, amount):
        raise AssertionError(f"fast path disagrees on {amount} into {pool}")
    return lambda: quote(pool, token, amount)


def _v3_local() -> dict[str, float]:
    pool = synthetic_v3_pool()
    out = {}
    for crossed, stop in ((0, -30), (1, -90), (5, -330)):
        amount = amount_to_reach(pool, stop)
        assert swap(pool, True, amount, 4295128740).ticks_crossed == crossed
        us = _best_ns(_quote(pool, amount), V3_CALLS) / 1_000
        out[f"v3_quote_{crossed}_ticks_us"] = round(us, 2)
        fast_us = _best_ns(_fast_quote(pool, amount), V3_FAST_CALLS) / 1_000
        out[f"v3_fast_quote_{crossed}_ticks_us"] = round(fast_us, 3)
    return out


# -- eth_call baseline on a devnet ----------------------------------------------------------
def _calldata(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()


class _Rpc:
    def __init__(self, url: str) -> None:
        self.url, self.session = url, requests.Session()

    def call(self, to: str, data: str) -> bytes:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                "params": [{"to": to, "data": data}, "latest"]}  # fmt: skip
        return bytes.fromhex(
            self.session.post(self.url, json=body, timeout=30).json()["result"][2:]
        )

    def median_us(self, to: str, data: str) -> float:
        times = []
        for _ in range(ETH_CALLS):
            started = time.perf_counter_ns()
            self.call(to, data)
            times.append(time.perf_counter_ns() - started)
        return statistics.median(times) / 1_000


def _devnet_v3_pool(rpc: _Rpc, entry: dict[str, Any]) -> V3Pool:
    """A seeded devnet pool: slot0 and liquidity read, ticks from the manifest's positions."""
    slot0 = rpc.call(entry["address"], _calldata("slot0()", [], []))
    sqrt_price, tick = decode(["uint160", "int24"], slot0[:64])
    (liquidity,) = decode(["uint128"], rpc.call(entry["address"], _calldata("liquidity()", [], [])))
    ticks: dict[int, int] = {}
    for p in entry["positions"]:
        ticks[p["tick_lower"]] = ticks.get(p["tick_lower"], 0) + p["liquidity"]
        ticks[p["tick_upper"]] = ticks.get(p["tick_upper"], 0) - p["liquidity"]
    return V3Pool(entry["address"], entry["token0"], entry["token1"], entry["fee"],
                  entry["tick_spacing"], sqrt_price, tick, liquidity, ticks)  # fmt: skip


def _v3_versus_eth_call(rpc: _Rpc, manifest: dict[str, Any]) -> dict[str, float]:
    entry = next(p for p in manifest["uniswap_v3"]["pools"] if p["fee"] == 3000)
    pool = _devnet_v3_pool(rpc, entry)
    below = sorted(t for t in pool.initialized if t <= pool.tick)
    amount = amount_to_reach(pool, (below[-1] + below[-2]) // 2)  # cross exactly one tick
    local = pool.amount_out(pool.token0, amount)
    data = _calldata("quoteExactInputSingle((address,address,uint256,uint24,uint160))",
                     ["(address,address,uint256,uint24,uint160)"],
                     [(pool.token0, pool.token1, amount, pool.fee, 0)])  # fmt: skip
    quoter = manifest["uniswap_v3"]["quoter"]
    quoted, _price, crossed, _gas = decode(
        ["uint256", "uint160", "uint32", "uint256"], rpc.call(quoter, data)
    )
    if quoted != local or crossed != 1:
        raise AssertionError(f"QuoterV2 says {quoted} ({crossed} ticks), the model {local}")
    local_us = _best_ns(_quote(pool, amount), V3_CALLS) / 1_000
    fast_us = _best_ns(_fast_quote(pool, amount), V3_FAST_CALLS) / 1_000
    return {
        "v3_devnet_pool_1_tick_local_us": round(local_us, 2),
        "v3_devnet_pool_1_tick_fast_us": round(fast_us, 3),
        "v3_quoter_eth_call_us": round(rpc.median_us(quoter, data), 1),
    }


def _v2_versus_eth_call(rpc: _Rpc, manifest: dict[str, Any]) -> dict[str, float]:
    venue = manifest["uniswap_v2"][0]
    pair = venue["pairs"][0]
    raw = rpc.call(pair["address"], _calldata("getReserves()", [], []))
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], raw)
    amount = r0 // 1_000
    data = _calldata("getAmountsOut(uint256,address[])", ["uint256", "address[]"],
                     [amount, [pair["token0"], pair["token1"]]])  # fmt: skip
    (amounts,) = decode(["uint256[]"], rpc.call(venue["router"], data))
    if amounts[-1] != get_amount_out(amount, r0, r1, venue["fee_bps"]):
        raise AssertionError(f"router says {amounts[-1]}, the model disagrees")
    return {"v2_router_eth_call_us": round(rpc.median_us(venue["router"], data), 1)}


def _versus_eth_call() -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="bench-uniswap-"))
    manifest = deploy.up(state)
    try:
        rpc = _Rpc(manifest["rpc_url"])
        return _v2_versus_eth_call(rpc, manifest) | _v3_versus_eth_call(rpc, manifest)
    finally:
        deploy.down(state)


def run() -> dict[str, Any]:
    figures: dict[str, Any] = _v2_local() | _v3_local() | _versus_eth_call()
    v2_speedup = figures["v2_router_eth_call_us"] * 1_000 / figures["v2_get_amount_out_ns"]
    readable = figures["v3_quoter_eth_call_us"] / figures["v3_devnet_pool_1_tick_local_us"]
    v3_speedup = figures["v3_quoter_eth_call_us"] / figures["v3_devnet_pool_1_tick_fast_us"]
    figures["v2_speedup_vs_eth_call"] = round(v2_speedup)
    figures["v3_speedup_vs_eth_call"] = round(readable, 1)  # the readable model
    figures["v3_fast_speedup_vs_eth_call"] = round(v3_speedup)
    figures["targets"] = {
        "v2_quote_ns": TARGET_V2_NS,
        "v3_quote_1_tick_us": TARGET_V3_1_TICK_US,
        "speedup_vs_eth_call": TARGET_SPEEDUP,
    }
    figures["met"] = {
        "v2_quote": figures["v2_get_amount_out_ns"] < TARGET_V2_NS,
        "v3_quote_1_tick": figures["v3_quote_1_ticks_us"] < TARGET_V3_1_TICK_US,
        "v2_speedup": v2_speedup >= TARGET_SPEEDUP,
        "v3_fast_speedup": v3_speedup >= TARGET_SPEEDUP,
    }
    figures["passed"] = all(figures["met"].values())
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
