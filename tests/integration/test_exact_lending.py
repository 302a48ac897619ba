"""Aave V3 and Venus account models pinned to the real bytecode on the devnet, to the wei.

Random walks over the named accounts (supplies, borrows - variable and stable -, repays,
withdraws, collateral and e-mode switches, market entries and exits, feed moves, time warps and
mined blocks) reach hundreds of account states. At each, every input the models need is read
in one JSON-RPC batch at one block (reserve data, scaled balances, stable debt, user config,
vToken snapshots, borrow snapshots from storage, prices), and every output field must equal
getUserAccountData / getAccountLiquidity / getBorrowingPower at that block. Real liquidations
are predicted before they are sent (next block's timestamp and number fixed in advance) and
their logs must carry exactly the model's amounts, or revert with the model's code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from tallyio.devnet.context import DECIMALS, PRICES_USD_8, DeployContext
from tallyio.devnet.deployer import DeployError
from tallyio.devnet.venus import BLOCKS_PER_YEAR
from tallyio.devnet.venus import MARKETS as VENUS_MARKETS
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")
MAX_UINT = 2**256 - 1
USERS = (
    *(f"aave_borrower_{i}" for i in range(5)),
    "trader",
    "competitor",
    "relay_signer",
    "lp",
)
VENUS_USERS = (*(f"venus_borrower_{i}" for i in range(5)), "trader", "competitor", "relay_signer")
TRANSFER = keccak(text="Transfer(address,address,uint256)")
LIQUIDATION_CALL = keccak(
    text="LiquidationCall(address,address,address,uint256,uint256,address,bool)"
)
LIQUIDATE_BORROW = keccak(text="LiquidateBorrow(address,address,uint256,address,uint256)")
FAILURE = keccak(text="Failure(uint256,uint256,uint256)")
USD_BUDGET = 60_000  # rough size of one random supply, in dollars


# -- JSON-RPC batches -------------------------------------------------------------------------
@cache
def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args: Any) -> str:
    """ABI calldata for a function of simple argument types."""
    inner = signature[signature.index("(") + 1 : -1]
    types = [t for t in inner.split(",") if t]
    return "0x" + (_selector(signature) + encode(types, list(args))).hex()


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


def address_word(word: int) -> str:
    return to_checksum_address(word.to_bytes(32, "big")[12:])


class Rpc:
    """eth_call, eth_getStorageAt and friends, many at one block in one HTTP round trip."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def batch(self, requests_: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
            for i, (m, p) in enumerate(requests_)
        ]
        answers = sorted(self.session.post(self.url, json=body, timeout=60).json(), key=_id)
        bad = [a for a in answers if "error" in a]
        if bad:
            raise DeployError(f"batch: {bad[0]['error']} in {requests_[bad[0]['id']]}")
        return [a["result"] for a in answers]

    def reads(self, calls: dict[Any, tuple[str, str]], block: int) -> dict[Any, bytes]:
        """{key: (to, calldata)} -> {key: return data}, all at `block`."""
        keys = list(calls)
        tag = hex(block)
        out = self.batch(
            [("eth_call", [{"to": calls[k][0], "data": calls[k][1]}, tag]) for k in keys]
        )
        return {k: bytes.fromhex(r[2:]) for k, r in zip(keys, out, strict=True)}

    def storage(self, slots: dict[Any, tuple[str, int]], block: int) -> dict[Any, int]:
        keys = list(slots)
        tag = hex(block)
        out = self.batch([("eth_getStorageAt", [slots[k][0], hex(slots[k][1]), tag]) for k in keys])
        return {k: int(r, 16) for k, r in zip(keys, out, strict=True)}

    def head(self) -> tuple[int, int]:
        """(latest block number, its timestamp)."""
        block = self.batch([("eth_getBlockByNumber", ["latest", False])])[0]
        return int(block["number"], 16), int(block["timestamp"], 16)


def _id(answer: dict[str, Any]) -> int:
    return int(answer["id"])


@dataclass(slots=True)
class Tally:
    """What a walk compared, and every mismatch (there must be none)."""

    states: int = 0
    fields: int = 0
    liquidations: int = 0
    rejections: int = 0
    reverted_actions: int = 0
    mismatches: list[str] = field(default_factory=list)

    def same(self, what: str, model: object, onchain: object) -> None:
        self.fields += 1
        if model != onchain:
            self.mismatches.append(f"{what}: model {model} != chain {onchain}")


