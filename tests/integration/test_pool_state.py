"""Pool state followed from logs equals a fresh snapshot of the chain, exactly, through a reorg.

A snapshot of every devnet pool (V2 pairs of both venues, V3 pools with all their ticks,
Balancer weighted pools) starts a MarketState. Then random transactions run, many per block
with automine off: V2 router swaps, donations + sync() and addLiquidity; V3 SwapRouter swaps,
position manager mints at random ranges, decreaseLiquidity (often all of it, clearing ticks)
and collect (a Burn of 0); Balancer vault swaps, joins, exits and the pool owner's swap fee
changes. Each new block's pool logs are fetched by block hash and applied through
MarketState.apply (HeadFollower finds the blocks). Halfway, anvil_reorg replaces the last
blocks with others that carry different transactions: the Reorg event rewinds the state and
the new blocks' logs are applied. At the reorg and at the end the state must equal a fresh
snapshot in every field and tick, the numpy columns must equal columns built from that
snapshot, and model quotes from the followed state must equal the chain's own quoters.

TALLYIO_STATE_TXS sets how many random transactions run (default 10,000: 18-28 s here).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak

from tallyio.chain.client import build_client
from tallyio.chain.reorg import HeadFollower, block_from_rpc
from tallyio.chain.rpc import RpcClient
from tallyio.core.events import Block, Log
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.events import (
    BALANCER_POOL_BALANCE_CHANGED,
    BALANCER_SWAP,
    BALANCER_SWAP_FEE_CHANGED,
    POOL_TOPICS,
    V2_SYNC,
    V3_BURN,
    V3_MINT,
    V3_SWAP,
    topic0,
)
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool, default_price_limit, swap
from tallyio.state.columns import PoolColumns
from tallyio.state.pool_loader import Snapshot, load_pools, sources_from_manifest
from tallyio.state.pools import pool_key
from tallyio.state.store import MarketState

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

TXS = int(os.environ.get("TALLYIO_STATE_TXS", "10000"))
TXS_PER_BLOCK = 25
REORG_DEPTH = 3
REORG_AT = max(REORG_DEPTH + 1, TXS // TXS_PER_BLOCK // 2)  # blocks in, halfway
SEED = 3_000_003
DEADLINE = 2**64
HOLDING = 2**120
INCREASE_LIQUIDITY = topic0("IncreaseLiquidity(uint256,uint128,uint256,uint256)")
V3_SWAP_PARAMS = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
MINT_PARAMS = "(address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256)"
SINGLE_SWAP = "(bytes32,uint8,address,address,uint256,bytes)"
FUNDS = "(address,bool,address,bool)"
POOL_REQUEST = "bytes32,address,address,(address[],uint256[],bytes,bool)"
EVENT_NAMES = {
    V2_SYNC: "V2 Sync",
    V3_SWAP: "V3 Swap",
    V3_MINT: "V3 Mint",
    V3_BURN: "V3 Burn",
    BALANCER_SWAP: "Balancer Swap",
    BALANCER_POOL_BALANCE_CHANGED: "PoolBalanceChanged",
    BALANCER_SWAP_FEE_CHANGED: "SwapFeePercentageChanged",
}


def calldata(signature: str, *args: Any) -> str:
    """ABI calldata for `name(type,...)`: the selector and the top-level arguments."""
    inner, depth, current = signature[signature.index("(") + 1 : -1], 0, ""
    types: list[str] = []
    for ch in inner:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            types, current = [*types, current], ""
        else:
            current += ch
    types += [current] if current else []
    return "0x" + (keccak(text=signature)[:4] + encode(types, list(args))).hex()


def tx(sender: str, to: str, data: str, gas: int = 1_500_000) -> dict[str, str]:
    return {"from": sender, "to": to, "data": data, "gas": hex(gas)}


class Node:
    """The world's side: raw JSON-RPC to send transactions and move the chain."""

    def __init__(self, url: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.trust_env = False

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body: Any = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        answers = self.session.post(self.url, json=body, timeout=60).json() if calls else []
        return [a.get("result", a.get("error")) for a in sorted(answers, key=lambda a: a["id"])]

    def call(self, method: str, *params: Any) -> Any:
        (answer,) = self.batch([(method, list(params))])
        return answer

    def eth_call(self, to: str, data: str, block: str = "latest") -> Any:
        return self.call("eth_call", {"to": to, "data": data}, block)


# -- random transactions, sized from the followed state ------------------------------------
Txs = list[dict[str, str]]


class Market:
    """Random pool transactions; `make(state)` returns the next one (or two)."""

    def __init__(self, chain: Devnet, node: Node, rng: random.Random) -> None:
        m, self.node, self.rng = chain.manifest, node, rng
        self.trader, self.lp = chain.account("trader"), chain.account("lp")
        self.owner = chain.account("deployer")  # owns the Balancer pools: sets their fees
        self.v2, self.v3, self.bal = m["uniswap_v2"], m["uniswap_v3"], m["balancer_v2"]
        self.pm, self.vault = self.v3["position_manager"], self.bal["vault"]
        self.positions = {p["token_id"] for e in self.v3["pools"] for p in e["positions"]}
        self.liquidity: dict[int, int] = {}
        balance = calldata("balanceOf(address)", self.lp)
        self.bpt = {
            p["pool_id"]: int(node.eth_call(p["address"], balance), 16) for p in self.bal["pools"]
        }
        self.kinds: list[tuple[Callable[[MarketState], Txs], int]] = [
            (self.v2_swap, 25), (self.v2_donate, 3), (self.v2_add, 4), (self.v3_swap, 25),
            (self.v3_mint, 10), (self.v3_decrease, 9), (self.v3_collect, 2),
            (self.bal_swap, 12), (self.bal_join, 5), (self.bal_exit, 5), (self.bal_fee, 2),
        ]  # fmt: skip
        self.counts: Counter[str] = Counter()

    def make(self, state: MarketState) -> Txs:
        make = self.rng.choices([k for k, _ in self.kinds], [w for _, w in self.kinds])[0]
        self.counts[make.__name__] += 1
        return make(state)

    @staticmethod
    def send(sender: str, to: str, signature: str, *args: Any) -> Txs:
        return [tx(sender, to, calldata(signature, *args))]

    def fraction(self, amount: float, low: float, high: float) -> int:
        return max(1, int(amount * 10 ** self.rng.uniform(low, high)))

    def refresh_positions(self) -> None:
        """Current liquidity of a few positions (those a reorg dropped are gone)."""
        ids = self.rng.sample(sorted(self.positions), min(8, len(self.positions)))
        calls = [{"to": self.pm, "data": calldata("positions(uint256)", i)} for i in ids]
        answers = self.node.batch([("eth_call", [c, "latest"]) for c in calls])
        self.liquidity = {}
        for token_id, raw in zip(ids, answers, strict=True):
            if not isinstance(raw, str):
                self.positions.discard(token_id)
            elif liquidity := int(raw[2 + 64 * 7 : 2 + 64 * 8], 16):
                self.liquidity[token_id] = liquidity

    # Uniswap V2
    def _pair(self, state: MarketState) -> tuple[str, V2Pool]:
        venue = self.rng.choice(self.v2)
        return venue["router"], state.get(pool_key(self.rng.choice(venue["pairs"])["address"]))

    def v2_swap(self, state: MarketState) -> Txs:
        router, pool = self._pair(state)
        path = [pool.token0, pool.token1][:: self.rng.choice((1, -1))]
        amount = self.fraction(pool.reserves(path[0])[0], -6, -1.3)
        sig = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
        return self.send(self.trader, router, sig, amount, 0, path, self.trader, DEADLINE)

    def v2_donate(self, state: MarketState) -> Txs:
        _, pool = self._pair(state)
        token = self.rng.choice((pool.token0, pool.token1))
        amount = self.fraction(pool.reserves(token)[0], -5, -2)
        send = calldata("transfer(address,uint256)", pool.address, amount)
        return [tx(self.trader, token, send), tx(self.trader, pool.address, calldata("sync()"))]

    def v2_add(self, state: MarketState) -> Txs:
        router, pool = self._pair(state)
        f = 10 ** self.rng.uniform(-4, -2)
        a0, a1 = int(pool.reserve0 * f), int(pool.reserve1 * f * self.rng.uniform(0.9, 1.1))
        sig = "addLiquidity(address,address,uint256,uint256,uint256,uint256,address,uint256)"
        args = (pool.token0, pool.token1, a0, a1, 0, 0, self.lp, DEADLINE)
        return self.send(self.lp, router, sig, *args)

    # Uniswap V3
    def _v3(self, state: MarketState) -> tuple[V3Pool, float, float]:
        """A pool and its active range's virtual reserves of token0 and token1."""
        pool: V3Pool = state.get(pool_key(self.rng.choice(self.v3["pools"])["address"]))
        root = pool.sqrt_price_x96 / 2**96
        return pool, pool.liquidity / root, pool.liquidity * root

    def v3_swap(self, state: MarketState) -> Txs:
        pool, x, y = self._v3(state)
        zero = self.rng.random() < 0.5
        tokens, depth_in, depth_out = (pool.token0, pool.token1), x, y
        if not zero:
            tokens, depth_in, depth_out = tokens[::-1], y, x
        head = (*tokens, pool.fee, self.trader, DEADLINE)
        if self.rng.random() < 0.7:
            params = (*head, self.fraction(depth_in, -5, -0.7), 0, 0)
            kind = "exactInputSingle"
        else:
            params, kind = (
                (*head, self.fraction(depth_out, -5, -1.2), 2**256 - 1, 0),
                "exactOutputSingle",
            )
        return self.send(self.trader, self.v3["router"], f"{kind}({V3_SWAP_PARAMS})", params)

    def v3_mint(self, state: MarketState) -> Txs:
        pool, x, y = self._v3(state)
        s = pool.tick_spacing
        lower = (pool.tick // s + self.rng.randint(-40, 25)) * s
        upper = lower + self.rng.randint(1, 40) * s
        if pool.initialized and self.rng.random() < 0.3:  # share a tick with other positions
            at = self.rng.choice(pool.initialized)
            lower, upper = (at, max(upper, at + s)) if at < pool.tick else (min(lower, at - s), at)
        amounts = self.fraction(x, -4, -1.5), self.fraction(y, -4, -1.5)
        params = (pool.token0, pool.token1, pool.fee, lower, upper, *amounts, 0, 0, self.lp)
        return self.send(self.lp, self.pm, f"mint({MINT_PARAMS})", (*params, DEADLINE))

    def v3_decrease(self, state: MarketState) -> Txs:
        if not self.liquidity:
            return self.v3_mint(state)
        token_id = self.rng.choice(sorted(self.liquidity))
        held = self.liquidity.pop(token_id)  # once per block: the next read sees the change
        amount = held if self.rng.random() < 0.4 else self.rng.randint(1, held)
        sig = "decreaseLiquidity((uint256,uint128,uint256,uint256,uint256))"
        return self.send(self.lp, self.pm, sig, (token_id, amount, 0, 0, DEADLINE))

    def v3_collect(self, state: MarketState) -> Txs:
        if not self.liquidity:
            return self.v3_swap(state)
        params = (self.rng.choice(sorted(self.liquidity)), self.lp, 2**128 - 1, 2**128 - 1)
        return self.send(self.lp, self.pm, "collect((uint256,address,uint128,uint128))", params)

    # Balancer
    def _bal(self, state: MarketState) -> tuple[WeightedPool, bytes]:
        pool: WeightedPool = state.get(pool_key(self.rng.choice(self.bal["pools"])["address"]))
        return pool, bytes.fromhex(pool.pool_id[2:])

    def bal_swap(self, state: MarketState) -> Txs:
        pool, pool_id = self._bal(state)
        i, o = self.rng.sample(range(len(pool.tokens)), 2)
        amount = self.fraction(pool.balances[i], -6, -1.2)
        single = (pool_id, 0, pool.tokens[i], pool.tokens[o], amount, b"")
        funds = (self.trader, False, self.trader, False)
        sig = f"swap({SINGLE_SWAP},{FUNDS},uint256,uint256)"
        return self.send(self.trader, self.vault, sig, single, funds, 0, DEADLINE)

    def bal_join(self, state: MarketState) -> Txs:
        pool, pool_id = self._bal(state)
        amounts = [
            self.fraction(b, -5, -2) if self.rng.random() < 0.8 else 0 for b in pool.balances
        ]
        user_data = encode(["uint256", "uint256[]", "uint256"], [1, amounts, 0])  # EXACT_TOKENS_IN
        request = (list(pool.tokens), amounts, user_data, False)
        return self.send(
            self.lp, self.vault, f"joinPool({POOL_REQUEST})", pool_id, self.lp, self.lp, request
        )

    def bal_exit(self, state: MarketState) -> Txs:
        pool, pool_id = self._bal(state)
        bpt = self.fraction(self.bpt[pool.pool_id], -6, -3.5)
        if self.rng.random() < 0.5:  # EXACT_BPT_IN_FOR_ONE_TOKEN_OUT
            user_data = encode(["uint256"] * 3, [0, bpt, self.rng.randrange(len(pool.tokens))])
        else:  # EXACT_BPT_IN_FOR_TOKENS_OUT
            user_data = encode(["uint256"] * 2, [1, bpt])
        request = (list(pool.tokens), [0] * len(pool.tokens), user_data, False)
        return self.send(
            self.lp, self.vault, f"exitPool({POOL_REQUEST})", pool_id, self.lp, self.lp, request
        )

    def bal_fee(self, state: MarketState) -> Txs:
        pool, _ = self._bal(state)
        fee = self.fraction(10**17, -5, 0)  # 0.0001% to 10%, the pool's limits
        return self.send(self.owner, pool.address, "setSwapFeePercentage(uint256)", fee)


# -- the engine's side: follow heads, apply logs -------------------------------------------
class Follower:
    """What a log collector does: new heads by parent hash, their pool logs by block hash."""

    def __init__(self, client: RpcClient, manifest: dict[str, Any], snapshot: Snapshot) -> None:
        self.client, self.chain_id = client, int(manifest["chain_id"])
        self.state = snapshot.market_state()
        self.columns = PoolColumns.from_entries(snapshot.entries)
        self.heads = HeadFollower(self.fetch)
        self.heads.seed(Block(self.chain_id, snapshot.block, snapshot.block_hash, "", 0, None))
        self.position_manager = manifest["uniswap_v3"]["position_manager"].lower()
        emitters = {str(key[1]) for key in snapshot.entries if isinstance(key, tuple)}
        self.filter = {
            "address": sorted(emitters | {self.position_manager}),
            "topics": [[*POOL_TOPICS, INCREASE_LIQUIDITY]],
        }
        self.minted: list[int] = []
        self.events: Counter[str] = Counter()
        self.reorgs = self.pokes = self.ticks_cleared = 0

    async def fetch(self, ref: str | int) -> Block:
        if isinstance(ref, int):
            raw = await self.client.request("eth_getBlockByNumber", [hex(ref), False])
        else:
            raw = await self.client.request("eth_getBlockByHash", [ref, False])
        return block_from_rpc(self.chain_id, raw)

    async def catch_up(self) -> bool:
        """Apply every new canonical block; True if a reorg came first."""
        reorg, blocks = await self.heads.advance(await self.fetch_head())
        if reorg is not None:
            self.columns.apply(self.state.apply(reorg))
            self.reorgs += 1
        answers = await self.client.batch(
            [("eth_getLogs", [{**self.filter, "blockHash": b.hash}]) for b in blocks]
        )
        for block, raw_logs in zip(blocks, answers, strict=True):
            self.state.apply(block)
            for raw in sorted(raw_logs, key=lambda r: int(r["logIndex"], 16)):
                self.apply(self._log(raw))
        return reorg is not None

    async def fetch_head(self) -> Block:
        raw = await self.client.request("eth_getBlockByNumber", ["latest", False])
        return block_from_rpc(self.chain_id, raw)

    def apply(self, log: Log) -> None:
        if log.address == self.position_manager:
            self.minted.append(int(log.topics[1], 16))
            return
        deltas = self.state.apply(log)
        self.columns.apply(deltas)
        self.events[EVENT_NAMES[log.topics[0]]] += 1
        self.pokes += log.topics[0] == V3_BURN and int(log.data[2:66], 16) == 0
        for d in deltas:
            if isinstance(d.after, V3Pool) and isinstance(d.before, V3Pool):
                self.ticks_cleared += len(set(d.before.ticks) - set(d.after.ticks))

    def _log(self, raw: dict[str, Any]) -> Log:
        return Log(
            self.chain_id, int(raw["blockNumber"], 16), raw["blockHash"], raw["transactionHash"],
            int(raw["logIndex"], 16), raw["address"].lower(), tuple(raw["topics"]), raw["data"],
        )  # fmt: skip


# -- checks --------------------------------------------------------------------------------
async def assert_state_is_the_chain(follower: Follower, manifest: dict[str, Any]) -> Snapshot:
    state = follower.state
    fresh = await load_pools(
        follower.client, manifest["multicall"], sources_from_manifest(manifest), block=state.block
    )
    assert fresh.block_hash == follower.heads._hashes[state.block]
    followed = dict(state.items())
    assert followed.keys() == fresh.entries.keys()
    wrong = [
        f"{k}:\n  followed {followed[k]}\n  chain    {v}"
        for k, v in fresh.entries.items()
        if followed[k] != v
    ]
    assert not wrong, (
        f"{len(wrong)} of {len(followed)} entries differ at block {state.block}:\n"
        + "\n".join(wrong[:4])
    )
    rebuilt = PoolColumns.from_entries(fresh.entries)
    for name in ("reserve0", "reserve1", "price", "fee"):
        assert np.array_equal(
            getattr(follower.columns, name), getattr(rebuilt, name), equal_nan=True
        ), name
    return fresh


def assert_quotes_match_the_chain(node: Node, state: MarketState, m: dict[str, Any]) -> int:
    """Model quotes on the followed state = router getAmountsOut, QuoterV2, BalancerQueries."""
    got, want = [], []

    def ask(to: str, data: str, types: list[str]) -> Any:
        return decode(types, bytes.fromhex(node.eth_call(to, data, hex(state.block))[2:]))[0]

    for venue in m["uniswap_v2"]:
        for pair in venue["pairs"]:
            v2: V2Pool = state.get(pool_key(pair["address"]))
            amount, path = v2.reserve0 // 1_000, [v2.token0, v2.token1]
            quote = calldata("getAmountsOut(uint256,address[])", amount, path)
            got.append(ask(venue["router"], quote, ["uint256[]"])[-1])
            want.append(v2.amount_out(v2.token0, amount))
    for entry in m["uniswap_v3"]["pools"]:
        v3: V3Pool = state.get(pool_key(entry["address"]))
        amount = max(1, v3.liquidity * 2**96 // v3.sqrt_price_x96 // 50)
        params = (v3.token0, v3.token1, amount, v3.fee, 0)
        quote = calldata("quoteExactInputSingle((address,address,uint256,uint24,uint160))", params)
        got.append(ask(m["uniswap_v3"]["quoter"], quote, ["uint256"]))
        want.append(-swap(v3, True, amount, default_price_limit(True)).amount1)  # partial fills too
    for entry in m["balancer_v2"]["pools"]:
        bal: WeightedPool = state.get(pool_key(entry["address"]))
        amount, (token_in, *_, token_out) = bal.balances[-1] // 1_000, bal.tokens[::-1]
        single = (bytes.fromhex(bal.pool_id[2:]), 0, token_in, token_out, amount, b"")
        funds = ("0x" + "00" * 20, False, "0x" + "00" * 20, False)
        quote = calldata(f"querySwap({SINGLE_SWAP},{FUNDS})", single, funds)
        got.append(ask(m["balancer_v2"]["queries"], quote, ["uint256"]))
        want.append(bal.amount_out(token_in, token_out, amount))
    assert got == want
    return len(got)


# -- the test ------------------------------------------------------------------------------
def setup_accounts(chain: Devnet) -> None:
    ctx, m = chain.context(), chain.manifest
    routers = [v["router"] for v in m["uniswap_v2"]]
    spenders = {
        "trader": [*routers, m["uniswap_v3"]["router"], m["balancer_v2"]["vault"]],
        "competitor": [*routers, m["uniswap_v3"]["router"], m["balancer_v2"]["vault"]],
        "lp": [*routers, m["uniswap_v3"]["position_manager"], m["balancer_v2"]["vault"]],
    }
    for name, targets in spenders.items():
        for symbol in ctx.tokens:
            ctx.fund(symbol, chain.account(name), HOLDING)
            for spender in targets:
                ctx.approve(symbol, chain.account(name), spender)


async def mine_block(node: Node, market: Market, follower: Follower, count: int) -> int:
    """`count` random transactions (or one more) in one block, then follow the chain to it."""
    market.refresh_positions()
    txs: Txs = []
    while len(txs) < count:
        txs += market.make(follower.state)
    answers = node.batch([("eth_sendTransaction", [t]) for t in txs])
    assert all(isinstance(a, str) for a in answers), [a for a in answers if not isinstance(a, str)]
    node.call("evm_mine")
    assert not await follower.catch_up()
    market.positions.update(follower.minted)
    return len(txs)


async def reorg(node: Node, market: Market, follower: Follower, competitor: str) -> None:
    """Replace the last REORG_DEPTH blocks with blocks holding other transactions."""
    fresh = [market.make(follower.state) for _ in range(REORG_DEPTH)]
    pairs = [[{**t, "from": competitor}, k] for k, txs in enumerate(fresh) for t in txs]
    head = follower.state.block
    node.call("anvil_reorg", REORG_DEPTH, pairs)
    assert await follower.catch_up()
    assert follower.state.block == head


async def test_followed_pool_state_equals_a_fresh_snapshot_through_a_reorg(chain: Devnet) -> None:
    setup_accounts(chain)
    m, node = chain.manifest, Node(chain.rpc_url)
    market, sent, blocks = Market(chain, node, random.Random(SEED)), 0, 0
    started = time.monotonic()
    async with build_client(m["rpc_url"]) as client:
        snapshot = await load_pools(client, m["multicall"], sources_from_manifest(m))
        follower = Follower(client, m, snapshot)
        node.call("evm_setAutomine", False)
        try:
            while sent < TXS:
                sent += await mine_block(node, market, follower, min(TXS_PER_BLOCK, TXS - sent))
                blocks += 1
                if blocks == REORG_AT:
                    await reorg(node, market, follower, chain.account("competitor"))
                    await assert_state_is_the_chain(follower, m)
        finally:
            node.call("evm_setAutomine", True)
        elapsed = time.monotonic() - started
        await assert_state_is_the_chain(follower, m)
        quotes = assert_quotes_match_the_chain(node, follower.state, m)
    events = follower.events
    assert follower.reorgs == 1, f"TALLYIO_STATE_TXS={TXS}: too few blocks for the reorg"
    for name in EVENT_NAMES.values():  # every handler ran, on most of what was sent
        assert events[name] >= TXS // 100, events
    assert events["V2 Sync"] + events["V3 Swap"] + events["Balancer Swap"] >= TXS // 2, events
    assert follower.pokes >= 1 and follower.ticks_cleared >= TXS // 100
    print(
        f"\n{sent} txs in {blocks} blocks, {events.total()} logs applied in {elapsed:.1f}s "
        f"({follower.ticks_cleared} ticks cleared, {follower.pokes} burns of 0); {quotes} quotes "
        f"matched\nsent {dict(market.counts)}\napplied {dict(events)}"
    )
