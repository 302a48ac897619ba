"""Selling seized collateral: the router contract the liquidation strategies size against.

A `Router` quotes selling `amount_in` of one token for another across the pools in state and
says which actions do it and which pools (and vaults) they touch; `exclude` names addresses the
route must not touch (the flash-loan lender: Balancer's vault is locked while it lends).
`graph_router` adapts the state graph's `best_route` (multi-hop, state/routes.py) to that
contract. (The tests' independent cross-check, a one- and two-hop router written apart from
state/routes.py, is tests/direct_router.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tallyio.core.plan import ALL_BALANCE, Action
from tallyio.protocols.balancer import WeightedPool
from tallyio.state.graph import PoolGraph
from tallyio.state.routes import Hop, best_route, path_quote, route_actions
from tallyio.state.store import StateView

__all__ = ["Router", "SaleQuote", "banned_pools", "graph_router", "pinned_router"]


@dataclass(frozen=True, slots=True)
class SaleQuote:
    """Selling `amount_in` yields exactly `amount_out`; `actions` spend ALL_BALANCE per hop."""

    amount_in: int
    amount_out: int
    actions: tuple[Action, ...]
    touches: frozenset[str]  # pool addresses (lowercase), and the Balancer vault if used
    hops: tuple[Hop, ...] = ()  # the path, so the same sale can be quoted again (armed.py)


class Router(Protocol):
    def __call__(
        self,
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None: ...


def banned_pools(graph: PoolGraph, exclude: frozenset[str]) -> frozenset[str]:
    """The pools a route may not use: `exclude`, and every weighted pool with the vault."""
    banned = set(exclude)
    if graph.vault and graph.vault in exclude:
        banned |= {a for a, p in graph.pools.items() if isinstance(p, WeightedPool)}
    return frozenset(banned)


def graph_router(graph: PoolGraph, max_hops: int = 3) -> Router:
    """A Router over the state graph's `best_route` (up to `max_hops`). Excluding the Balancer
    vault excludes every weighted pool; the first hop spends ALL_BALANCE too, so a collateral
    amount a wei off the model (interest between the quote and the block) still sells.
    Every hop spends ALL_BALANCE, so a path's actions depend on its hops alone: they are built
    once per path (the sizing search quotes the same few paths dozens of times)."""
    built: dict[tuple[Hop, ...], tuple[Action, ...]] = {}

    def actions_for(hops: tuple[Hop, ...]) -> tuple[Action, ...]:
        actions = built.get(hops)
        if actions is None:
            if len(built) > 4_096:
                built.clear()
            actions = built[hops] = route_actions(hops, ALL_BALANCE)
        return actions

    def route(
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None:
        banned = banned_pools(graph, exclude)
        found = best_route(graph, view, token_in, token_out, amount_in, max_hops, banned)
        if found is None or found.amount_out <= 0:
            return None
        touches = set(found.pools) | {h.vault for h in found.hops if h.vault}
        actions = actions_for(found.hops)
        return SaleQuote(amount_in, found.amount_out, actions, frozenset(touches), found.hops)

    return route


def pinned_router(sale: SaleQuote) -> Router:
    """A Router that sells only along `sale`'s own path (its actions, so its calldata): an
    armed plan re-priced on the real state keeps the sale it was simulated with."""

    def route(
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None:
        ends = (sale.hops[0].token_in, sale.hops[-1].token_out) if sale.hops else None
        if ends != (token_in.lower(), token_out.lower()) or exclude & sale.touches:
            return None
        out = path_quote(view, sale.hops)(amount_in)
        if not out:
            return None
        return SaleQuote(amount_in, out, sale.actions, sale.touches, sale.hops)

    return route