class Driver:
    """Sends the walks' transactions; an action the protocol refuses is counted, not fatal."""

    def __init__(self, chain: Devnet, tally: Tally) -> None:
        self.chain, self.d, self.tally = chain, chain.d, tally
        self.ctx: DeployContext = chain.context()
        self.rpc = Rpc(chain.rpc_url)

    def send(self, to: str, signature: str, *args: Any, who: str) -> dict[str, Any] | None:
        try:
            return self.d.send_raw_call(to, calldata(signature, *args), sender=who)
        except DeployError:
            self.tally.reverted_actions += 1
            return None

    def fund_all(self, users: Sequence[str], spenders: Sequence[str]) -> None:
        """About $10M of every token to each user, approved to every spender."""
        for who in users:
            for s in SYMBOLS:
                self.ctx.fund(s, who, 10 ** (DECIMALS[s] + 15) // PRICES_USD_8[s])
                for spender in spenders:
                    self.ctx.approve(s, who, spender)

    def move_price(self, rng: random.Random, start: dict[str, int], max_pct: float) -> None:
        symbol = rng.choice(SYMBOLS)
        feed = self.ctx.feeds[symbol]
        now = int(feed.functions.latestAnswer().call())
        moved = int(now * (1 + rng.uniform(-max_pct, max_pct) / 100))
        moved = min(max(moved, start[symbol] * 55 // 100), start[symbol] * 150 // 100)
        self.d.send(feed.functions.setAnswer(moved))

    def warp(self, seconds: int) -> None:
        self.d.rpc("evm_increaseTime", seconds)
        self.d.mine()

    def start_prices(self) -> dict[str, int]:
        return {s: int(self.ctx.feeds[s].functions.latestAnswer().call()) for s in SYMBOLS}


def logs_with(receipt: dict[str, Any], topic0: bytes) -> list[dict[str, Any]]:
    return [
        log
        for log in receipt["logs"]
        if log["topics"] and bytes.fromhex(log["topics"][0][2:]) == topic0
    ]


def transfers(receipt: dict[str, Any], token: str, src: str, dst: str) -> list[int]:
    """Values of ERC20 Transfer logs of `token` from `src` to `dst`."""
    out = []
    for log in logs_with(receipt, TRANSFER):
        if log["address"].lower() != token.lower():
            continue
        frm, to = (address_word(int(t, 16)) for t in log["topics"][1:3])
        if frm.lower() == src.lower() and to.lower() == dst.lower():
            out.append(int(log["data"], 16))
    return out


# -- Aave V3 ------------------------------------------------------------------------------------
AAVE_ROUNDS = 64
AAVE_LIQUIDATIONS = 24
STABLE_READS = (
    ("sp", "principalBalanceOf(address)"),
    ("sr", "getUserStableRate(address)"),
    ("st", "getUserLastUpdated(address)"),
    ("sb", "balanceOf(address)"),
)
VARIABLE, STABLE = 2, 1  # InterestRateMode


@dataclass(frozen=True, slots=True)
class AaveRefs:
    pool: str
    oracle: str
    configurator: str
    treasury: str
    asset: dict[str, str]
    a_token: dict[str, str]
    variable: dict[str, str]
    stable: dict[str, str]

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> AaveRefs:
        section = manifest["aave_v3"]
        reserves = section["reserves"]
        return cls(
            pool=section["pool"],
            oracle=section["oracle"],
            configurator=section["configurator"],
            treasury=section["treasury"],
            asset={s: reserves[s]["asset"] for s in SYMBOLS},
            a_token={s: reserves[s]["a_token"] for s in SYMBOLS},
            variable={s: reserves[s]["variable_debt_token"] for s in SYMBOLS},
            stable={s: reserves[s]["stable_debt_token"] for s in SYMBOLS},
        )


@dataclass(frozen=True, slots=True)
class AaveState:
    """Everything read at one block: the models' inputs and the Pool's own answers."""

    block: int
    timestamp: int
    reserves: dict[str, aave.ReserveData]  # by asset address
    by_symbol: dict[str, aave.ReserveData]
    emode: aave.EModeCategory
    accounts: dict[str, aave.UserAccount]
    onchain: dict[str, tuple[int, ...]]  # getUserAccountData
    raw: dict[Any, list[int]]

    def data(self, who: str) -> aave.AccountData:
        return aave.calculate_user_account_data(
            self.reserves, self.accounts[who], self.timestamp, self.emode
        )

    def position(self, who: str, symbol: str) -> aave.UserReserve:
        asset = self.by_symbol[symbol].asset
        return next(p for p in self.accounts[who].positions if p.asset == asset)


def aave_calls(refs: AaveRefs, users: Sequence[str]) -> dict[Any, tuple[str, str]]:
    pool = refs.pool
    calls = {("emode",): (pool, calldata("getEModeCategoryData(uint8)", 1))}
    for s in SYMBOLS:
        a = refs.asset[s]
        calls[("reserve", s)] = (pool, calldata("getReserveData(address)", a))
        calls[("price", s)] = (refs.oracle, calldata("getAssetPrice(address)", a))
        calls[("income", s)] = (pool, calldata("getReserveNormalizedIncome(address)", a))
        calls[("debt", s)] = (pool, calldata("getReserveNormalizedVariableDebt(address)", a))
    for u in users:
        calls[("config", u)] = (pool, calldata("getUserConfiguration(address)", u))
        calls[("emode_of", u)] = (pool, calldata("getUserEMode(address)", u))
        calls[("account", u)] = (pool, calldata("getUserAccountData(address)", u))
        for s in SYMBOLS:
            calls[("a", u, s)] = (refs.a_token[s], calldata("scaledBalanceOf(address)", u))
            calls[("v", u, s)] = (refs.variable[s], calldata("scaledBalanceOf(address)", u))
            for key, signature in STABLE_READS:
                calls[(key, u, s)] = (refs.stable[s], calldata(signature, u))
    return calls


def read_aave(
    rpc: Rpc, refs: AaveRefs, calls: dict[Any, tuple[str, str]], users: Sequence[str]
) -> AaveState:
    block, timestamp = rpc.head()
    data = rpc.reads(calls, block)
    raw = {k: words(v) for k, v in data.items() if k != ("emode",)}
    by_symbol = {
        s: aave.ReserveData.from_pool(refs.asset[s], raw[("price", s)][0], raw[("reserve", s)])
        for s in SYMBOLS
    }
    ((ltv, lt, bonus, source, _label),) = decode(
        ["(uint16,uint16,uint16,address,string)"], data[("emode",)]
    )
    prices = {r.asset.lower(): r.price for r in by_symbol.values()}
    emode = aave.EModeCategory(1, ltv, lt, bonus, to_checksum_address(source), 0)
    if emode.price_source != aave.ZERO_ADDRESS:
        emode = aave.EModeCategory(1, ltv, lt, bonus, emode.price_source, prices[source.lower()])
    accounts = {u: _aave_account(raw, u, by_symbol, timestamp) for u in users}
    return AaveState(
        block=block,
        timestamp=timestamp,
        reserves={r.asset: r for r in by_symbol.values()},
        by_symbol=by_symbol,
        emode=emode,
        accounts=accounts,
        onchain={u: tuple(raw[("account", u)]) for u in users},
        raw=raw,
    )


def _aave_account(
    raw: dict[Any, list[int]], who: str, by_symbol: dict[str, aave.ReserveData], timestamp: int
) -> aave.UserAccount:
    config = raw[("config", who)][0]
    positions = []
    for s, r in by_symbol.items():
        borrowing, collateral = aave.decode_user_configuration(config, r.id)
        principal, rate, updated = (raw[(k, who, s)][0] for k in ("sp", "sr", "st"))
        positions.append(
            aave.UserReserve(
                asset=r.asset,
                scaled_a_token_balance=raw[("a", who, s)][0],
                scaled_variable_debt=raw[("v", who, s)][0],
                stable_debt_principal=principal,
                stable_rate=rate,
                stable_last_updated=updated,
                using_as_collateral=collateral,
                borrowing=borrowing,
            )
        )
    return aave.UserAccount(tuple(positions), raw[("emode_of", who)][0])


def compare_aave(state: AaveState, tally: Tally) -> None:
    """Every account's six getUserAccountData fields, indexes and stable balances."""
    for s, r in state.by_symbol.items():
        tally.same(
            f"income {s}",
            aave.get_normalized_income(r, state.timestamp),
            state.raw[("income", s)][0],
        )
        tally.same(
            f"debt index {s}",
            aave.get_normalized_debt(r, state.timestamp),
            state.raw[("debt", s)][0],
        )
    for who in state.accounts:
        for s in SYMBOLS:
            stable = aave.stable_debt_of(state.position(who, s), state.timestamp)
            tally.same(f"stable {who} {s}", stable, state.raw[("sb", who, s)][0])
        tally.same(f"account {who} @{state.block}", state.data(who).as_tuple(), state.onchain[who])
        tally.states += 1


class AaveWalk:
    """Random actions on the Pool by the named accounts, sized from the model's last view."""

    def __init__(self, drv: Driver, refs: AaveRefs, rng: random.Random) -> None:
        self.drv, self.refs, self.rng = drv, refs, rng

    def units(self, state: AaveState, symbol: str, usd_8: int) -> int:
        r = state.by_symbol[symbol]
        return max(usd_8 * 10**r.decimals // r.price, 1)

    def act(self, state: AaveState, who: str) -> None:
        kinds: dict[str, Callable[[AaveState, str], None]] = {
            "supply": self.supply,
            "borrow": self.borrow,
            "repay": self.repay,
            "withdraw": self.withdraw,
            "collateral": self.toggle_collateral,
            "emode": self.set_emode,
        }
        kind = self.rng.choices(list(kinds), weights=(3, 4, 3, 2, 1, 1))[0]
        kinds[kind](state, who)

    def supply(self, state: AaveState, who: str) -> None:
        s = self.rng.choice(SYMBOLS)
        amount = self.units(state, s, int(USD_BUDGET * 10**8 * self.rng.uniform(0.02, 1)))
        self.drv.send(
            self.refs.pool,
            "supply(address,uint256,address,uint16)",
            self.refs.asset[s],
            amount,
            who,
            0,
            who=who,
        )

    def borrow(self, state: AaveState, who: str) -> None:
        s = self.rng.choice(SYMBOLS)
        available = state.data(who).available_borrows_base
        amount = self.units(state, s, int(available * self.rng.uniform(0.1, 1.0)))
        mode = STABLE if self.rng.random() < 0.3 else VARIABLE
        signature = "borrow(address,uint256,uint256,uint16,address)"
        self.drv.send(self.refs.pool, signature, self.refs.asset[s], amount, mode, 0, who, who=who)

    def repay(self, state: AaveState, who: str) -> None:
        owed = [
            (s, mode)
            for s in SYMBOLS
            for mode, debt in (
                (VARIABLE, state.position(who, s).scaled_variable_debt),
                (STABLE, state.position(who, s).stable_debt_principal),
            )
            if debt
        ]
        if not owed:
            return self.supply(state, who)
        s, mode = self.rng.choice(owed)
        pos = state.position(who, s)
        debt = pos.scaled_variable_debt if mode == VARIABLE else pos.stable_debt_principal
        amount = (
            MAX_UINT if self.rng.random() < 0.3 else max(int(debt * self.rng.uniform(0.05, 0.9)), 1)
        )
        self.drv.send(
            self.refs.pool,
            "repay(address,uint256,uint256,address)",
            self.refs.asset[s],
            amount,
            mode,
            who,
            who=who,
        )
        return None

    def withdraw(self, state: AaveState, who: str) -> None:
        held = [s for s in SYMBOLS if state.position(who, s).scaled_a_token_balance]
        if not held:
            return self.supply(state, who)
        s = self.rng.choice(held)
        scaled = state.position(who, s).scaled_a_token_balance
        amount = (
            MAX_UINT
            if self.rng.random() < 0.25
            else max(int(scaled * self.rng.uniform(0.05, 0.6)), 1)
        )
        self.drv.send(
            self.refs.pool,
            "withdraw(address,uint256,address)",
            self.refs.asset[s],
            amount,
            who,
            who=who,
        )
        return None

    def toggle_collateral(self, state: AaveState, who: str) -> None:
        held = [s for s in SYMBOLS if state.position(who, s).scaled_a_token_balance]
        if held:
            s = self.rng.choice(held)
            enabled = state.position(who, s).using_as_collateral
            self.drv.send(
                self.refs.pool,
                "setUserUseReserveAsCollateral(address,bool)",
                self.refs.asset[s],
                not enabled,
                who=who,
            )

    def set_emode(self, state: AaveState, who: str) -> None:
        category = 0 if state.accounts[who].emode_category else 1
        self.drv.send(self.refs.pool, "setUserEMode(uint8)", category, who=who)


def _aave_setup(chain: Devnet, tally: Tally, users: Sequence[str]) -> tuple[Driver, AaveRefs]:
    drv = Driver(chain, tally)
    refs = AaveRefs.of(chain.manifest)
    drv.fund_all([*users, chain.account("searcher")], [refs.pool])
    for s in SYMBOLS:  # stable-rate debt exists in V3.0: turn it on to model it too
        drv.send(
            refs.configurator,
            "setReserveStableRateBorrowing(address,bool)",
            refs.asset[s],
            True,
            who=drv.ctx.deployer,
        )
    return drv, refs


def _emode_price_source(drv: Driver, refs: AaveRefs, source: str) -> None:
    """Point the stablecoin e-mode category at one oracle source (or none)."""
    signature = "setEModeCategory(uint8,uint16,uint16,uint16,address,string)"
    assert drv.send(
        refs.configurator,
        signature,
        1,
        9700,
        9750,
        10100,
        source,
        "Stablecoins",
        who=drv.ctx.deployer,
    )


def test_aave_account_data_matches_the_model(chain: Devnet) -> None:
    tally, rng = Tally(), random.Random(3_001)
    users = [chain.account(u) for u in USERS]
    drv, refs = _aave_setup(chain, tally, users)
    walk, start = AaveWalk(drv, refs, rng), drv.start_prices()
    calls = aave_calls(refs, users)
    state = read_aave(drv.rpc, refs, calls, users)
    for round_ in range(AAVE_ROUNDS):
        if round_ == AAVE_ROUNDS // 2:  # the second half prices e-mode assets by USDC's feed
            _emode_price_source(drv, refs, refs.asset["USDC"])
        for _ in range(rng.randint(1, 3)):
            walk.act(state, rng.choice(users))
        if rng.random() < 0.6:
            drv.move_price(rng, start, 8)
        if rng.random() < 0.35:
            drv.warp(rng.randint(3_600, 120 * 86_400))
        state = read_aave(drv.rpc, refs, calls, users)
        compare_aave(state, tally)
    assert tally.mismatches == [], tally.mismatches[:5]
    assert tally.states >= 500
    print(f"aave: {tally.states} account states, {tally.fields} fields compared")


LIQUIDATION_USERS = (
    *(f"aave_borrower_{i}" for i in range(5)),
    "trader",
    "competitor",
    "relay_signer",
)


@dataclass(frozen=True, slots=True)
class AaveAttempt:
    who: str
    collateral: str  # symbol
    debt: str
    amount: int
    receive_a_token: bool
    timestamp: int


def _open_aave_positions(walk: AaveWalk, state: AaveState, users: Sequence[str]) -> None:
    """Each user supplies one or two assets; the first two go into stablecoin e-mode."""
    rng, refs, drv = walk.rng, walk.refs, walk.drv
    for i, who in enumerate(users):
        for s in rng.sample(SYMBOLS, rng.randint(1, 2)):
            amount = walk.units(state, s, int(USD_BUDGET * 10**8 * rng.uniform(0.2, 1)))
            signature = "supply(address,uint256,address,uint16)"
            drv.send(refs.pool, signature, refs.asset[s], amount, who, 0, who=who)
        if i < 2:
            drv.send(refs.pool, "setUserEMode(uint8)", 1, who=who)


def _borrow_to_the_limit(walk: AaveWalk, state: AaveState, users: Sequence[str]) -> None:
    """Borrow about half of what is left, twice: close to the limit (e-mode: stablecoins)."""
    for who in users:
        data = state.data(who)
        choices = ("USDC", "DAI") if state.accounts[who].emode_category else SYMBOLS
        for s in walk.rng.sample(choices, walk.rng.randint(1, 2)):
            usd = int(data.available_borrows_base * walk.rng.uniform(0.45, 0.55))
            mode = STABLE if walk.rng.random() < 0.2 else VARIABLE
            amount = walk.units(state, s, usd)
            signature = "borrow(address,uint256,uint256,uint16,address)"
            asset = walk.refs.asset[s]
            walk.drv.send(walk.refs.pool, signature, asset, amount, mode, 0, who, who=who)


def _aave_attempt(state: AaveState, rng: random.Random, who: str) -> AaveAttempt | None:
    acc = state.accounts[who]
    by_asset = {r.asset: s for s, r in state.by_symbol.items()}
    debts = [by_asset[p.asset] for p in acc.positions if p.borrowing]
    collaterals = [by_asset[p.asset] for p in acc.positions if p.using_as_collateral]
    if not debts or not collaterals:
        return None
    debt = rng.choice(debts)
    collateral = rng.choice(collaterals) if rng.random() < 0.9 else rng.choice(SYMBOLS)
    pos = state.position(who, debt)
    owed = pos.stable_debt_principal + pos.scaled_variable_debt  # about what is owed
    amount = rng.choice((MAX_UINT, max(int(owed * rng.uniform(0.01, 0.7)), 1), owed))
    return AaveAttempt(
        who,
        collateral,
        debt,
        amount,
        rng.random() < 0.25,
        state.timestamp + rng.randint(1, 3 * 86_400),
    )


def _aave_predict(state: AaveState, attempt: AaveAttempt) -> aave.LiquidationResult | str:
    try:
        return aave.execute_liquidation_call(
            state.reserves,
            state.accounts[attempt.who],
            collateral_asset=state.by_symbol[attempt.collateral].asset,
            debt_asset=state.by_symbol[attempt.debt].asset,
            debt_to_cover=attempt.amount,
            timestamp=attempt.timestamp,
            emode=state.emode,
            receive_a_token=attempt.receive_a_token,
        )
    except aave.LiquidationCallError as exc:
        return exc.code


class AaveLiquidator:
    """Sends predicted liquidationCalls from the searcher and checks what they moved."""

    def __init__(self, drv: Driver, refs: AaveRefs, tally: Tally) -> None:
        self.drv, self.refs, self.tally = drv, refs, tally
        self.searcher = drv.chain.account("searcher")

    def run(self, state: AaveState, attempt: AaveAttempt) -> None:
        model = _aave_predict(state, attempt)
        self.drv.d.rpc("evm_setNextBlockTimestamp", attempt.timestamp)
        data = calldata(
            "liquidationCall(address,address,address,uint256,bool)",
            self.refs.asset[attempt.collateral], self.refs.asset[attempt.debt], attempt.who,
            attempt.amount, attempt.receive_a_token,
        )  # fmt: skip
        try:
            receipt = self.drv.d.send_raw_call(self.refs.pool, data, sender=self.searcher)
        except DeployError as exc:
            self.tally.same(f"{attempt}", _expected(model), _revert_code(str(exc)))
            self.tally.rejections += 1
            return
        self.tally.same(f"{attempt}", _expected(model), "succeeds")
        if isinstance(model, aave.LiquidationResult):
            self.check(attempt, model, receipt)

    def check(
        self, attempt: AaveAttempt, model: aave.LiquidationResult, receipt: dict[str, Any]
    ) -> None:
        refs, label, c, d = self.refs, f"{attempt}", attempt.collateral, attempt.debt
        self.tally.liquidations += 1
        (log,) = logs_with(receipt, LIQUIDATION_CALL)
        debt_covered, collateral_amount = words(bytes.fromhex(log["data"][2:]))[:2]
        self.tally.same(f"{label} debt", model.debt_repaid, debt_covered)
        self.tally.same(f"{label} collateral", model.collateral_to_liquidator, collateral_amount)
        paid = transfers(receipt, refs.asset[d], self.searcher, refs.a_token[d])
        self.tally.same(f"{label} paid", [model.debt_repaid], paid)
        received = (
            transfers(receipt, refs.a_token[c], attempt.who, self.searcher)
            if attempt.receive_a_token
            else transfers(receipt, refs.asset[c], refs.a_token[c], self.searcher)
        )
        self.tally.same(f"{label} received", [model.collateral_to_liquidator], received)
        fee = transfers(receipt, refs.a_token[c], attempt.who, refs.treasury)
        self.tally.same(f"{label} fee", [model.protocol_fee] if model.protocol_fee else [], fee)
        block = self.drv.d.rpc("eth_getBlockByNumber", receipt["blockNumber"], False)
        self.tally.same(f"{label} timestamp", attempt.timestamp, int(block["timestamp"], 16))


def _expected(model: aave.LiquidationResult | str) -> str:
    return f"revert {model}" if isinstance(model, str) else "succeeds"


def _revert_code(message: str) -> str:
    marker = "execution reverted: "
    return "revert " + (message.split(marker, 1)[1].split()[0] if marker in message else message)


def _push_aave_prices(
    drv: Driver, state: AaveState, rng: random.Random, start: dict[str, int]
) -> None:
    """Move one price against a random indebted user: collateral down or debt up."""
    by_asset = {r.asset: s for s, r in state.by_symbol.items()}
    who = rng.choice(list(state.accounts))
    acc = state.accounts[who]
    collateral = [by_asset[p.asset] for p in acc.positions if p.using_as_collateral]
    debts = [by_asset[p.asset] for p in acc.positions if p.borrowing]
    if collateral and (not debts or rng.random() < 0.6):
        _shift(drv, rng.choice(collateral), rng.uniform(0.85, 0.97), start)
    elif debts:
        _shift(drv, rng.choice(debts), rng.uniform(1.03, 1.15), start)


def _shift(drv: Driver, symbol: str, factor: float, start: dict[str, int]) -> None:
    feed = drv.ctx.feeds[symbol]
    moved = int(int(feed.functions.latestAnswer().call()) * factor)
    moved = min(max(moved, start[symbol] * 40 // 100), start[symbol] * 200 // 100)
    drv.d.send(feed.functions.setAnswer(moved))


def test_aave_liquidations_match_the_model(chain: Devnet) -> None:
    tally, rng = Tally(), random.Random(3_002)
    users = [chain.account(u) for u in LIQUIDATION_USERS]
    drv, refs = _aave_setup(chain, tally, users)
    walk, start, liquidator = (
        AaveWalk(drv, refs, rng),
        drv.start_prices(),
        AaveLiquidator(drv, refs, tally),
    )
    calls = aave_calls(refs, users)
    _open_aave_positions(walk, read_aave(drv.rpc, refs, calls, users), users)
    for _ in range(2):
        _borrow_to_the_limit(walk, read_aave(drv.rpc, refs, calls, users), users)
    _emode_price_source(drv, refs, refs.asset["DAI"])
    for _ in range(400):
        if tally.liquidations >= AAVE_LIQUIDATIONS and tally.rejections >= 6:
            break
        state = read_aave(drv.rpc, refs, calls, users)
        open_ = [u for u in users if state.data(u).health_factor < 10**18]
        healthy_try = rng.random() < 0.08
        if (not open_ and not healthy_try) or (open_ and rng.random() < 0.2):  # deeper, too
            _push_aave_prices(drv, state, rng, start)
            continue
        attempt = _aave_attempt(
            state, rng, rng.choice(open_ if open_ and not healthy_try else users)
        )
        if attempt is not None:
            liquidator.run(state, attempt)
    assert tally.mismatches == [], tally.mismatches[:5]
    assert tally.liquidations >= AAVE_LIQUIDATIONS
    print(f"aave: {tally.liquidations} liquidations, {tally.rejections} reverts as predicted")


# -- Venus ------------------------------------------------------------------------------------
VENUS_ROUNDS = 64
VENUS_LIQUIDATIONS = 24
ACCOUNT_BORROWS_SLOT = 16  # VTokenStorageBase.accountBorrows (checked against getters below)
MARKET_READS = (
    ("cash", "getCash()"),
    ("borrows", "totalBorrows()"),
    ("reserves", "totalReserves()"),
    ("supply", "totalSupply()"),
    ("index", "borrowIndex()"),
    ("accrual", "accrualBlockNumber()"),
    ("rf", "reserveFactorMantissa()"),
    ("flash", "flashLoanAmount()"),
    ("rdelta", "reduceReservesBlockDelta()"),
    ("rblock", "reduceReservesBlockNumber()"),
    ("rate", "exchangeRateStored()"),
    ("rate_now", "exchangeRateCurrent()"),
)


@dataclass(frozen=True, slots=True)
class VenusRefs:
    comptroller: str
    oracle: str
    bounded: str
    vtoken: dict[str, str]
    feed: dict[str, str]
    rate_model: dict[str, str]
    initial_rate: dict[str, int]

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> VenusRefs:
        section = manifest["venus"]
        markets = section["markets"]
        return cls(
            comptroller=section["comptroller"],
            oracle=section["oracle"],
            bounded=section["bounded_oracle"],
            vtoken={s: markets[s]["vtoken"] for s in SYMBOLS},
            feed={s: manifest["price_feeds"][s] for s in SYMBOLS},
            rate_model={s: markets[s]["interest_rate_model"] for s in SYMBOLS},
            initial_rate={s: markets[s]["initial_exchange_rate"] for s in SYMBOLS},
        )


def borrow_slot(who: str) -> int:
    key = bytes(12) + bytes.fromhex(who[2:]) + ACCOUNT_BORROWS_SLOT.to_bytes(32, "big")
    return int.from_bytes(keccak(key), "big")


def venus_calls(refs: VenusRefs, users: Sequence[str]) -> dict[Any, tuple[str, str]]:
    calls: dict[Any, tuple[str, str]] = {}
    for s, vt in refs.vtoken.items():
        for key, signature in MARKET_READS:
            calls[(key, s)] = (vt, calldata(signature))
        calls[("price", s)] = (refs.oracle, calldata("getUnderlyingPrice(address)", vt))
        calls[("bounded", s)] = (refs.bounded, calldata("getBoundedPricesView(address)", vt))
        calls[("market", s)] = (refs.comptroller, calldata("markets(address)", vt))
        calls[("feed", s)] = (refs.feed[s], calldata("latestAnswer()"))
    for u in users:
        calls[("in", u)] = (refs.comptroller, calldata("getAssetsIn(address)", u))
        calls[("liq", u)] = (refs.comptroller, calldata("getAccountLiquidity(address)", u))
        calls[("power", u)] = (refs.comptroller, calldata("getBorrowingPower(address)", u))
        for s, vt in refs.vtoken.items():
            calls[("snap", u, s)] = (vt, calldata("getAccountSnapshot(address)", u))
            calls[("borrow_now", u, s)] = (vt, calldata("borrowBalanceCurrent(address)", u))
    return calls


@dataclass(frozen=True, slots=True)
class VenusState:
    block: int
    markets: dict[str, venus.MarketState]
    assets_in: dict[str, list[str]]  # user -> symbols, in getAssetsIn order
    borrows: dict[tuple[str, str], tuple[int, int]]  # (user, symbol) -> principal, interest idx
    raw: dict[Any, list[int]]
    refs: VenusRefs

    def asset(
        self, who: str, s: str, market: venus.MarketState | None = None
    ) -> venus.AccountAsset:
        """The account's snapshot of market `s`, from stored or (given) accrued market state."""
        m = market or self.markets[s]
        principal, interest_index = self.borrows[(who, s)]
        _, cf, _, lt, li, _, _ = self.raw[("market", s)]
        collateral_price, debt_price = self.raw[("bounded", s)]
        return venus.AccountAsset(
            vtoken=self.refs.vtoken[s],
            vtoken_balance=self.raw[("snap", who, s)][1],
            borrow_balance=venus.borrow_balance_stored(principal, interest_index, m.borrow_index),
            exchange_rate=venus.exchange_rate_stored(m),
            price=self.raw[("price", s)][0],
            collateral_factor=cf,
            liquidation_threshold=lt,
            liquidation_incentive=li,
            bounded_collateral_price=collateral_price,
            bounded_debt_price=debt_price,
        )

    def assets(
        self, who: str, accrued: dict[str, venus.MarketState] | None = None
    ) -> list[venus.AccountAsset]:
        accrued = accrued or {}
        return [self.asset(who, s, accrued.get(s)) for s in self.assets_in[who]]


def read_venus(
    rpc: Rpc,
    refs: VenusRefs,
    calls: dict[Any, tuple[str, str]],
    users: Sequence[str],
    models: dict[str, venus.JumpRateModel],
) -> VenusState:
    block, _ = rpc.head()
    data = rpc.reads(calls, block)
    raw = {k: words(v) for k, v in data.items() if k[0] != "in"}
    slots = {}
    for u in users:
        for s, vt in refs.vtoken.items():
            slots[("p", u, s)] = (vt, borrow_slot(u))
            slots[("i", u, s)] = (vt, borrow_slot(u) + 1)
    stored = rpc.storage(slots, block)
    symbol_of = {vt.lower(): s for s, vt in refs.vtoken.items()}
    assets_in = {
        u: [symbol_of[a.lower()] for a in decode(["address[]"], data[("in", u)])[0]] for u in users
    }
    markets = {s: _market_state(raw, s, refs.initial_rate[s], models[s]) for s in SYMBOLS}
    borrows = {(u, s): (stored[("p", u, s)], stored[("i", u, s)]) for u in users for s in SYMBOLS}
    return VenusState(block, markets, assets_in, borrows, raw, refs)


def _market_state(
    raw: dict[Any, list[int]], s: str, initial_rate: int, model: venus.JumpRateModel
) -> venus.MarketState:
    return venus.MarketState(
        cash=raw[("cash", s)][0],
        total_borrows=raw[("borrows", s)][0],
        total_reserves=raw[("reserves", s)][0],
        total_supply=raw[("supply", s)][0],
        borrow_index=raw[("index", s)][0],
        accrual_block_number=raw[("accrual", s)][0],
        reserve_factor=raw[("rf", s)][0],
        initial_exchange_rate=initial_rate,
        rate_model=model,
        flash_loan_amount=raw[("flash", s)][0],
        reduce_reserves_block_delta=raw[("rdelta", s)][0],
        reduce_reserves_block_number=raw[("rblock", s)][0],
    )


def rate_models(drv: Driver, refs: VenusRefs) -> dict[str, venus.JumpRateModel]:
    """The markets' JumpRateModels, read from chain and checked against the constructor math."""
    out = {}
    for s in SYMBOLS:
        fields_ = (
            "baseRatePerBlock()",
            "multiplierPerBlock()",
            "jumpMultiplierPerBlock()",
            "kink()",
        )
        read = drv.rpc.reads(
            {f: (refs.rate_model[s], calldata(f)) for f in fields_}, drv.d.block_number()
        )
        out[s] = venus.JumpRateModel(*(words(read[f])[0] for f in fields_))
        spec = VENUS_MARKETS[s].rates
        assert out[s] == venus.JumpRateModel.from_yearly(
            spec.base, spec.multiplier, spec.jump_multiplier, spec.kink, BLOCKS_PER_YEAR
        )
    return out


def compare_venus(state: VenusState, tally: Tally) -> None:
    """Markets (stored and accrued), every snapshot, getAccountLiquidity and getBorrowingPower."""
    accrued = {s: venus.accrue_interest(m, state.block) for s, m in state.markets.items()}
    raw = state.raw
    for s, m in state.markets.items():
        tally.same(f"rate {s}", venus.exchange_rate_stored(m), raw[("rate", s)][0])
        tally.same(f"rate now {s}", venus.exchange_rate_stored(accrued[s]), raw[("rate_now", s)][0])
        price = venus.chainlink_underlying_price(raw[("feed", s)][0], 8, DECIMALS[s])
        tally.same(f"price {s}", price, raw[("price", s)][0])
    for who, entered in state.assets_in.items():
        for s in SYMBOLS:
            a = state.asset(who, s)
            tally.same(
                f"snapshot {who} {s}",
                [0, a.vtoken_balance, a.borrow_balance, a.exchange_rate],
                raw[("snap", who, s)],
            )
            now = state.asset(who, s, accrued[s]).borrow_balance
            tally.same(f"borrow now {who} {s}", now, raw[("borrow_now", who, s)][0])
        assets = state.assets(who)
        tally.same(
            f"liquidity {who} {entered}",
            [0, *venus.get_account_liquidity(assets)],
            raw[("liq", who)],
        )
        tally.same(
            f"power {who} {entered}", [0, *venus.get_borrowing_power(assets)], raw[("power", who)]
        )
        tally.states += 1


class VenusWalk:
    """Random vToken and comptroller actions by the named accounts."""

    def __init__(self, drv: Driver, refs: VenusRefs, rng: random.Random) -> None:
        self.drv, self.refs, self.rng = drv, refs, rng

    def units(self, state: VenusState, s: str, usd_18: int) -> int:
        return max(usd_18 * 10**18 // state.raw[("price", s)][0], 1)

    def act(self, state: VenusState, who: str) -> None:
        kinds: dict[str, Callable[[VenusState, str], None]] = {
            "mint": self.mint,
            "borrow": self.borrow,
            "repay": self.repay,
            "redeem": self.redeem,
            "enter": self.enter,
            "exit": self.exit,
        }
        kind = self.rng.choices(list(kinds), weights=(3, 4, 3, 2, 2, 1))[0]
        kinds[kind](state, who)

    def mint(self, state: VenusState, who: str) -> None:
        s = self.rng.choice(SYMBOLS)
        amount = self.units(state, s, int(USD_BUDGET * 10**18 * self.rng.uniform(0.02, 1)))
        self.drv.send(self.refs.vtoken[s], "mint(uint256)", amount, who=who)

    def borrow(self, state: VenusState, who: str) -> None:
        s = self.rng.choice(SYMBOLS)
        power, _ = venus.get_borrowing_power(state.assets(who))
        amount = self.units(state, s, int(power * self.rng.uniform(0.1, 1.0)))
        self.drv.send(self.refs.vtoken[s], "borrow(uint256)", amount, who=who)

    def repay(self, state: VenusState, who: str) -> None:
        owed = [s for s in SYMBOLS if state.borrows[(who, s)][0]]
        if not owed:
            return self.mint(state, who)
        s = self.rng.choice(owed)
        debt = state.borrows[(who, s)][0]
        amount = (
            MAX_UINT if self.rng.random() < 0.3 else max(int(debt * self.rng.uniform(0.05, 0.9)), 1)
        )
        self.drv.send(self.refs.vtoken[s], "repayBorrow(uint256)", amount, who=who)
        return None

    def redeem(self, state: VenusState, who: str) -> None:
        held = [s for s in SYMBOLS if state.raw[("snap", who, s)][1]]
        if not held:
            return self.mint(state, who)
        s = self.rng.choice(held)
        tokens = max(int(state.raw[("snap", who, s)][1] * self.rng.uniform(0.05, 1.0)), 1)
        self.drv.send(self.refs.vtoken[s], "redeem(uint256)", tokens, who=who)
        return None

    def enter(self, state: VenusState, who: str) -> None:
        markets = self.rng.sample(SYMBOLS, self.rng.randint(1, 2))
        self.drv.send(
            self.refs.comptroller,
            "enterMarkets(address[])",
            [self.refs.vtoken[s] for s in markets],
            who=who,
        )

    def exit(self, state: VenusState, who: str) -> None:
        if state.assets_in[who]:
            s = self.rng.choice(state.assets_in[who])
            self.drv.send(
                self.refs.comptroller, "exitMarket(address)", self.refs.vtoken[s], who=who
            )


def _venus_setup(
    chain: Devnet, tally: Tally, users: Sequence[str]
) -> tuple[Driver, VenusRefs, dict[str, venus.JumpRateModel]]:
    drv = Driver(chain, tally)
    refs = VenusRefs.of(chain.manifest)
    drv.fund_all([*users, chain.account("searcher")], list(refs.vtoken.values()))
    _check_storage_layout(drv, refs)
    return drv, refs, rate_models(drv, refs)


def _check_storage_layout(drv: Driver, refs: VenusRefs) -> None:
    """accountBorrows is slot 16 when accrualBlockNumber, borrowIndex, totalSupply are 9, 10, 13."""
    vt = refs.vtoken["USDC"]
    block = drv.d.block_number()
    getters = drv.rpc.reads({k: (vt, calldata(sig)) for k, sig in MARKET_READS[3:6]}, block)
    slots = drv.rpc.storage({"supply": (vt, 13), "index": (vt, 10), "accrual": (vt, 9)}, block)
    assert {k: words(v)[0] for k, v in getters.items()} == slots


def test_venus_account_liquidity_matches_the_model(chain: Devnet) -> None:
    tally, rng = Tally(), random.Random(3_003)
    users = [chain.account(u) for u in VENUS_USERS]
    drv, refs, models = _venus_setup(chain, tally, users)
    walk, start = VenusWalk(drv, refs, rng), drv.start_prices()
    calls = venus_calls(refs, users)
    state = read_venus(drv.rpc, refs, calls, users, models)
    for _ in range(VENUS_ROUNDS):
        for _ in range(rng.randint(1, 3)):
            walk.act(state, rng.choice(users))
        if rng.random() < 0.6:
            drv.move_price(rng, start, 8)
        if rng.random() < 0.3:
            drv.d.mine(rng.randint(1, 4))
        state = read_venus(drv.rpc, refs, calls, users, models)
        compare_venus(state, tally)
    assert tally.mismatches == [], tally.mismatches[:5]
    assert tally.states >= 500
    print(f"venus: {tally.states} account states, {tally.fields} fields")


@dataclass(frozen=True, slots=True)
class VenusAttempt:
    who: str
    borrowed: str  # symbols
    collateral: str
    repay: int


def _open_venus_positions(
    walk: VenusWalk, users: Sequence[str], models: dict[str, venus.JumpRateModel]
) -> None:
    rng, refs, drv = walk.rng, walk.refs, walk.drv
    calls = venus_calls(refs, users)
    state = read_venus(drv.rpc, refs, calls, users, models)
    for who in users:
        chosen = rng.sample(SYMBOLS, rng.randint(1, 2))
        for s in chosen:
            amount = walk.units(state, s, int(USD_BUDGET * 10**18 * rng.uniform(0.2, 1)))
            drv.send(refs.vtoken[s], "mint(uint256)", amount, who=who)
        drv.send(
            refs.comptroller, "enterMarkets(address[])", [refs.vtoken[s] for s in chosen], who=who
        )
    for _ in range(2):
        state = read_venus(drv.rpc, refs, calls, users, models)
        for who in users:
            power, _ = venus.get_borrowing_power(state.assets(who))
            s = rng.choice(SYMBOLS)
            amount = walk.units(state, s, int(power * rng.uniform(0.6, 0.95)))
            drv.send(refs.vtoken[s], "borrow(uint256)", amount, who=who)


def _venus_attempt(
    state: VenusState, rng: random.Random, who: str, close_factor: int
) -> VenusAttempt | None:
    owed = [s for s in SYMBOLS if state.borrows[(who, s)][0]]
    held = [s for s in state.assets_in[who] if state.raw[("snap", who, s)][1]]
    if not owed or not held:
        return None
    borrowed = rng.choice(owed)
    collateral = rng.choice(held) if rng.random() < 0.9 else rng.choice(SYMBOLS)
    accrued = venus.accrue_interest(state.markets[borrowed], state.block + 1)
    cap = venus.max_close(state.asset(who, borrowed, accrued).borrow_balance, close_factor)
    repay = rng.choice((cap, cap + 1, max(int(cap * rng.uniform(0.05, 1)), 1), max(cap // 1000, 1)))
    return VenusAttempt(who, borrowed, collateral, repay)


def _venus_predict(
    state: VenusState, attempt: VenusAttempt, close_factor: int
) -> venus.SeizeResult | str:
    """The liquidation's block accrues both markets first: model it at block + 1."""
    accrued = {
        s: venus.accrue_interest(state.markets[s], state.block + 1)
        for s in {attempt.borrowed, attempt.collateral}
    }
    try:
        return venus.liquidate_borrow(
            state.assets(attempt.who, accrued),
            vtoken_borrowed=state.refs.vtoken[attempt.borrowed],
            collateral=state.asset(attempt.who, attempt.collateral, accrued[attempt.collateral]),
            repay_amount=attempt.repay,
            close_factor=close_factor,
        )
    except venus.LiquidationRejected as exc:
        # Comptroller rejections come back as a Failure log; the rest revert the transaction.
        if exc.code in (venus.INSUFFICIENT_SHORTFALL, venus.TOO_MUCH_REPAY):
            return f"failure {exc.code}"
        return "revert"


class VenusLiquidator:
    def __init__(self, drv: Driver, refs: VenusRefs, tally: Tally, close_factor: int) -> None:
        self.drv, self.refs, self.tally, self.close_factor = drv, refs, tally, close_factor
        self.searcher = drv.chain.account("searcher")

    def run(self, state: VenusState, attempt: VenusAttempt) -> None:
        model = _venus_predict(state, attempt, self.close_factor)
        vt = self.refs.vtoken
        data = calldata(
            "liquidateBorrow(address,uint256,address)",
            attempt.who,
            attempt.repay,
            vt[attempt.collateral],
        )
        try:
            receipt = self.drv.d.send_raw_call(vt[attempt.borrowed], data, sender=self.searcher)
        except DeployError:
            self.tally.same(f"{attempt}", model, "revert")
            self.tally.rejections += 1
            return
        self.tally.same(f"{attempt} block", state.block + 1, int(receipt["blockNumber"], 16))
        failures = logs_with(receipt, FAILURE)
        if failures:
            self.tally.same(
                f"{attempt}", model, f"failure {words(bytes.fromhex(failures[0]['data'][2:]))[2]}"
            )
            self.tally.rejections += 1
            return
        if isinstance(model, str):
            self.tally.same(f"{attempt}", model, "succeeds")
            return
        self.check(attempt, model, receipt)

    def check(
        self, attempt: VenusAttempt, model: venus.SeizeResult, receipt: dict[str, Any]
    ) -> None:
        self.tally.liquidations += 1
        (log,) = logs_with(receipt, LIQUIDATE_BORROW)
        fields_ = words(bytes.fromhex(log["data"][2:]))
        self.tally.same(f"{attempt} repay", model.repay_amount, fields_[2])
        self.tally.same(f"{attempt} seize", model.seize_tokens, fields_[4])
        vt = self.refs.vtoken[attempt.collateral]
        self.tally.same(
            f"{attempt} seized",
            [model.seize_tokens],
            transfers(receipt, vt, attempt.who, self.searcher),
        )
        underlying = self.drv.ctx.tokens[attempt.borrowed].address
        paid = transfers(receipt, underlying, self.searcher, self.refs.vtoken[attempt.borrowed])
        self.tally.same(f"{attempt} paid", [model.repay_amount], paid)


def _push_venus_prices(
    drv: Driver, state: VenusState, rng: random.Random, start: dict[str, int]
) -> None:
    who = rng.choice(list(state.assets_in))
    collateral = [s for s in state.assets_in[who] if state.raw[("snap", who, s)][1]]
    debts = [s for s in SYMBOLS if state.borrows[(who, s)][0]]
    if collateral and (not debts or rng.random() < 0.6):
        _shift(drv, rng.choice(collateral), rng.uniform(0.85, 0.97), start)
    elif debts:
        _shift(drv, rng.choice(debts), rng.uniform(1.03, 1.15), start)


def test_venus_liquidations_match_the_model(chain: Devnet) -> None:
    tally, rng = Tally(), random.Random(3_004)
    users = [chain.account(u) for u in VENUS_USERS]
    drv, refs, models = _venus_setup(chain, tally, users)
    close_factor = words(
        drv.rpc.reads(
            {0: (refs.comptroller, calldata("closeFactorMantissa()"))}, drv.d.block_number()
        )[0]
    )[0]
    walk, start = VenusWalk(drv, refs, rng), drv.start_prices()
    liquidator = VenusLiquidator(drv, refs, tally, close_factor)
    _open_venus_positions(walk, users, models)
    calls = venus_calls(refs, users)
    for _ in range(400):
        if tally.liquidations >= VENUS_LIQUIDATIONS and tally.rejections >= 6:
            break
        state = read_venus(drv.rpc, refs, calls, users, models)
        open_ = [u for u in users if venus.get_account_liquidity(state.assets(u))[1]]
        healthy_try = rng.random() < 0.08
        if (not open_ and not healthy_try) or (open_ and rng.random() < 0.15):
            _push_venus_prices(drv, state, rng, start)
            continue
        attempt = _venus_attempt(
            state, rng, rng.choice(open_ if open_ and not healthy_try else users), close_factor
        )
        if attempt is not None:
            liquidator.run(state, attempt)
    assert tally.mismatches == [], tally.mismatches[:5]
    assert tally.liquidations >= VENUS_LIQUIDATIONS
    print(f"venus: {tally.liquidations} liquidations, {tally.rejections} rejections as predicted")
