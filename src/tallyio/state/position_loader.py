"""Snapshot the lending state from chain, every read pinned to one block; find accounts in logs.

`load_snapshot` returns the same entries the event handlers keep (`positions`, `prices`), read
through Multicall3 when its address is given and otherwise as one JSON-RPC batch of eth_calls
(and eth_getStorageAt for Venus borrow snapshots: accountBorrows is VToken storage slot 16).
`discover_accounts` scans eth_getLogs over a block range: no subgraph.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from tallyio.chain.errors import RpcError
from tallyio.chain.multicall import Call, multicall
from tallyio.chain.rpc import RpcCall, RpcClient
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import lending_events as ev
from tallyio.protocols import venus
from tallyio.state.lending_keys import close_factor_key, treasury_percent_key
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusAccount,
    VenusMarket,
    VenusMarketRef,
    VenusPosition,
    VenusRef,
    account_key,
    emode_ids,
    emode_key,
    reserve_key,
    with_aave_position,
    with_venus_position,
)
from tallyio.state.prices import CLOCK_KEY, PriceTarget, feed_key, price_key

ACCOUNT_BORROWS_SLOT = 16  # VTokenStorageBase.accountBorrows
VENUS_MARKET_READS = (
    "getCash()", "totalBorrows()", "totalReserves()", "totalSupply()", "borrowIndex()",
    "accrualBlockNumber()", "reserveFactorMantissa()", "flashLoanAmount()",
    "reduceReservesBlockDelta()", "reduceReservesBlockNumber()", "interestRateModel()",
)  # fmt: skip
RATE_MODEL_READS = (
    "baseRatePerBlock()",
    "multiplierPerBlock()",
    "jumpMultiplierPerBlock()",
    "kink()",
)
STABLE_READS = (
    "principalBalanceOf(address)",
    "getUserStableRate(address)",
    "getUserLastUpdated(address)",
)


class LoadError(RuntimeError):
    """A read the snapshot needs failed: not a market, or a node that cannot answer."""


@cache
def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args: Any) -> bytes:
    inner = signature[signature.index("(") + 1 : -1]
    return _selector(signature) + encode([t for t in inner.split(",") if t], list(args))


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


class Reader:
    """eth_calls at one block: through Multicall3 if given, else one JSON-RPC batch."""

    def __init__(self, client: RpcClient, block: int, multicall_address: str | None = None):
        self.client, self.block, self.multicall = client, block, multicall_address

    async def calls(self, calls: Sequence[tuple[str, bytes]]) -> list[bytes]:
        if self.multicall:
            got = await multicall(
                self.client, self.multicall, [Call(t, d) for t, d in calls], block=self.block
            )
            bad = [i for i, r in enumerate(got) if not r.success]
            if bad:
                raise LoadError(f"call to {calls[bad[0]][0]} reverted at block {self.block}")
            return [r.data for r in got]
        tag = hex(self.block)
        reqs = [RpcCall("eth_call", ({"to": t, "data": "0x" + d.hex()}, tag)) for t, d in calls]
        answers = await self.client.batch(reqs, raise_errors=False) if reqs else []
        for (to, _), a in zip(calls, answers, strict=True):
            if isinstance(a, RpcError):
                raise LoadError(f"call to {to} failed at block {self.block}: {a}")
        return [bytes.fromhex(str(a)[2:]) for a in answers]

    async def words(self, calls: Sequence[tuple[str, bytes]]) -> list[list[int]]:
        return [_words(d) for d in await self.calls(calls)]

    async def storage(self, slots: Sequence[tuple[str, int]]) -> list[int]:
        tag = hex(self.block)
        reqs = [RpcCall("eth_getStorageAt", (a, hex(s), tag)) for a, s in slots]
        return [int(str(a), 16) for a in await self.client.batch(reqs)] if reqs else []


async def load_aave(r: Reader, ref: AaveMarketRef, accounts: Sequence[str]) -> dict[Any, Any]:
    pool, out = ref.pool.lower(), dict[Any, Any]()
    calls = [(ref.pool, calldata("getReserveData(address)", x.asset)) for x in ref.reserves]
    calls += [(ref.oracle, calldata("getAssetPrice(address)", x.asset)) for x in ref.reserves]
    raw = await r.calls(calls)
    n, reserves = len(ref.reserves), {}
    for i, x in enumerate(ref.reserves):
        data = aave.ReserveData.from_pool(x.asset.lower(), 0, _words(raw[i]))
        reserves[x.asset.lower()] = data
        out[reserve_key("aave_v3", pool, x.asset)] = data
        out[price_key("aave_v3", pool, x.asset)] = _words(raw[n + i])[0]
    out |= await _load_emodes(r, ref, emode_ids(ref, reserves.values()))
    per_user = [(x.a_token, "scaledBalanceOf(address)") for x in ref.reserves]
    per_user += [(x.variable_debt_token, "scaledBalanceOf(address)") for x in ref.reserves]
    per_user += [(x.stable_debt_token, s) for s in STABLE_READS for x in ref.reserves]
    per_user += [(ref.pool, "getUserConfiguration(address)"), (ref.pool, "getUserEMode(address)")]
    got = await r.words([(t, calldata(s, u)) for u in accounts for t, s in per_user])
    width = len(per_user)
    for k, u in enumerate(accounts):
        row = [w[0] for w in got[k * width : (k + 1) * width]]
        account = _aave_account(ref, reserves, row)
        if account.positions or account.emode_category:
            out[account_key("aave_v3", pool, u)] = account
    return out


async def _load_emodes(r: Reader, ref: AaveMarketRef, ids: Sequence[int]) -> dict[Any, Any]:
    raw = await r.calls([(ref.pool, calldata("getEModeCategoryData(uint8)", c)) for c in ids])
    out: dict[Any, Any] = {}
    for c, blob in zip(ids, raw, strict=True):
        ((ltv, lt, bonus, source, _),) = decode(["(uint16,uint16,uint16,address,string)"], blob)
        out[emode_key(ref.pool, c)] = aave.EModeCategory(c, ltv, lt, bonus, source.lower(), 0)
    return out


async def load_feeds(r: Reader, feeds: Sequence[str]) -> dict[Any, Any]:
    """Each feed's latestAnswer (int256), as prices.feed_key entries (zero address skipped)."""
    feeds = sorted({f.lower() for f in feeds} - {aave.ZERO_ADDRESS})
    got = await r.words([(f, calldata("latestAnswer()")) for f in feeds])
    return {feed_key(f): w[0] - 2**256 if w[0] >> 255 else w[0] for f, w in zip(
        feeds, got, strict=True)}  # fmt: skip


