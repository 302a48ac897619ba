"""Compound V3 (Comet) liquidation: absorb the account, then buy its collateral at a discount.

Model level only: the devnet has no Comet and TallyExecutor has no absorb / buyCollateral
action yet, so this strategy returns `CometLiquidation` values (what to absorb, which
collateral to buy for how much base, the sale and the profit) rather than executable Plans.

absorb(account) moves the underwater account's collateral to the protocol (the absorber earns
only points); buyCollateral(asset, base) then sells collateral at quoteCollateral's discounted
price while the reserves are below target. Profit of paying `base` is
`sale(quote(base)) - base - flash fee - gas`, searched like the other liquidations over
[1, the base that buys all the collateral the protocol holds after the absorb].

State keys (lowercase addresses): ("comet", comet) -> CometMarket, ("comet_prices", comet) ->
CometPrices, ("comet_reserves", comet) -> (reserves, target reserves) in base units,
("comet_collateral", comet, asset) -> the protocol's collateral balance before the absorb,
("account", "compound_v3", comet, user) -> CometAccount.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from tallyio.core.opportunity import BlockContext
from tallyio.protocols import compound_v3 as comet
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation_route import SaleQuote
from tallyio.strategies.liquidation_sizing import (
    FlashChoice,
    LiquidationConfig,
    cheapest_loan,
    gas_cost,
    maximize,
)

__all__ = ["ABSORB_GAS", "BUY_COLLATERAL_GAS", "CometLiquidation", "CompoundV3Liquidation"]

ABSORB_GAS: Final = 180_000  # per account, an estimate from the spec (no bytecode to measure)
BUY_COLLATERAL_GAS: Final = 110_000


@dataclass(frozen=True, slots=True)
class CometLiquidation:
    comet: str
    account: str
    asset: str  # collateral bought
    base_amount: int  # base paid to buyCollateral (and borrowed)
    collateral: int  # collateral received (quoteCollateral)
    sale: SaleQuote
    flash: FlashChoice
    profit: int  # base units, before gas
    gas: int
    net: int


class CompoundV3Liquidation:
    """The best absorb + buyCollateral per liquidatable account of one Comet market."""

    name = "compound_v3_liquidation"

    def __init__(self, market: str, config: LiquidationConfig, accounts: Iterable[str] = ()):
        self.market, self.config = market.lower(), config
        self.known: set[str] = {a.lower() for a in accounts}

    def sync(self, view: StateView) -> None:
        """Nothing to rebuild: every answer is read from `view` when asked."""

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[CometLiquidation]:
        users: list[str] = []
        for d in deltas:
            key = d.key
            if key == ("comet_prices", self.market):
                users += sorted(self.known)
            elif isinstance(key, tuple) and key[:3] == ("account", "compound_v3", self.market):
                self.known.add(key[3])
                users.append(key[3])
        return self.evaluate(users, view, block)

    def evaluate(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> list[CometLiquidation]:
        found = [self.best(u, view, block) for u in dict.fromkeys(a.lower() for a in accounts)]
        return sorted((f for f in found if f is not None and f.net > 0), key=lambda f: -f.net)

    def best(self, user: str, view: StateView, block: BlockContext) -> CometLiquidation | None:
        market: comet.CometMarket | None = view.get(("comet", self.market))
        prices: comet.CometPrices | None = view.get(("comet_prices", self.market))
        account = view.get(("account", "compound_v3", self.market, user))
        reserves = view.get(("comet_reserves", self.market))
        if market is None or prices is None or account is None or reserves is None:
            return None
        if not comet.is_liquidatable(account, market, prices):
            return None
        if reserves[0] >= reserves[1]:
            return None  # buyCollateral reverts NotForSale at or above target reserves
        absorbed = comet.absorb(account, market, prices)
        best: CometLiquidation | None = None
        for info in market.assets:
            held = view.get(("comet_collateral", self.market, info.asset.lower()), 0)
            available = held + absorbed.seized[info.offset]
            if available:
                found = self._size(view, block, market, prices, info, available, user)
                if found is not None and (best is None or found.net > best.net):
                    best = found
        return best

    def _size(
        self, view: StateView, block: BlockContext, market: comet.CometMarket,
        prices: comet.CometPrices, info: comet.AssetInfo, available: int, user: str,
    ) -> CometLiquidation | None:  # fmt: skip
        found: dict[int, CometLiquidation | None] = {}
        base, asset = market.base_token.lower(), info.asset.lower()

        def net(x: int) -> int | None:
            got = comet.quote_collateral(info, x, market, prices)
            found[x] = None if not 0 < got <= available else self._price(
                view, block, base, asset, x, got, user)  # fmt: skip
            c = found[x]
            return None if c is None else c.net

        hi = _max_base(info, available, market, prices)
        best = maximize(net, 1, hi, self.config.grid, self.config.tolerance_bps)
        return None if best is None else found[best[0]]

    def _price(
        self, view: StateView, block: BlockContext, base: str, asset: str, x: int, got: int,
        user: str,
    ) -> CometLiquidation | None:  # fmt: skip
        sale = self.config.router(view, asset, base, got)
        if sale is None:
            return None
        flash = cheapest_loan(self.config, view, block, base, x, sale.touches)
        if flash is None:
            return None
        gas = self.config.gas.estimate(
            ABSORB_GAS + BUY_COLLATERAL_GAS, sale.actions, flash.loan.source
        )
        cost = gas_cost(gas, block, base)
        if cost is None:
            return None
        profit = sale.amount_out - x - flash.fee
        return CometLiquidation(
            self.market, user, asset, x, got, sale, flash, profit, gas, profit - cost
        )


def _max_base(
    info: comet.AssetInfo, available: int, market: comet.CometMarket, prices: comet.CometPrices
) -> int:
    """The largest base amount whose quote stays within `available` (quote is monotone)."""
    lo, hi = 0, 1
    while comet.quote_collateral(info, hi, market, prices) <= available:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if comet.quote_collateral(info, mid, market, prices) <= available:
            lo = mid
        else:
            hi = mid
    return lo
