"""Scenarios that move a running devnet's market on purpose, for tests and the demo.

Each is a function over a DeployContext (see `context.attach(manifest)`); randomness only
through an explicit seed, so a scenario replays identically.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import Deployer, DeployError, load_artifact

V2_PAIR = "@uniswap/v2-core/build/UniswapV2Pair.json"
V2_ROUTER = "@uniswap/v2-periphery/build/UniswapV2Router02.json"
V3_POOL = "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"
V3_ROUTER = "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json"
BPS = 10_000
MAX_UINT = 2**256 - 1


@dataclass(frozen=True, slots=True)
class PoolRef:
    kind: str  # "uniswap_v2" | "uniswap_v3"
    address: str
    symbol0: str
    symbol1: str
    router: str
    fee: int  # V3 fee in hundredths of a bip; 0 for V2


def pct_to_bps(pct: float) -> int:
    bps = round(pct * 100)
    if bps <= -BPS:
        raise ValueError(f"a move of {pct}% would take the price to zero or below")
    return bps


def find_pool(manifest: dict[str, Any], address: str) -> PoolRef:
    """Look a V2 pair or V3 pool up in the manifest by address."""
    wanted = address.lower()
    for venue in manifest.get("uniswap_v2", []):
        for p in venue["pairs"]:
            if p["address"].lower() == wanted:
                return PoolRef(
                    "uniswap_v2", p["address"], p["symbol0"], p["symbol1"], venue["router"], 0
                )
    v3 = manifest.get("uniswap_v3", {})
    for p in v3.get("pools", []):
        if p["address"].lower() == wanted:
            return PoolRef(
                "uniswap_v3", p["address"], p["symbol0"], p["symbol1"], v3["router"], p["fee"]
            )
    raise DeployError(f"pool {address} is not a Uniswap V2 pair or V3 pool of this devnet")


def all_pools(manifest: dict[str, Any]) -> list[PoolRef]:
    addresses = [p["address"] for v in manifest.get("uniswap_v2", []) for p in v["pairs"]]
    addresses += [p["address"] for p in manifest.get("uniswap_v3", {}).get("pools", [])]
    return [find_pool(manifest, a) for a in addresses]


# -- prices ---------------------------------------------------------------------------------
def price_shock(ctx: DeployContext, symbol: str, pct: float) -> tuple[int, int]:
    """Move `symbol`'s USD feed by `pct` percent (both lending markets read it); (old, new)."""
    feed = ctx.feeds[symbol]
    old = int(feed.functions.latestAnswer().call())
    new = old * (BPS + pct_to_bps(pct)) // BPS
    ctx.d.send(feed.functions.setAnswer(new), sender=ctx.deployer)
    return old, new


# -- pools ----------------------------------------------------------------------------------
def v2_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut at 30 bps; rounds down like the contract."""
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


def v2_input_for_move(reserve_in: int, num: int, den: int) -> int:
    """Input that grows `reserve_in` by a factor sqrt(num/den), net of the 30 bps fee.

    With x*y constant, the price of the output token in input units scales by the square of
    the factor the input reserve grows by.
    """
    target = math.isqrt(reserve_in * reserve_in * num // den)
    return max((target - reserve_in) * 1000 // 997 + 1, 1)


def dislocate(ctx: DeployContext, pool: str, pct: float, sender: str = "trader") -> dict[str, Any]:
    """Swap on one pool so that token0's price in token1 moves by about `pct` percent."""
    ref = find_pool(ctx.manifest, pool)
    bps = pct_to_bps(pct)
    if bps == 0:
        raise ValueError("a dislocation of 0% moves nothing")
    who = ctx.accounts[sender]
    if ref.kind == "uniswap_v2":
        return _dislocate_v2(ctx, ref, bps, who)
    return _dislocate_v3(ctx, ref, bps, who)


def _dislocate_v2(ctx: DeployContext, ref: PoolRef, bps: int, who: str) -> dict[str, Any]:
    pair = ctx.d.at(load_artifact(V2_PAIR), ref.address)
    r0, r1, _ = pair.functions.getReserves().call()
    # Raising token0's price means buying token0: pay token1 in.
    zero_in = bps < 0
    reserve_in, reserve_out = (r0, r1) if zero_in else (r1, r0)
    # token0's price r1/r0 becomes (1+m) times: r1 grows by sqrt(1+m), or r0 by 1/sqrt(1+m).
    num, den = (BPS, BPS + bps) if zero_in else (BPS + bps, BPS)
    amount_in = v2_input_for_move(reserve_in, num, den)
    amount_out = v2_amount_out(amount_in, reserve_in, reserve_out)
    symbol_in = ref.symbol0 if zero_in else ref.symbol1
    ctx.fund(symbol_in, who, amount_in)
    ctx.d.send(ctx.tokens[symbol_in].functions.transfer(ref.address, amount_in), sender=who)
    outs = (0, amount_out) if zero_in else (amount_out, 0)
    return ctx.d.send(pair.functions.swap(outs[0], outs[1], who, b""), sender=who)