def _aave_account(
    ref: AaveMarketRef, reserves: dict[str, aave.ReserveData], row: list[int]
) -> aave.UserAccount:
    n = len(ref.reserves)
    config, emode = row[5 * n], row[5 * n + 1]
    account = aave.UserAccount((), emode)
    for i, x in enumerate(ref.reserves):
        asset = x.asset.lower()
        borrowing, collateral = aave.decode_user_configuration(config, reserves[asset].id)
        pos = aave.UserReserve(
            asset, row[i], row[n + i], row[2 * n + i], row[3 * n + i], row[4 * n + i],
            collateral, borrowing,
        )  # fmt: skip
        account = with_aave_position(account, pos)
    return account


def borrow_slot(account: str) -> int:
    key = bytes(12) + bytes.fromhex(account[2:]) + ACCOUNT_BORROWS_SLOT.to_bytes(32, "big")
    return int.from_bytes(keccak(key), "big")


async def load_venus(r: Reader, ref: VenusRef, accounts: Sequence[str]) -> dict[Any, Any]:
    comp, out = ref.comptroller.lower(), dict[Any, Any]()
    calls = [(m.vtoken, calldata(s)) for m in ref.markets for s in VENUS_MARKET_READS]
    calls += [(ref.comptroller, calldata("markets(address)", m.vtoken)) for m in ref.markets]
    calls += [(ref.oracle, calldata("getUnderlyingPrice(address)", m.vtoken)) for m in ref.markets]
    calls.append((ref.comptroller, calldata("closeFactorMantissa()")))
    calls.append((ref.comptroller, calldata("treasuryPercent()")))
    got, k = await r.words(calls), len(VENUS_MARKET_READS)
    out[close_factor_key(comp)] = got[-2][0]
    out[treasury_percent_key(comp)] = got[-1][0]
    model_at = [f"0x{got[i * k + k - 1][0]:040x}" for i in range(len(ref.markets))]
    models = await r.words([(a, calldata(s)) for a in model_at for s in RATE_MODEL_READS])
    n = len(ref.markets)
    for i, m in enumerate(ref.markets):
        w = [x[0] for x in got[i * k : (i + 1) * k]]
        model = venus.JumpRateModel(*(x[0] for x in models[4 * i : 4 * i + 4]))
        state = venus.MarketState(
            cash=w[0], total_borrows=w[1], total_reserves=w[2], total_supply=w[3],
            borrow_index=w[4], accrual_block_number=w[5], reserve_factor=w[6],
            initial_exchange_rate=m.initial_exchange_rate, rate_model=model,
            flash_loan_amount=w[7], reduce_reserves_block_delta=w[8],
            reduce_reserves_block_number=w[9],
        )  # fmt: skip
        _, cf, _, lt, li, *_ = got[n * k + i]
        vt = m.vtoken.lower()
        out[reserve_key("venus", comp, vt)] = VenusMarket(vt, state, cf, lt, li)
        out[price_key("venus", comp, vt)] = got[n * k + n + i][0]
    for u, account in zip(accounts, await _venus_accounts(r, ref, accounts), strict=True):
        if account.positions or account.assets_in:
            out[account_key("venus", comp, u)] = account
    return out


