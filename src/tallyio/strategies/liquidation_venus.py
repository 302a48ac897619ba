"""Venus core-pool liquidations: liquidateBorrow (directly, or through the Liquidator contract
where the comptroller has one), then the redeem of the seized vTokens, sized on the exact
models at the next block's accrual, with the close factor and the redeem fee the state follows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from tallyio.core.opportunity import BlockContext
from tallyio.core.plan import Action
from tallyio.core.plan import VenusLiquidation as VenusLiquidationCall
from tallyio.protocols import venus
from tallyio.protocols.venus_liquidator import VenusLiquidator, liquidator_seizure
from tallyio.state.lending_keys import close_factor_key, treasury_percent_key
from tallyio.state.positions import (
    VenusRef,
    account_key,
    reserve_key,
    venus_assets,
)
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_base import LendingLiquidation
from tallyio.strategies.liquidation_pair import better
from tallyio.strategies.liquidation_sizing import Candidate, LiquidationConfig


# -- Venus --------------------------------------------------------------------------------------
class VenusLiquidation(LendingLiquidation):
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
        found = self._size(view, block, pair, hi, model, gas)
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
