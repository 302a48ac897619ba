"""Cyclic arbitrage on a devnet market: the strategy's config from the manifest, and the USD
sizes the risk limits read, priced at the market's oracle.

`ArbitrageStrategy` itself is pure and knows no USD (its sizes are in tokens and wei); the
risk gate's notional and flash-loan limits are in whole dollars, so this wrapper fills them in
from the Aave oracle prices in state (the same prices the liquidations use), and names the
route by token symbols for the live report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tallyio.app.devnet_market import DevnetMarket
from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.state.graph import PoolGraph
from tallyio.state.prices import price_key
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy
from tallyio.strategies.arbitrage_search import avoided, clear_of

USD_UNIT = 10**8  # the Aave oracle's USD prices have 8 decimals


def arbitrage_config(market: DevnetMarket, keep_share_bps: int) -> ArbitrageConfig:
    """Lenders from the manifest: the Balancer vault (and its fee), the Aave pool (its premium,
    the reserves it lends); V3 pools outside a cycle lend too."""
    m = market.manifest
    balancer = m.get("balancer_v2", {})
    return ArbitrageConfig(
        balancer_vault=str(balancer.get("vault", "")),
        balancer_fee=int(balancer.get("flash_loan_fee_percentage", 0)),
        aave_pool=market.aave.pool,
        aave_premium_bps=int(m["aave_v3"].get("flashloan_premium_bps", 5)),
        aave_tokens=frozenset(r.asset for r in market.aave.reserves),
        keep_share_bps=keep_share_bps,
    )


class PricedArbitrage:
    """The engine's arbitrage strategy: `ArbitrageStrategy` with USD sizes for the risk gate."""

    name = "arbitrage"

    def __init__(self, inner: ArbitrageStrategy, market: DevnetMarket) -> None:
        self.inner, self.market = inner, market
        self._whole = True  # the first block after start (or a reload) searches every cycle
        self._carry: set[str] = set()  # pools of the last block's opportunities
        self._acted: Opportunity | None = None  # what `early` gave for this block's deltas

    @classmethod
    def build(cls, market: DevnetMarket, graph: PoolGraph, keep_share_bps: int) -> PricedArbitrage:
        return cls(ArbitrageStrategy(arbitrage_config(market, keep_share_bps), graph), market)

    def sync(self, view: StateView) -> None:
        self.inner.sync(view)
        self._whole, self._acted = True, None

    def early(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """The best cycle through the pools the deltas moved, acted on before `process`.
        None on a block that searches every cycle (`process` does it all), nor on one that
        moved a price the lending markets read: a liquidation may come of it in `process`,
        and one selling through our cycle's pools must go first, simulated with our plan
        behind it in one group, not held a block behind ours."""
        if self._whole or any(_price_moved(d) for d in deltas):
            return []
        found = self.inner.early(deltas, view, block)
        self._acted = found[0] if found else None
        return [self._priced(o, view) for o in found]

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        # not first=True: plans behind the best through the same pool still add profit when
        # simulated after it (the e2e test counts them)
        acted, self._acted = self._acted, None
        found = self.inner.process(deltas, view, block)
        if self._whole:  # a cycle that paid before we started moved no pool: it has no delta
            self._whole = False
            found = self.inner.evaluate(list(self.inner.graph.pools), block)
        elif self._carry:  # one not taken (a conflict, a group-mate's simulation) moved nothing
            carried = self.inner.evaluate(sorted(self._carry), block, avoid=avoided(acted))
            found = _merged(found, carried, self.inner.config.max_opportunities)
            found = clear_of(found, acted)  # `early` sent it: not again, nothing held behind it
        taken = found if acted is None else [*found, acted]
        self._carry = {p for o in taken for p in o.detail["pools"]}
        return [self._priced(o, view) for o in found]

    def _priced(self, opp: Opportunity, view: StateView) -> Opportunity:
        loan = opp.plan.loan
        usd = self.usd(view, loan.token, loan.amount)
        route = [self.market.symbol(getattr(a, "token_in", "?")) for a in opp.plan.actions]
        detail = {**opp.detail, "route": ">".join([*route, route[0]])}
        return replace(opp, notional_usd=usd, flash_loan_usd=usd, detail=detail)

    def usd(self, view: StateView, token: str, amount: int) -> int:
        """Whole dollars of `amount` base units of `token` at the oracle (0 when unpriced)."""
        price = view.get(price_key("aave_v3", self.market.aave.pool, token.lower())) or 0
        unit = 10 ** self.market.decimals.get(token.lower(), 18)
        return int(amount * price // (USD_UNIT * unit))


def _price_moved(delta: Delta) -> bool:
    key = delta.key
    return isinstance(key, tuple) and bool(key) and key[0] in ("price", "feed")


def _merged(a: list[Opportunity], b: list[Opportunity], limit: int) -> list[Opportunity]:
    """Both lists without repeats (a cycle by its pools and token), best net first."""
    seen: dict[tuple[Any, ...], Opportunity] = {}
    for o in (*a, *b):
        seen.setdefault((*o.detail["pools"], o.profit_token), o)
    ranked = sorted(seen.values(), key=lambda o: int(o.detail["net_wei"]), reverse=True)
    return ranked[:limit]