async def _venus_accounts(r: Reader, ref: VenusRef, accounts: Sequence[str]) -> list[VenusAccount]:
    vts = [m.vtoken for m in ref.markets]
    calls = [(ref.comptroller, calldata("getAssetsIn(address)", u)) for u in accounts]
    calls += [(vt, calldata("balanceOf(address)", u)) for u in accounts for vt in vts]
    raw = await r.calls(calls)
    slots = [(vt, borrow_slot(u) + j) for u in accounts for vt in vts for j in (0, 1)]
    stored = await r.storage(slots)
    out = []
    for i in range(len(accounts)):
        (assets_in,) = decode(["address[]"], raw[i])
        account = VenusAccount(tuple(a.lower() for a in assets_in))
        for j, vt in enumerate(vts):
            flat = i * len(vts) + j
            balance = _words(raw[len(accounts) + flat])[0]
            pos = VenusPosition(vt.lower(), balance, stored[2 * flat], stored[2 * flat + 1])
            account = with_venus_position(account, pos)
        out.append(account)
    return out


async def load_snapshot(
    client: RpcClient,
    *,
    block: int,
    aave_markets: Sequence[tuple[AaveMarketRef, Sequence[str]]] = (),
    venus_markets: Sequence[tuple[VenusRef, Sequence[str]]] = (),
    multicall_address: str | None = None,
    feeds: Sequence[str] = (),
) -> dict[Any, Any]:
    """Every entry for the markets ((ref, accounts) each) at `block`, plus the clock and the
    latest answers of `feeds`: the contracts that emit AnswerUpdated (PriceTarget.feed), so an
    oracle re-pointed at one of them is priced at once. (Not the oracle's sources: on a live
    chain those are proxies, whose answers arrive from their aggregators.)"""
    head = await client.request("eth_getBlockByNumber", [hex(block), False])
    r = Reader(client, block, multicall_address)
    out: dict[Any, Any] = {CLOCK_KEY: (block, int(head["timestamp"], 16))}
    for aref, accounts in aave_markets:
        out |= await load_aave(r, aref, [a.lower() for a in accounts])
    for vref, accounts in venus_markets:
        out |= await load_venus(r, vref, [a.lower() for a in accounts])
    return out | await load_feeds(r, feeds)


