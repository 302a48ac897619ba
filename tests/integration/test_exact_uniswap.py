"""protocols.uniswap_v2 / uniswap_v3 against the real bytecode: random swaps, zero wei apart.

Swaps go out in blocks of ~25 through the devnet's Multicall (`aggregate3`, each call allowed
to fail on its own), which holds the tokens; a block per swap would make anvil write a few
thousand full states to disk. Every pool's state is read from the chain before a block; after
each swap the state is what that swap's own event reports (V3 Swap: price, liquidity, tick;
V2 Sync: reserves), so each model run is on chain state from just before it, as long as the
events so far matched. The block's Swap/Sync events must equal the model's to the wei, in
order, and a swap the model refuses must emit nothing. State evolves; the `chain` fixture
reverts it all at the end.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak

from tallyio.devnet.context import DECIMALS, PRICES_USD_8
from tallyio.protocols import uniswap_v3_fast
from tallyio.protocols.uniswap_v2 import SwapError, V2Pool, get_amounts_in, get_amounts_out
from tallyio.protocols.uniswap_v3 import SwapResult, V3Pool, default_price_limit, swap
from tallyio.protocols.uniswap_v3_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
)

pytestmark = pytest.mark.devnet

SEED = 20_240_603
V2_SWAPS = 1_000  # swaps done and compared; refused ones come on top
V3_SWAPS = 1_000
PER_BLOCK = 25
BLOCK_GAS_BUDGET = 20_000_000  # estimated; the transaction itself may use up to TX_GAS
TX_GAS = 50_000_000  # the devnet's block gas limit is 60M
MAX_STEPS = 1_500  # a V3 swap of more steps would not fit a block (~7k gas per word stop)
DEADLINE = 2**64
MAX_UINT = 2**256 - 1
HOLDING = 2**126  # of every token, for the Multicall and the LP (anvil: value < 2**128)
HUGE = 2**124  # an exact input no pool here can absorb before its price limit

V2_SWAP = "0x" + keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)").hex()
V2_SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
V3_SWAP = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex()
EVENT_TYPES = {
    V2_SWAP: ["uint256"] * 4,
    V2_SYNC: ["uint112", "uint112"],
    V3_SWAP: ["int256", "int256", "uint160", "uint128", "int24"],
}
V3_PARAMS = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
MINT_PARAMS = "(address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256)"


# -- raw JSON-RPC: encode, batched eth_call, one block of calls ---------------------------------
def _types(signature: str) -> list[str]:
    """Top-level argument types of `name(type,...)`."""
    inner, depth, out, cur = signature[signature.index("(") + 1 : -1], 0, [], ""
    for ch in inner:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur else out


def calldata(signature: str, *args: Any) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(_types(signature), list(args))).hex()


class Rpc:
    """eth_call in JSON-RPC batches (one HTTP round trip for many reads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def calls(self, calls: Sequence[tuple[str, str]], chunk: int = 2_000) -> list[bytes]:
        out: list[bytes] = []
        for start in range(0, len(calls), chunk):
            body: list[dict[str, Any]] = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_call",
                 "params": [{"to": to, "data": data}, "latest"]}
                for i, (to, data) in enumerate(calls[start : start + chunk])
            ]  # fmt: skip
            answers = self.session.post(self.url, json=body, timeout=60).json()
            for answer in sorted(answers, key=lambda a: a["id"]):
                assert "error" not in answer, answer
                out.append(bytes.fromhex(answer["result"][2:]))
        return out


@dataclass
class Block:
    """Calls for one Multicall.aggregate3 transaction and the pool events they must emit."""

    calls: list[tuple[str, bool, bytes]] = field(default_factory=list)
    expected: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what each expected event is from
    gas: int = 0
    swaps: int = 0

    def call(self, target: str, data: str, gas: int = 0) -> None:
        self.calls.append((target, True, bytes.fromhex(data[2:])))
        self.gas += gas

    def expect(self, address: str, topic: str, values: tuple[Any, ...], note: str) -> None:
        self.expected.append((address.lower(), topic, values))
        self.notes.append(note)

    def full(self) -> bool:
        return self.swaps >= PER_BLOCK or self.gas >= BLOCK_GAS_BUDGET


