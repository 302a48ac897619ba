"""Liquidation strategies for Aave V3 and Venus: pure, sized on the exact models.

For each account whose exact health is below one, every (debt asset, collateral asset) pair is
sized: the repayment `x` is searched (liquidation_sizing.maximize) on the market's own seize
math (Aave executeLiquidationCall: close factor, bonus, protocol fee; Venus liquidateBorrow at
the next block's accrual, then the redeem of the seized vTokens), the collateral's sale back to
the debt asset along the router's best route, the cheapest flash loan the route leaves usable,
and gas at the block's price in the debt asset. The best pair with a positive net becomes one
Opportunity: loan -> liquidation -> sale, profit in the debt asset.

`process(deltas, view, block)` looks at the accounts whose entries changed and, for a changed
price or reserve, at every account it knows holding that asset; `evaluate(accounts, ...)` is
the health monitor's direct entry. Batching lives in liquidation_batch.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Final

from tallyio.core.opportunity import BlockContext, Kind, Opportunity
from tallyio.core.plan import AaveLiquidation, Action, Plan
from tallyio.core.plan import VenusLiquidation as VenusLiquidationCall
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.protocols.aave_v3_math import AaveMathError, percent_mul
from tallyio.protocols.venus_liquidator import VenusLiquidator, liquidator_seizure
from tallyio.state.lending_keys import close_factor_key, treasury_percent_key
from tallyio.state.positions import (
    AaveMarketRef,
    VenusRef,
    aave_inputs,
    account_key,
    reserve_key,
    venus_assets,
)
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation_pair import Model, better, price_candidate, size_pair
from tallyio.strategies.liquidation_sizing import BPS, Candidate, LiquidationConfig

__all__ = ["AaveV3Liquidation", "VenusLiquidation", "price_candidate", "size_pair"]

HF_ONE: Final = 10**18


# -- the shared Strategy shape ------------------------------------------------------------------
class _LendingLiquidation:
    name: str
    protocol: str
    market: str

    def __init__(self, config: LiquidationConfig, accounts: Iterable[str] = ()) -> None:
        self.config = config
        self.known: set[str] = {a.lower() for a in accounts}

    def sync(self, view: StateView) -> None:
        """Nothing to rebuild: every answer is read from `view` when asked; sales prepared on
        the state before it (prepared_route.py) are dropped."""
        clear = getattr(self.config.router, "clear", None)
        if clear is not None:
            clear()

    def prepare_sales(self, accounts: Iterable[str], view: StateView, block: BlockContext) -> None:
        """Idle time: have the router find the paths these accounts' collateral would be sold
        along (up to all of it, 1% room for interest), before any of them goes under."""
        for _ in self.sale_steps(accounts, view, block):
            pass

    def sale_steps(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> Iterator[None]:
        """`prepare_sales` one sale path search at a time (the engine yields between them)."""
        prepare = getattr(self.config.router, "prepare", None)
        if prepare is None:
            return
        most: dict[tuple[str, str], int] = {}
        for user in dict.fromkeys(a.lower() for a in accounts):
            for pair, held in self._sales(view, user, block):
                most[pair] = max(most.get(pair, 0), held + held // 100)
        yield
        vault = self.config.balancer_vault.lower()
        excludes = [frozenset(), *([frozenset({vault})] if vault else [])]
        for (coll, debt), held in most.items():
            for exclude in excludes:
                prepare(view, coll, debt, held, exclude)
                yield

    def forget(self, deltas: Sequence[Delta]) -> None:
        """A block's deltas: prepared sales go stale when a pool moves."""
        forget = getattr(self.config.router, "forget", None)
        if forget is not None:
            forget(deltas)

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return self.evaluate(self._touched(deltas, view), view, block)

    def evaluate(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """The best liquidation of each liquidatable account in `accounts`, most net first."""
        out = []
        for user in dict.fromkeys(a.lower() for a in accounts):
            best = self.best(user, view, block)
            if best is not None and best.net > 0:
                out.append(self._opportunity(user, best, block))
        # net in wei, so accounts owing different tokens compare
        return sorted(out, key=lambda o: -o.net_profit(block.gas_price) * 10**18 // o.eth_price)

    def _touched(self, deltas: Sequence[Delta], view: StateView) -> list[str]:
        users: list[str] = []
        assets: set[str] = set()
        for d in deltas:
            key = d.key
            if not (isinstance(key, tuple) and len(key) == 4 and key[1:3] == (
                    self.protocol, self.market)):  # fmt: skip
                continue
            if key[0] == "account":
                self.known.add(key[3])
                users.append(key[3])
            elif key[0] in ("price", "reserve"):
                assets.add(key[3])
        if assets:
            users += [u for u in sorted(self.known) if self._holds(view, u, assets)]
        return users

    def _opportunity(self, user: str, c: Candidate, block: BlockContext) -> Opportunity:
        cfg, eth_price = self.config, block.eth_price(c.debt_asset)
        assert eth_price is not None  # a candidate exists only where gas could be priced
        cost = c.profit - c.net
        floor = max(cost, c.profit * cfg.min_profit_bps // BPS)
        sale = c.sale.actions if c.sale is not None else ()
        plan = Plan(
            (self._action(user, c), *sale), c.debt_asset, min(floor, c.profit), c.flash.loan
        )
        touches = {self.market, user, c.flash.loan.lender, *(c.sale.touches if c.sale else ())}
        return Opportunity(
            strategy=self.name,
            kind=Kind.LIQUIDATION,
            chain_id=block.chain_id,
            block=block.block,
            plan=plan,
            expected_profit=c.profit,
            gas_estimate=c.gas,
            eth_price=eth_price,
            touches=frozenset(touches),
            notional_usd=self._usd(c.debt_asset, c.repaid, block),
            flash_loan_usd=self._usd(c.debt_asset, c.amount, block),
            detail={
                "market": self.market, "borrower": user, "debt_asset": c.debt_asset,
                "collateral_asset": c.collateral_asset, "amount": c.amount, "repaid": c.repaid,
                "seized": c.seized, "sale_out": c.sale.amount_out if c.sale else c.seized,
                "flash_fee": c.flash.fee, "net_profit": c.net, "lender": c.flash.loan.lender,
                "flash_source": int(c.flash.loan.source),
            },
        )  # fmt: skip

    # Per protocol:
    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None:
        raise NotImplementedError

    def _sales(
        self, view: StateView, user: str, block: BlockContext
    ) -> list[tuple[tuple[str, str], int]]:
        """((collateral, debt asset), collateral held) for each sale a liquidation may need."""
        raise NotImplementedError

    def _holds(self, view: StateView, user: str, assets: set[str]) -> bool:
        raise NotImplementedError

    def _action(self, user: str, c: Candidate) -> Action:
        raise NotImplementedError

    def _usd(self, token: str, amount: int, block: BlockContext) -> int:
        raise NotImplementedError


# -- Aave V3 ------------------------------------------------------------------------------------
class AaveV3Liquidation(_LendingLiquidation):
    """Liquidations on one Aave V3 Pool (`liquidationCall`, collateral received as underlying).

    Sized at the block's timestamp: later, debt and collateral have only grown, so the close
    factor cap and the collateral balance the plan relies on still hold when it lands.
    """

    name = "aave_v3_liquidation"
    protocol = "aave_v3"

    def __init__(
        self, market: AaveMarketRef, config: LiquidationConfig, accounts: Iterable[str] = (),
        base_unit: int = 10**8,
    ) -> None:  # fmt: skip
        super().__init__(config, accounts)
        self.ref, self.market, self.base_unit = market, market.pool.lower(), base_unit
        self._decimals: dict[str, int] = {}
        self._prices: dict[str, int] = {}

    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None:
        account = view.get(account_key("aave_v3", self.market, user))
        if account is None:
            return None
        reserves, emodes = aave_inputs(view.get, self.ref)
        self._decimals = {a: r.decimals for a, r in reserves.items()}
        self._prices = {a: r.price for a, r in reserves.items()}
        emode, ts = emodes.get(account.emode_category), block.timestamp
        hf = aave.calculate_user_account_data(reserves, account, ts, emode).health_factor
        if hf >= HF_ONE:
            return None
        debts = [p for p in account.positions if p.borrowing]
        colls = [p for p in account.positions if p.using_as_collateral and p.scaled_a_token_balance]
        best: Candidate | None = None
        for d in debts:
            owed = aave.ray_mul(d.scaled_variable_debt, aave.get_normalized_debt(
                reserves[d.asset], ts)) + aave.stable_debt_of(d, ts)  # fmt: skip
            hi = percent_mul(owed, aave.close_factor(hf))
            for c in colls:
                model = _aave_model(reserves, account, emode, ts, (d.asset, c.asset))
                pair = (d.asset, c.asset)
                found = size_pair(self.config, view, block, pair, hi, model,
                                  self.config.gas.aave_liquidation)  # fmt: skip
                best = better(best, found)
        return best

    def _holds(self, view: StateView, user: str, assets: set[str]) -> bool:
        account = view.get(account_key("aave_v3", self.market, user))
        return account is not None and any(p.asset in assets for p in account.positions)

    def _sales(
        self, view: StateView, user: str, block: BlockContext
    ) -> list[tuple[tuple[str, str], int]]:
        account = view.get(account_key("aave_v3", self.market, user))
        if account is None:
            return []
        reserves, _ = aave_inputs(view.get, self.ref)
        debts = [p.asset for p in account.positions if p.borrowing]
        out = []
        for c in account.positions:
            if c.using_as_collateral and c.scaled_a_token_balance and c.asset in reserves:
                income = aave.get_normalized_income(reserves[c.asset], block.timestamp)
                held = aave.ray_mul(c.scaled_a_token_balance, income)
                out += [((c.asset, d), held) for d in debts if d != c.asset]
        return out

    def _action(self, user: str, c: Candidate) -> Action:
        return AaveLiquidation(self.ref.pool, c.collateral_asset, c.debt_asset, user, c.amount)

    def _usd(self, token: str, amount: int, block: BlockContext) -> int:
        unit = 10 ** self._decimals.get(token, 18)
        return amount * self._prices.get(token, 0) // (unit * self.base_unit)


def _aave_model(
    reserves: dict[str, aave.ReserveData], account: aave.UserAccount,
    emode: aave.EModeCategory | None, ts: int, pair: tuple[str, str],
) -> Model:  # fmt: skip
    def model(x: int) -> tuple[int, int] | None:
        try:
            r = aave.execute_liquidation_call(
                reserves, account, collateral_asset=pair[1], debt_asset=pair[0],
                debt_to_cover=x, timestamp=ts, emode=emode,
            )  # fmt: skip
        except (aave.LiquidationCallError, AaveMathError):
            return None
        return r.debt_repaid, r.collateral_to_liquidator

    return model


# -- Venus --------------------------------------------------------------------------------------
class VenusLiquidation(_LendingLiquidation):
    """Liquidations on one Venus core pool (liquidateBorrow, then redeem of the seized vTokens).

    Sized at the next block: liquidateBorrow accrues the borrowed and the collateral market
    first. The close factor (Comptroller.closeFactorMantissa) is the state's (the config's
    where the state has none); so is the redeem fee (Comptroller.treasuryPercent, 0 if absent).
    With a `liquidator` (the comptroller's liquidatorContract, as on BNB Chain) the plan goes
    through it and is sized on what it leaves us: the seizure less the treasury's cut of the
    bonus, redeemed after the treasury's own redeem.
    """

    name = "venus_liquidation"
    protocol = "venus"
    # The Liquidator's own work on top of the direct call (VAI checks, the split, the treasury's
    # redeem and transfer to the share reserve): 970,633 - 709,342 gas in the forge fork suite.
    LIQUIDATOR_GAS: Final = 262_000
    # A redeem fee's transfer to the comptroller's treasury (a new balance slot) and RedeemFee,
    # on the devnet: +34,389 gas direct, +44,878 through the Liquidator (both redeems pay it).
    REDEEM_FEE_GAS: Final = (35_000, 45_000)

    def __init__(
        self, ref: VenusRef, config: LiquidationConfig, accounts: Iterable[str] = (), *,
        liquidator: VenusLiquidator | None = None,
    ) -> None:  # fmt: skip
        super().__init__(config, accounts)
        self.ref, self.market = ref, ref.comptroller.lower()
        self.liquidator = liquidator
        self.underlying = {m.vtoken.lower(): m.underlying.lower() for m in ref.markets}
        self._prices: dict[str, int] = {}

    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None:
        account = view.get(account_key("venus", self.market, user))
        if account is None:
            return None
        stored = venus_assets(view.get, self.ref, account)
        self._prices = {self.underlying[a.vtoken]: a.price for a in stored}
        if venus.get_hypothetical_account_liquidity(stored).shortfall == 0:
            return None
        best: Candidate | None = None
        for b in (a for a in stored if a.borrow_balance):
            for c in (a for a in stored if a.vtoken_balance):
                best = better(best, self._pair(view, block, account, b.vtoken, c.vtoken))
        return best

    def _close_factor(self, view: StateView) -> int:
        """The comptroller's closeFactorMantissa as the state follows it (snapshot, then
        NewCloseFactor events); the configured one where the state has none."""
        followed = view.get(close_factor_key(self.market))
        return int(followed) if followed is not None else self.config.venus_close_factor

    def _pair(
        self, view: StateView, block: BlockContext, account: Any, borrowed: str, coll: str
    ) -> Candidate | None:
        accrued: dict[Any, Any] = {}
        for vt in {borrowed, coll}:
            key = reserve_key("venus", self.market, vt)
            market = view.get(key)
            accrued[key] = replace(
                market, state=venus.accrue_interest(market.state, block.block + 1)
            )
        assets = venus_assets(lambda k: accrued.get(k) or view.get(k), self.ref, account)
        b = next(a for a in assets if a.vtoken == borrowed)
        c = next(a for a in assets if a.vtoken == coll)
        ratio = venus.div_exp(venus.mul_exp(c.liquidation_incentive, b.price),
                              venus.mul_exp(c.price, c.exchange_rate))  # fmt: skip
        seize_cap = ((c.vtoken_balance + 1) * venus.EXP_SCALE - 1) // ratio if ratio else 0
        cf, fee = self._close_factor(view), int(view.get(treasury_percent_key(self.market)) or 0)
        hi = min(venus.max_close(b.borrow_balance, cf), seize_cap)
        coll_market = accrued[reserve_key("venus", self.market, coll)].state

        def model(x: int) -> tuple[int, int] | None:
            try:
                r = venus.liquidate_borrow(
                    assets, vtoken_borrowed=borrowed, collateral=c, repay_amount=x, close_factor=cf
                )
            except (venus.ComptrollerError, ZeroDivisionError):
                return None
            repaid_in = x if coll == borrowed else 0  # the repay lands in the same market
            got = self._redeemed(coll_market, repaid_in, r.seize_tokens, c, fee)
            return None if got is None else (x, got)

        pair = (self.underlying[borrowed], self.underlying[coll])
        gas = self.config.gas.venus_liquidation + (self.LIQUIDATOR_GAS if self.liquidator else 0)
        gas += self.REDEEM_FEE_GAS[self.liquidator is not None] if fee else 0
        found = size_pair(self.config, view, block, pair, hi, model, gas)
        return None if found is None else replace(found, target=coll)

    def _redeemed(
        self, market: venus.MarketState, repaid_in: int, seize_tokens: int,
        c: venus.AccountAsset, fee: int = 0,
    ) -> int | None:  # fmt: skip
        """The underlying our redeem of the seized vTokens pays us, less the comptroller's
        redeem fee (`fee`, its treasuryPercent); None if the market cannot pay it out."""
        if self.liquidator is None:
            got = venus.mul_scalar_truncate(c.exchange_rate, seize_tokens)  # redeemFresh
            return None if got > market.cash + repaid_in else venus.redeem_fee(got, fee)[1]
        market = replace(market, cash=market.cash + repaid_in,
                         total_borrows=market.total_borrows - repaid_in)  # fmt: skip
        split = liquidator_seizure(market, seize_tokens, c.liquidation_incentive,
                                   self.liquidator.treasury_percent, fee)  # fmt: skip
        return None if split is None else split.redeemed

    def _holds(self, view: StateView, user: str, assets: set[str]) -> bool:
        account = view.get(account_key("venus", self.market, user))
        if account is None:
            return False
        held = set(account.assets_in) | {p.vtoken for p in account.positions}
        return not held.isdisjoint(assets)

    def _sales(
        self, view: StateView, user: str, block: BlockContext
    ) -> list[tuple[tuple[str, str], int]]:
        account = view.get(account_key("venus", self.market, user))
        if account is None:
            return []
        stored = venus_assets(view.get, self.ref, account)
        debts = [self.underlying[a.vtoken] for a in stored if a.borrow_balance]
        out = []
        for c in (a for a in stored if a.vtoken_balance):
            coll = self.underlying[c.vtoken]
            held = venus.mul_scalar_truncate(c.exchange_rate, c.vtoken_balance)
            out += [((coll, d), held) for d in debts if d != coll]
        return out

    def _action(self, user: str, c: Candidate) -> Action:
        vtoken = {u: v for v, u in self.underlying.items()}[c.debt_asset]
        if self.liquidator is None:
            return VenusLiquidationCall(vtoken, c.debt_asset, user, c.target, c.amount)
        return VenusLiquidationCall(
            vtoken, c.debt_asset, user, c.target, c.amount, self.liquidator.address
        )

    def _usd(self, token: str, amount: int, block: BlockContext) -> int:
        return amount * self._prices.get(token, 0) // 10**36