# -- account discovery ------------------------------------------------------------------------
def _aave_filter(ref: AaveMarketRef) -> tuple[list[str], list[str]]:
    tokens = [
        t for x in ref.reserves for t in (x.a_token, x.variable_debt_token, x.stable_debt_token)
    ]
    return [ref.pool, *tokens], [
        ev.SCALED_MINT,
        ev.BALANCE_TRANSFER,
        ev.STABLE_MINT,
        ev.USER_EMODE_SET,
    ]


def _venus_filter(ref: VenusRef) -> tuple[list[str], list[str]]:
    return [ref.comptroller, *(m.vtoken for m in ref.markets)], [ev.TRANSFER, ev.MARKET_ENTERED]


def _account_of(log: dict[str, Any]) -> str | None:
    topics = log["topics"]
    if topics[0] in (
        ev.SCALED_MINT,
        ev.STABLE_MINT,
        ev.BALANCE_TRANSFER,
        ev.TRANSFER,
        ev.MARKET_ENTERED,
    ):
        return ev.address_of(topics[2]) if len(topics) > 2 else None  # fmt: skip
    if topics[0] == ev.USER_EMODE_SET and len(topics) > 1:
        return ev.address_of(topics[1])
    return None


async def discover_accounts(
    client: RpcClient,
    ref: AaveMarketRef | VenusRef,
    from_block: int,
    to_block: int,
    *,
    chunk: int = 50_000,
) -> list[str]:
    """Accounts that ever received aTokens / debt / vTokens or entered a market, in range."""
    addresses, topics = _aave_filter(ref) if isinstance(ref, AaveMarketRef) else _venus_filter(ref)
    found: set[str] = set()
    skip = {a.lower() for a in addresses} | {ev.address_of(0)}
    for start in range(from_block, to_block + 1, chunk):
        flt = {
            "address": [to_checksum_address(a) for a in addresses],
            "topics": [topics],
            "fromBlock": hex(start),
            "toBlock": hex(min(start + chunk - 1, to_block)),
        }
        for log in await client.request("eth_getLogs", [flt]):
            who = _account_of(log)
            if who is not None and who not in skip:
                found.add(who)
    return sorted(found)


def refs_from_manifest(
    manifest: dict[str, Any],
) -> tuple[AaveMarketRef, VenusRef, list[PriceTarget]]:
    """The devnet's Aave and Venus markets and the feeds that price them (oracles in the refs)."""
    a, v, feeds = manifest["aave_v3"], manifest["venus"], manifest["price_feeds"]
    reserves = tuple(
        AaveReserveRef(
            r["asset"].lower(),
            r["a_token"].lower(),
            r["variable_debt_token"].lower(),
            r["stable_debt_token"].lower(),
        )
        for r in a["reserves"].values()
    )
    aref = AaveMarketRef(a["pool"].lower(), reserves, oracle=a["oracle"].lower(),
                         configurator=a.get("configurator", "").lower())  # fmt: skip
    markets = tuple(
        VenusMarketRef(
            m["vtoken"].lower(),
            m["underlying"].lower(),
            m["underlying_decimals"],
            m["initial_exchange_rate"],
        )
        for m in v["markets"].values()
    )
    vref = VenusRef(v["comptroller"].lower(), markets, oracle=v["oracle"].lower())
    targets = [
        PriceTarget(feeds[s], "aave_v3", aref.pool, r["asset"].lower())
        for s, r in a["reserves"].items()
    ]
    targets += [
        PriceTarget(
            feeds[s], "venus", vref.comptroller, m["vtoken"].lower(), 8, m["underlying_decimals"]
        )
        for s, m in v["markets"].items()
    ]  # fmt: skip
    return aref, vref, targets