def run_block(chain: Any, multicall: str, block: Block, pools: set[str]) -> list[str]:
    """Send the block's calls as one transaction; [] if its events are exactly the expected."""
    data = calldata("aggregate3((address,bool,bytes)[])", block.calls)
    tx = {"from": chain.d.sender, "to": multicall, "data": data, "gas": hex(TX_GAS)}
    receipt = chain.d.wait_receipt(chain.d.rpc("eth_sendTransaction", tx))
    if int(receipt["status"], 16) != 1 or int(receipt["gasUsed"], 16) > TX_GAS * 95 // 100:
        return [f"block transaction failed or ran short of gas: {receipt['gasUsed']}"]
    got = [
        (log["address"].lower(), log["topics"][0],
         decode(EVENT_TYPES[log["topics"][0]], bytes.fromhex(log["data"][2:])))
        for log in receipt["logs"]
        if log["topics"][0] in EVENT_TYPES and log["address"].lower() in pools
    ]  # fmt: skip
    if got == block.expected:
        return []
    i = next((i for i, (a, b) in enumerate(zip(got, block.expected, strict=False)) if a != b),
             min(len(got), len(block.expected)))  # fmt: skip
    note = block.notes[min(i, len(block.notes) - 1)] if block.notes else "no events expected"
    return [f"event {i}: chain {got[i : i + 1]} model {block.expected[i : i + 1]} ({note})"]


def provide(chain: Any, holder: str, spenders: Sequence[str]) -> None:
    """Give `holder` HOLDING of every token; approve `spenders` (from the Multicall itself
    when the holder is the Multicall)."""
    ctx = chain.context()
    approvals = []
    for symbol, token in ctx.tokens.items():
        ctx.fund(symbol, holder, HOLDING)
        for spender in spenders:
            if holder == chain.manifest["multicall"]:
                approvals.append((token.address, False, bytes.fromhex(
                    calldata("approve(address,uint256)", spender, MAX_UINT)[2:])))  # fmt: skip
            else:
                ctx.approve(symbol, holder, spender)
    if approvals:
        data = calldata("aggregate3((address,bool,bytes)[])", approvals)
        chain.d.send_raw_call(holder, data)


def random_amount(rng: random.Random, high: int, low: int = 1) -> int:
    """Log-uniform in [low, high], every bit random."""
    bits = rng.randint(low.bit_length(), max(low.bit_length(), high.bit_length()))
    return max(low, min(high, rng.randrange(1 << (bits - 1), 1 << bits)))


