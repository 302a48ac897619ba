"""Lending state kept by events alone equals a fresh snapshot, over random txs and a reorg.

Snapshot Aave V3 and Venus at the start; then random supplies, borrows, repays, withdraws,
mints, redeems, price moves and liquidations go out with automine off, several per block. Each
new head goes through HeadFollower; its logs (by block hash) go through MarketState.apply. An
`anvil_reorg` in the middle must be seen as a Reorg and rewound. At the end, and right after the
reorg, the state must equal a snapshot read from chain at the head, entry for entry.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils import to_checksum_address

from tallyio.chain import build_client
from tallyio.chain.reorg import HeadFollower, block_from_rpc
from tallyio.core.events import Block, Log
from tallyio.devnet.context import DECIMALS, PRICES_USD_8
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.protocols.lending_events import LIQUIDATION_CALL, V_LIQUIDATE_BORROW
from tallyio.state.health import confirm_aave, confirm_venus, from_state
from tallyio.state.position_loader import (
    calldata,
    discover_accounts,
    load_snapshot,
    refs_from_manifest,
)
from tallyio.state.positions import (
    VenusAccount,
    account_key,
    lending_handlers,
    venus_assets,
)
from tallyio.state.prices import CLOCK_KEY, clock_log
from tallyio.state.store import MarketState

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

TXS = int(os.environ.get("TALLYIO_STATE_TXS", "10000"))  # the issue asks 10,000
SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")
MAX_UINT = 2**256 - 1
AAVE_USERS = (*(f"aave_borrower_{i}" for i in range(5)), "trader")
VENUS_USERS = (*(f"venus_borrower_{i}" for i in range(5)), "competitor")


class Harness:
    """Drives the devnet (automine off) and follows it into a MarketState."""

    def __init__(self, chain: Devnet, rng: random.Random) -> None:
        self.chain, self.d, self.rng = chain, chain.d, rng
        self.m = chain.manifest
        self.ctx = chain.context()
        self.aref, self.vref, self.targets = refs_from_manifest(self.m)
        self.aave_users = [chain.account(u).lower() for u in AAVE_USERS]
        self.venus_users = [chain.account(u).lower() for u in VENUS_USERS]
        self.searcher = chain.account("searcher")
        self.asset = {s: self.m["tokens"][s] for s in SYMBOLS}
        self.vtoken = {s: self.m["venus"]["markets"][s]["vtoken"] for s in SYMBOLS}
        self.client = build_client(self.m["rpc_url"])
        self.state: MarketState | None = None
        self.follower: HeadFollower | None = None
        self.reorgs = 0
        self.logs = 0
        self.liquidations = 0

    # -- driving ------------------------------------------------------------------------------
    def fund(self) -> None:
        spenders = [self.m["aave_v3"]["pool"], *self.vtoken.values()]
        for user in [*self.aave_users, *self.venus_users, self.searcher]:
            who = to_checksum_address(user)
            for s in SYMBOLS:
                self.ctx.fund(s, who, 10 ** (DECIMALS[s] + 14) // PRICES_USD_8[s])
                for spender in spenders:
                    self.ctx.approve(s, who, spender)
        for who in self.venus_users:
            self.send(self.m["venus"]["comptroller"], "enterMarkets(address[])",
                      list(self.vtoken.values()), who=who, wait=True)  # fmt: skip

    def send(self, to: str, sig: str, *args: Any, who: str, wait: bool = False) -> None:
        tx = {
            "from": who,
            "to": to,
            "data": "0x" + calldata(sig, *args).hex(),
            "gas": hex(3_000_000),
        }
        tx_hash = self.d.rpc("eth_sendTransaction", tx)
        if wait:
            self.d.wait_receipt(tx_hash)

    def usd(self, symbol: str, dollars: float) -> int:
        return max(int(dollars * 10 ** DECIMALS[symbol] * 10**8 // PRICES_USD_8[symbol]), 1)

    def aave_action(self) -> None:
        who, s, rng = self.rng.choice(self.aave_users), self.rng.choice(SYMBOLS), self.rng
        pool, asset = self.m["aave_v3"]["pool"], self.asset[s]
        kind = rng.choices(("supply", "borrow", "repay", "withdraw"), (4, 4, 2, 2))[0]
        amount = MAX_UINT if rng.random() < 0.2 and kind in ("repay", "withdraw") else self.usd(
            s, rng.uniform(200, 40_000))  # fmt: skip
        if kind == "supply":
            self.send(
                pool, "supply(address,uint256,address,uint16)", asset, amount, who, 0, who=who
            )
        elif kind == "borrow":
            sig = "borrow(address,uint256,uint256,uint16,address)"
            self.send(pool, sig, asset, amount // 2, 2, 0, who, who=who)
        elif kind == "repay":
            self.send(
                pool, "repay(address,uint256,uint256,address)", asset, amount, 2, who, who=who
            )
        else:
            self.send(pool, "withdraw(address,uint256,address)", asset, amount, who, who=who)

    def venus_action(self) -> None:
        who, s, rng = self.rng.choice(self.venus_users), self.rng.choice(SYMBOLS), self.rng
        vt = self.vtoken[s]
        kind = rng.choices(("mint", "borrow", "repay", "redeem"), (4, 4, 2, 2))[0]
        amount = self.usd(s, rng.uniform(200, 40_000))
        if kind == "mint":
            self.send(vt, "mint(uint256)", amount, who=who)
        elif kind == "borrow":
            self.send(vt, "borrow(uint256)", amount // 2, who=who)
        elif kind == "repay":
            self.send(
                vt, "repayBorrow(uint256)", MAX_UINT if rng.random() < 0.3 else amount, who=who
            )
        else:
            self.send(vt, "redeemUnderlying(uint256)", amount // 3, who=who)

    def move_price(self) -> None:
        s = self.rng.choice(SYMBOLS)
        feed = self.ctx.feeds[s]
        price = PRICES_USD_8[s] * self.rng.uniform(0.55, 1.25)
        tx = feed.functions.setAnswer(int(price)).build_transaction(
            {"from": self.ctx.deployer, "gas": 200_000}
        )
        self.d.rpc(
            "eth_sendTransaction",
            {k: tx[k] for k in ("from", "to", "data")} | {"gas": hex(200_000)},
        )

    def liquidate(self) -> None:
        """Liquidate every account the exact model calls liquidatable (reverts are fine)."""
        assert self.state is not None
        get, (_, ts) = self.state.get, self.state.get(CLOCK_KEY)
        for user, hf in confirm_aave(get, self.aref, self.aave_users, ts):
            account = get(account_key("aave_v3", self.aref.pool, user))
            if hf >= 10**18 or account is None:
                continue
            coll = [p.asset for p in account.positions if p.using_as_collateral]
            debt = [p.asset for p in account.positions if p.borrowing]
            if coll and debt:
                sig = "liquidationCall(address,address,address,uint256,bool)"
                self.send(self.aref.pool, sig, coll[0], debt[0], user, MAX_UINT, False,
                          who=self.searcher)  # fmt: skip
        for user, hf in confirm_venus(get, self.vref, self.venus_users):
            vacc: VenusAccount | None = get(account_key("venus", self.vref.comptroller, user))
            if hf >= 10**18 or vacc is None:
                continue
            assets = venus_assets(get, self.vref, vacc)
            coll = [a.vtoken for a in assets if a.vtoken_balance]
            debt = [a for a in assets if a.borrow_balance]
            if coll and debt:
                repay = venus.max_close(debt[0].borrow_balance, 5 * 10**17) // 4
                self.send(debt[0].vtoken, "liquidateBorrow(address,uint256,address)", user,
                          max(repay, 1), coll[0], who=self.searcher)  # fmt: skip

    # -- following ----------------------------------------------------------------------------
    async def fetch(self, ref: str | int) -> Block:
        if isinstance(ref, int):
            raw = await self.client.request("eth_getBlockByNumber", [hex(ref), False])
        else:
            raw = await self.client.request("eth_getBlockByHash", [ref, False])
        return block_from_rpc(31337, raw)

    async def snapshot(self, block: int) -> dict[Any, Any]:
        aave_accounts = set(self.known("aave_v3")) | set(
            await discover_accounts(self.client, self.aref, 0, block)
        )
        venus_accounts = set(self.known("venus")) | set(
            await discover_accounts(self.client, self.vref, 0, block))  # fmt: skip
        return await load_snapshot(
            self.client, block=block, multicall_address=self.m["multicall"],
            aave_markets=[(self.aref, sorted(aave_accounts))],
            venus_markets=[(self.vref, sorted(venus_accounts))],
            feeds=[t.feed for t in self.targets],
        )  # fmt: skip

    def known(self, protocol: str) -> list[str]:
        if self.state is None:
            return []
        keys = [k for k, _ in self.state.items() if isinstance(k, tuple) and len(k) == 4]
        return [k[3] for k in keys if k[0] == "account" and k[1] == protocol]

    async def start(self) -> None:
        head = await self.fetch(int(await self.client.request("eth_blockNumber"), 16))
        entries = await self.snapshot(head.number)
        handlers = lending_handlers([self.aref], [self.vref], self.targets)
        self.state = MarketState(entries, handlers, block=head.number, block_hash=head.hash)
        self.follower = HeadFollower(self.fetch)
        self.follower.seed(head)

    async def follow(self) -> None:
        assert self.state is not None and self.follower is not None
        head = await self.fetch(int(await self.client.request("eth_blockNumber"), 16))
        reorg, blocks = await self.follower.advance(head)
        if reorg is not None:
            self.reorgs += 1
            self.state.apply(reorg)
        for block in blocks:
            self.state.apply(block)
            self.state.apply(clock_log(block))
            for raw in await self.client.request("eth_getLogs", [{"blockHash": block.hash}]):
                self.logs += 1
                self.liquidations += raw["topics"][0] in (LIQUIDATION_CALL, V_LIQUIDATE_BORROW)
                self.state.apply(_log(raw))

    async def check(self) -> None:
        assert self.state is not None
        fresh = _nonempty(await self.snapshot(self.state.block))
        mine = _nonempty(dict(self.state.items()))
        diff = [k for k in fresh.keys() | mine.keys() if fresh.get(k) != mine.get(k)]
        assert diff == [], [(k, mine.get(k), fresh.get(k)) for k in diff[:3]]


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        31337, int(raw["blockNumber"], 16), raw["blockHash"], raw["transactionHash"],
        int(raw["logIndex"], 16), raw["address"], tuple(raw["topics"]), raw["data"],
    )  # fmt: skip


def _nonempty(entries: dict[Any, Any]) -> dict[Any, Any]:
    """Accounts with nothing left are absent from a snapshot; drop them on both sides."""
    empty = (aave.UserAccount((), 0), VenusAccount())
    return {k: v for k, v in entries.items() if v not in empty}


async def _run(chain: Devnet, rng: random.Random) -> Harness:
    h = Harness(chain, rng)
    h.fund()
    await h.start()
    h.d.rpc("evm_setAutomine", False)
    try:
        sent, reorged = 0, False
        while sent < TXS:
            for _ in range(rng.randint(3, 9)):
                rng.choice((h.aave_action, h.venus_action, h.aave_action, h.venus_action,
                            h.move_price))()  # fmt: skip
                sent += 1
            if rng.random() < 0.3:
                h.liquidate()
            h.d.rpc("evm_mine")
            if rng.random() < 0.2:
                h.d.rpc("evm_increaseTime", rng.randint(600, 30 * 86_400))
            await h.follow()
            if not reorged and sent >= TXS // 2:
                h.d.rpc("anvil_reorg", 2, [])
                h.d.rpc("evm_mine")
                await h.follow()
                await h.check()
                reorged = True
        await h.check()
    finally:
        h.d.rpc("evm_setAutomine", True)
        await h.client.close()
    return h


def test_state_from_events_equals_a_fresh_snapshot(chain: Devnet) -> None:
    h = asyncio.run(_run(chain, random.Random(7_301)))
    assert h.reorgs >= 1
    assert h.logs > TXS
    assert h.liquidations >= 1
    print(f"{TXS} txs, {h.logs} logs, {h.liquidations} liquidations, {h.reorgs} reorg(s)")


def test_sweep_flags_every_liquidatable_account(chain: Devnet) -> None:
    h = asyncio.run(_run(chain, random.Random(7_302)))
    assert h.state is not None
    get, (_, ts) = h.state.get, h.state.get(CLOCK_KEY)
    for protocol, ref, users in (
        ("aave_v3", h.aref, h.aave_users),
        ("venus", h.vref, h.venus_users),
    ):
        book = from_state(get, ref, h.known(protocol), ts)
        flagged = set(book.at_risk(1.02))
        exact = (confirm_aave(get, h.aref, users, ts) if protocol == "aave_v3"
                 else confirm_venus(get, h.vref, users))  # fmt: skip
        liquidatable = {u for u, hf in exact if hf < 10**18}
        assert liquidatable <= flagged, (protocol, liquidatable - flagged)