def _dislocate_v3(ctx: DeployContext, ref: PoolRef, bps: int, who: str) -> dict[str, Any]:
    pool = ctx.d.at(load_artifact(V3_POOL), ref.address)
    sqrt_price = int(pool.functions.slot0().call()[0])
    # Price is sqrtP^2, so the limit is sqrtP * sqrt(1 + m); the router stops exactly there.
    limit = math.isqrt(sqrt_price * sqrt_price * (BPS + bps) // BPS)
    zero_for_one = bps < 0
    symbol_in, symbol_out = (
        (ref.symbol0, ref.symbol1) if zero_for_one else (ref.symbol1, ref.symbol0)
    )
    balance = int(ctx.tokens[symbol_in].functions.balanceOf(ref.address).call())
    budget = balance * 10 + 1  # generous: the price limit bounds the real spend
    ctx.fund(symbol_in, who, budget)
    ctx.approve(symbol_in, who, ref.router)
    router = ctx.d.at(load_artifact(V3_ROUTER), ref.router)
    params = (
        ctx.tokens[symbol_in].address, ctx.tokens[symbol_out].address, ref.fee, who,
        2**63, budget, 0, limit,
    )  # fmt: skip
    return ctx.d.send(router.functions.exactInputSingle(params), sender=who)


def random_dislocations(
    ctx: DeployContext, seed: int, count: int, max_pct: float = 3.0
) -> list[tuple[str, float]]:
    """`count` dislocations on pools and sizes drawn from `seed`; returns what was done."""
    rng = random.Random(seed)  # noqa: S311 - scenario replay, not cryptography
    pools = all_pools(ctx.manifest)
    done: list[tuple[str, float]] = []
    for _ in range(count):
        ref = rng.choice(pools)
        pct = round(rng.uniform(0.5, max_pct), 2) * rng.choice((-1, 1))
        dislocate(ctx, ref.address, pct)
        done.append((ref.address, pct))
    return done


# -- mempool, gas, reorgs -------------------------------------------------------------------
def pending_victim_swap(
    ctx: DeployContext, pool: str, amount_in: int, *, zero_for_one: bool = True,
    sender: str = "trader",
) -> str:  # fmt: skip
    """Leave a user's swap in the mempool with automine off; returns its hash.

    Call `resume_mining(ctx)` to mine it (and whatever was sent after it).
    """
    ref = find_pool(ctx.manifest, pool)
    who = ctx.accounts[sender]
    symbol_in, symbol_out = (
        (ref.symbol0, ref.symbol1) if zero_for_one else (ref.symbol1, ref.symbol0)
    )
    ctx.fund(symbol_in, who, amount_in)
    ctx.approve(symbol_in, who, ref.router)
    token_in, token_out = ctx.tokens[symbol_in].address, ctx.tokens[symbol_out].address
    if ref.kind == "uniswap_v2":
        router = ctx.d.at(load_artifact(V2_ROUTER), ref.router)
        fn = router.functions.swapExactTokensForTokens(
            amount_in, 0, [token_in, token_out], who, 2**63
        )
    else:
        router = ctx.d.at(load_artifact(V3_ROUTER), ref.router)
        fn = router.functions.exactInputSingle(
            (token_in, token_out, ref.fee, who, 2**63, amount_in, 0, 0)
        )
    ctx.d.rpc("evm_setAutomine", False)
    tx = {
        "from": who,
        "to": ref.router,
        "data": fn._encode_transaction_data(),
        "gas": hex(1_000_000),
    }
    tx_hash: str = ctx.d.rpc("eth_sendTransaction", tx)
    return tx_hash


def resume_mining(ctx: DeployContext) -> None:
    """Turn automine back on and mine what is pending."""
    ctx.d.rpc("evm_setAutomine", True)
    ctx.d.mine()


def gas_spike(ctx: DeployContext, multiplier: int) -> int:
    """Make the next block's base fee `multiplier` times the current one; returns it."""
    base = int(ctx.d.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    spiked = max(base, 1) * multiplier
    ctx.d.rpc("anvil_setNextBlockBaseFeePerGas", hex(spiked))
    return spiked


# anvil's last dev account: nothing else uses it, so its 1-wei self-transfers change nothing
SPARE = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


def reorg(ctx: DeployContext, depth: int) -> None:
    """Replace the last `depth` blocks with ones holding none of their transactions (anvil
    sends no `removed` logs). The first holds a 1-wei self-transfer: an empty block mined in
    the same second as the one it replaces could hash the same, and then nothing changed."""
    ctx.d.rpc("anvil_reorg", depth, [[{"from": SPARE, "to": SPARE, "value": "0x1"}, 0]])


def block_time(d: Deployer, seconds: int) -> None:
    """Mine a block every `seconds` (as a real chain does), or on every transaction for 0.
    Going back, the interval is cleared before automine is set: the other order leaves anvil
    mining nothing."""
    if seconds:
        d.rpc("evm_setAutomine", False)
        d.rpc("evm_setIntervalMining", seconds)
    else:
        d.rpc("evm_setIntervalMining", 0)
        d.rpc("evm_setAutomine", True)