def dust(rng: random.Random, reserve: int) -> int:
    """The low end of a swap size: 1 wei for a few, a millionth of the reserve for most."""
    return 1 if rng.random() < 0.1 else max(1, reserve // 10**6)


def usd(symbol: str, dollars: int) -> int:
    return dollars * 10**8 * 10 ** DECIMALS[symbol] // PRICES_USD_8[symbol]


# -- Uniswap V2 ---------------------------------------------------------------------------------
def read_v2_pairs(rpc: Rpc, venues: Sequence[dict[str, Any]]) -> dict[str, V2Pool]:
    pairs = [(v, p) for v in venues for p in v["pairs"]]
    answers = rpc.calls([(p["address"], calldata("getReserves()")) for _, p in pairs])
    out = {}
    for (venue, pair), raw in zip(pairs, answers, strict=True):
        r0, r1, _ = decode(["uint112", "uint112", "uint32"], raw)
        out[pair["address"]] = V2Pool(
            pair["address"], pair["token0"], pair["token1"], r0, r1, venue["fee_bps"]
        )
    return out


def v2_route(
    rng: random.Random, venue: dict[str, Any], pools: dict[str, V2Pool], hops: int
) -> tuple[list[str], list[V2Pool]]:
    """A random path of token addresses over the venue's pairs, and those pairs."""
    pair = rng.choice(venue["pairs"])
    path = [pair["token0"], pair["token1"]][:: rng.choice((1, -1))]
    while len(path) <= hops:
        nxt = [p for p in venue["pairs"] if path[-1] in (p["token0"], p["token1"])]
        path.append(
            rng.choice([t for p in nxt for t in (p["token0"], p["token1"]) if t not in path])
        )
    by_tokens = {frozenset((p["token0"], p["token1"])): p["address"] for p in venue["pairs"]}
    return path, [pools[by_tokens[frozenset(hop)]] for hop in itertools.pairwise(path)]


def expect_v2_hops(
    block: Block, pools: dict[str, V2Pool], path: list[str], hops: list[V2Pool],
    amounts: list[int], note: str,
) -> None:  # fmt: skip
    """Each hop emits Sync (new reserves) then Swap; the model's state moves along."""
    for hop, token_in, paid, got in zip(hops, path, amounts, amounts[1:], strict=False):
        after = hop.after_swap(token_in, paid, got)
        swap_values = (paid, 0, 0, got) if hop.is_token0(token_in) else (0, paid, got, 0)
        block.expect(hop.address, V2_SYNC, (after.reserve0, after.reserve1), note)
        block.expect(hop.address, V2_SWAP, swap_values, note)
        pools[hop.address] = after


def add_v2_router_swap(
    rng: random.Random, venue: dict[str, Any], pools: dict[str, V2Pool], block: Block,
    me: str, stats: Counter[str],
) -> None:  # fmt: skip
    """swapExactTokensForTokens or swapTokensForExactTokens over one or two hops."""
    path, hops = v2_route(rng, venue, pools, hops=1 if rng.random() < 0.7 else 2)
    reserves = [h.reserves(t) for h, t in zip(hops, path, strict=False)]
    exact_out = rng.random() < 0.35
    if exact_out:
        amount = random_amount(rng, reserves[-1][1] * 9 // 10, dust(rng, reserves[-1][1]))
        fn, limit = "swapTokensForExactTokens", MAX_UINT
    else:
        amount = random_amount(rng, reserves[0][0] * 2, dust(rng, reserves[0][0]))
        fn, limit = "swapExactTokensForTokens", 0
    signature = f"{fn}(uint256,uint256,address[],address,uint256)"
    block.call(venue["router"], calldata(signature, amount, limit, path, me, DEADLINE),
               150_000 * len(hops))  # fmt: skip
    stats[f"{'out' if exact_out else 'in'} {len(hops)} hop"] += 1
    block.swaps += 1
    try:
        quote = get_amounts_in if exact_out else get_amounts_out
        amounts = quote(amount, reserves, [h.fee_bps for h in hops])
    except SwapError:
        amounts = [0]
    if min(amounts) == 0:  # the library or the pair refuses
        stats["refused"] += 1
        return
    expect_v2_hops(block, pools, path, hops, amounts, f"{fn} {amount} via {path}")
    stats["swapped"] += 1


def add_v2_direct_swap(
    rng: random.Random, venue: dict[str, Any], pools: dict[str, V2Pool], block: Block,
    me: str, stats: Counter[str],
) -> None:  # fmt: skip
    """Transfer in, then pair.swap: one wei more than the model's output must fail K."""
    path, (pool,) = v2_route(rng, venue, pools, hops=1)
    reserve_in = pool.reserves(path[0])[0]
    amount = random_amount(rng, reserve_in * 2, dust(rng, reserve_in))
    out = pool.amount_out(path[0], amount)
    block.call(path[0], calldata("transfer(address,uint256)", pool.address, amount), 50_000)
    for n in (out + 1, out):  # the first must fail (K); so must the second when it is 0
        outs = (0, n) if pool.is_token0(path[0]) else (n, 0)
        block.call(pool.address, calldata("swap(uint256,uint256,address,bytes)", *outs, me, b""))
    block.gas += 150_000
    block.swaps += 1
    stats["direct"] += 1
    if out == 0:
        block.call(pool.address, calldata("skim(address)", me))  # take the input back
        stats["refused"] += 1
        return
    expect_v2_hops(block, pools, path, [pool], [amount, out], f"direct {amount} into {pool}")
    stats["swapped"] += 1


def test_v2_random_swaps_match_the_pair_to_the_wei(chain: Any) -> None:
    me, venues = chain.manifest["multicall"], chain.manifest["uniswap_v2"]
    provide(chain, me, [v["router"] for v in venues])
    rpc, rng, stats = Rpc(chain.rpc_url), random.Random(SEED), Counter[str]()
    addresses = {p["address"].lower() for v in venues for p in v["pairs"]}
    problems: list[str] = []
    while stats["swapped"] < V2_SWAPS and not problems:
        pools, block = read_v2_pairs(rpc, venues), Block()
        while not block.full() and stats["swapped"] < V2_SWAPS:
            add = add_v2_direct_swap if rng.random() < 0.25 else add_v2_router_swap
            add(rng, rng.choice(venues), pools, block, me, stats)
        problems += run_block(chain, me, block, addresses)
        stats["blocks"] += 1
    assert problems == [], (problems, stats)
    for kind in ("in 1 hop", "in 2 hop", "out 1 hop", "out 2 hop"):
        assert stats[kind] >= 50, stats
    assert stats["direct"] >= 150 and stats["refused"] >= 10, stats


# -- Uniswap V3 ---------------------------------------------------------------------------------
def read_v3_ticks(rpc: Rpc, address: str, spacing: int) -> dict[int, int]:
    """Every initialized tick -> liquidityNet: scan the whole tickBitmap, then ticks()."""
    words = range((MIN_TICK // spacing) >> 8, ((MAX_TICK // spacing) >> 8) + 1)
    bitmap = rpc.calls([(address, calldata("tickBitmap(int16)", w)) for w in words])
    ticks = [
        ((word << 8) + bit) * spacing
        for word, raw in zip(words, bitmap, strict=True)
        for bit in range(256)
        if int.from_bytes(raw, "big") >> bit & 1
    ]
    infos = rpc.calls([(address, calldata("ticks(int24)", t)) for t in ticks])
    out = {}
    for tick, raw in zip(ticks, infos, strict=True):
        _gross, net, *_rest, initialized = decode(
            ["uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"], raw
        )
        assert initialized, f"bitmap has tick {tick} the pool calls uninitialized"
        out[tick] = net
    return out


def read_v3_pools(
    rpc: Rpc, entries: Sequence[dict[str, Any]], ticks: dict[str, dict[int, int]]
) -> dict[str, V3Pool]:
    """slot0 and liquidity of every pool, in one batch, with their initialized ticks."""
    answers = rpc.calls(
        [(e["address"], calldata(sig)) for e in entries for sig in ("slot0()", "liquidity()")]
    )
    out = {}
    for entry, slot0, liquidity in zip(entries, answers[::2], answers[1::2], strict=True):
        sqrt_price, tick = decode(["uint160", "int24"], slot0[:64])
        (active,) = decode(["uint128"], liquidity)
        out[entry["address"]] = V3Pool(
            entry["address"], entry["token0"], entry["token1"], entry["fee"],
            entry["tick_spacing"], sqrt_price, tick, active, ticks.get(entry["address"], {}),
        )  # fmt: skip
    return out


def balances(rpc: Rpc, holder: str, tokens: Sequence[str]) -> dict[str, int]:
    answers = rpc.calls([(t, calldata("balanceOf(address)", holder)) for t in tokens])
    return {t: int.from_bytes(raw, "big") for t, raw in zip(tokens, answers, strict=True)}


def add_positions(chain: Any, rng: random.Random, entry: dict[str, Any], home: int) -> None:
    """Eight more random ranges around the price, so swaps cross many more ticks."""
    spacing, lp = entry["tick_spacing"], chain.account("lp")
    reach = max(1, 9_000 // spacing)
    for _ in range(8):
        lower = (home // spacing + rng.randint(-reach, reach)) * spacing
        upper = lower + spacing * rng.randint(1, max(1, 3_000 // spacing))
        dollars = rng.randint(20_000, 400_000)
        params = (entry["token0"], entry["token1"], entry["fee"], lower, upper,
                  usd(entry["symbol0"], dollars), usd(entry["symbol1"], dollars), 0, 0, lp,
                  DEADLINE)  # fmt: skip
        manager = chain.manifest["uniswap_v3"]["position_manager"]
        chain.d.send_raw_call(manager, calldata(f"mint({MINT_PARAMS})", params), sender=lp)


@dataclass(frozen=True)
class V3Plan:
    zero_for_one: bool
    amount_specified: int  # > 0 exact input, < 0 exact output
    limit: int
    kind: str


def near_limit(rng: random.Random, pool: V3Pool, zero_for_one: bool) -> int:
    """A price limit 0.0001% to 50% away from the price, on the side the swap moves to."""
    step = max(1, pool.sqrt_price_x96 * random_amount(rng, 500_000) // 1_000_000)
    if zero_for_one:
        return max(MIN_SQRT_RATIO + 1, pool.sqrt_price_x96 - step)
    return min(MAX_SQRT_RATIO - 1, pool.sqrt_price_x96 + step)


def plan_v3(rng: random.Random, entry: dict[str, Any], pool: V3Pool, home: int) -> V3Plan:
    edge = pool.sqrt_price_x96 in (MIN_SQRT_RATIO + 1, MAX_SQRT_RATIO - 1)
    if edge and rng.random() < 0.5:  # further past the end: SPL, on chain and in the model
        zero_for_one = pool.sqrt_price_x96 == MIN_SQRT_RATIO + 1
        return V3Plan(zero_for_one, 10**6, default_price_limit(zero_for_one), "stuck")
    if abs(pool.tick - home) > 12_000:  # wandered far (or to the edge): swap back home
        zero_for_one = pool.tick > home
        return V3Plan(zero_for_one, HUGE, get_sqrt_ratio_at_tick(home), "home")
    zero_for_one = rng.random() < 0.5
    if rng.random() < 0.015:  # through every range to the end of the price range
        return V3Plan(zero_for_one, HUGE, default_price_limit(zero_for_one), "edge")
    exact_in = rng.random() < 0.5
    symbol = entry["symbol0" if zero_for_one == exact_in else "symbol1"]
    low = 1 if rng.random() < 0.25 else usd(symbol, 1_000)  # dust, or enough to move the price
    size = random_amount(rng, usd(symbol, 3_000_000), low)
    limited = rng.random() < 0.35
    limit = near_limit(rng, pool, zero_for_one) if limited else default_price_limit(zero_for_one)
    kind = f"{'in' if exact_in else 'out'}{' limited' if limited else ''}"
    return V3Plan(zero_for_one, size if exact_in else -size, limit, kind)


def model_swap(pool: V3Pool, plan: V3Plan) -> SwapResult | None:
    """The readable model's swap, None where it reverts; the native fast path must agree."""
    args = (pool, plan.zero_for_one, plan.amount_specified, plan.limit)
    outcomes: list[SwapResult | str] = []
    for run in (swap, uniswap_v3_fast.swap):
        try:
            outcomes.append(run(*args))
        except SwapError as e:
            outcomes.append(f"{type(e).__name__}: {e}")
    assert outcomes[0] == outcomes[1], (plan, pool, outcomes)
    return outcomes[0] if isinstance(outcomes[0], SwapResult) else None


def feasible(rng: random.Random, pool: V3Pool, plan: V3Plan, held: dict[str, int]) -> V3Plan:
    """The plan, or one with a nearer price limit if the chain could not run it for reasons
    outside the math: the Multicall cannot pay, or the steps would not fit in a block."""
    for _ in range(20):
        model = model_swap(pool, plan)
        if model is None:
            return plan
        paid = model.sides(plan.zero_for_one)[0]
        token_in = pool.token0 if plan.zero_for_one else pool.token1
        if paid <= held[token_in] and model.steps <= MAX_STEPS:
            return plan
        limit = near_limit(rng, pool, plan.zero_for_one)
        plan = V3Plan(plan.zero_for_one, plan.amount_specified, limit, f"{plan.kind} capped")
    raise AssertionError(f"no feasible plan on {pool}")


def v3_swap_call(entry: dict[str, Any], plan: V3Plan, me: str) -> str:
    tokens = (entry["token0"], entry["token1"])[:: 1 if plan.zero_for_one else -1]
    amount = abs(plan.amount_specified)
    if plan.amount_specified > 0:
        params = (*tokens, entry["fee"], me, DEADLINE, amount, 0, plan.limit)
        return calldata(f"exactInputSingle({V3_PARAMS})", params)
    params = (*tokens, entry["fee"], me, DEADLINE, amount, MAX_UINT, plan.limit)
    return calldata(f"exactOutputSingle({V3_PARAMS})", params)


def tally(stats: Counter[str], plan: V3Plan, model: SwapResult | None) -> None:
    stats[plan.kind.split()[0]] += 1
    stats["capped"] += plan.kind.endswith("capped")
    if model is None:
        stats["refused"] += 1
        return
    stats["swapped"] += 1
    direction = "down" if plan.zero_for_one else "up"
    exact = "in" if plan.amount_specified > 0 else "out"
    stats[f"cross>=2 {direction} {exact}"] += model.ticks_crossed >= 2
    stats["extra steps"] += model.steps - model.ticks_crossed - 1  # word edges, limits
    stats["hit limit"] += model.sqrt_price_x96 == plan.limit
    stats["max crossed"] = max(stats["max crossed"], model.ticks_crossed)


def add_v3_swap(
    rng: random.Random, entry: dict[str, Any], pools: dict[str, V3Pool], held: dict[str, int],
    block: Block, home: int, stats: Counter[str],
) -> None:  # fmt: skip
    pool = pools[entry["address"]]
    plan = feasible(rng, pool, plan_v3(rng, entry, pool, home), held)
    model = model_swap(pool, plan)
    if model is not None and model.amount0 == model.amount1 == 0:
        model = None  # moving through no liquidity at all: the router refuses to pay 0/0
    gas = 150_000 + 7_000 * model.steps if model else 50_000
    block.call(entry["router"], v3_swap_call(entry, plan, entry["me"]), gas)
    block.swaps += 1
    tally(stats, plan, model)
    if model is None:
        return
    values = (model.amount0, model.amount1, model.sqrt_price_x96, model.liquidity, model.tick)
    block.expect(pool.address, V3_SWAP, values, f"{plan} on {pool}")
    pools[pool.address] = pool.after(model)
    held[pool.token0] -= model.amount0
    held[pool.token1] -= model.amount1


def test_v3_random_swaps_match_the_pool_to_the_wei(chain: Any) -> None:
    me, section = chain.manifest["multicall"], chain.manifest["uniswap_v3"]
    provide(chain, me, [section["router"]])
    provide(chain, chain.account("lp"), [section["position_manager"]])
    rpc, rng, stats = Rpc(chain.rpc_url), random.Random(SEED), Counter[str]()
    entries = [{**e, "router": section["router"], "me": me} for e in section["pools"]]
    homes = {a: p.tick for a, p in read_v3_pools(rpc, entries, {}).items()}
    for entry in entries:
        add_positions(chain, rng, entry, homes[entry["address"]])
    ticks = {e["address"]: read_v3_ticks(rpc, e["address"], e["tick_spacing"]) for e in entries}
    tokens = sorted({t for e in entries for t in (e["token0"], e["token1"])})
    addresses = {e["address"].lower() for e in entries}
    problems: list[str] = []
    while stats["swapped"] < V3_SWAPS and not problems:
        pools, held, block = read_v3_pools(rpc, entries, ticks), balances(rpc, me, tokens), Block()
        while not block.full() and stats["swapped"] < V3_SWAPS:
            entry = rng.choice(entries)
            add_v3_swap(rng, entry, pools, held, block, homes[entry["address"]], stats)
        problems += run_block(chain, me, block, addresses)
        stats["blocks"] += 1
    assert problems == [], (problems, stats)
    for e in entries:  # swaps moved no liquidity: reading the ticks once was reading them each time
        assert read_v3_ticks(rpc, e["address"], e["tick_spacing"]) == ticks[e["address"]]
    for key in ("cross>=2 down in", "cross>=2 up in", "cross>=2 down out", "cross>=2 up out"):
        assert stats[key] >= 25, stats
    assert stats["hit limit"] >= 60 and stats["extra steps"] >= 500, stats
    assert stats["edge"] >= 5 and stats["home"] >= 5 and stats["max crossed"] >= 8, stats
    assert stats["stuck"] >= 1 and stats["refused"] == stats["stuck"], stats
