"""Selling seized collateral: the router contract the liquidation strategies size against.

A `Router` quotes selling `amount_in` of one token for another across the pools in state and
says which actions do it and which pools (and vaults) they touch; `exclude` names addresses the
route must not touch (the flash-loan lender: Balancer's vault is locked while it lends).
`direct_router` is the small one over V2 / V3 / Balancer pools named in config: every one-hop
route and every two-hop route through one intermediate token, each quoted exactly.
`graph_router` adapts the state graph's `best_route` (multi-hop, state/routes.py) to the same
contract: the one to run with; `direct_router` is a small independent cross-check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tallyio.core.plan import ALL_BALANCE, Action, BalancerSwap, UniswapV2Swap, UniswapV3Swap
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import Pool, pool_key
from tallyio.state.routes import Hop, best_route, route_actions
from tallyio.state.store import StateView

__all__ = ["Router", "SaleQuote", "banned_pools", "direct_router", "graph_router", "pool_tokens"]


@dataclass(frozen=True, slots=True)
class SaleQuote:
    """Selling `amount_in` yields exactly `amount_out`; `actions` spend ALL_BALANCE per hop."""

    amount_in: int
    amount_out: int
    actions: tuple[Action, ...]
    touches: frozenset[str]  # pool addresses (lowercase), and the Balancer vault if used


class Router(Protocol):
    def __call__(
        self,
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None: ...


def pool_tokens(pool: Pool) -> tuple[str, ...]:
    if isinstance(pool, WeightedPool):
        return tuple(t.lower() for t in pool.tokens)
    return (pool.token0.lower(), pool.token1.lower())


def _hop_out(pool: Pool, token_in: str, token_out: str, amount_in: int) -> int | None:
    """Exact output of one hop, or None where the pool cannot take the input."""
    if amount_in <= 0:
        return None
    try:
        if isinstance(pool, WeightedPool):
            return pool.amount_out(token_in, token_out, amount_in)
        return pool.amount_out(token_in, amount_in)
    except (ArithmeticError, ValueError):
        return None  # too shallow, overflow, or a balance the math refuses


def _hop_action(pool: Pool, vault: str, token_in: str, token_out: str) -> Action:
    if isinstance(pool, V2Pool):
        return UniswapV2Swap(pool.address, token_in, token_out, fee_bps=pool.fee_bps)
    if isinstance(pool, V3Pool):
        return UniswapV3Swap(pool.address, token_in, token_out)
    return BalancerSwap(vault, bytes.fromhex(pool.pool_id[2:]), token_in, token_out)


def _touches(pool: Pool, vault: str) -> frozenset[str]:
    if isinstance(pool, WeightedPool):
        return frozenset({pool.address.lower(), vault.lower()})
    return frozenset({pool.address.lower()})


def direct_router(pools: Sequence[str], vault: str = "") -> Router:
    """The best one- or two-hop sale over `pools` (addresses of pools kept in state)."""
    addresses = tuple(p.lower() for p in pools)

    def route(
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None:
        token_in, token_out = token_in.lower(), token_out.lower()
        live = [p for a in addresses if (p := view.get(pool_key(a))) is not None]
        live = [p for p in live if _touches(p, vault).isdisjoint(exclude)]
        best: SaleQuote | None = None
        for first in live:
            tokens = pool_tokens(first)
            if token_in not in tokens:
                continue
            for mid in tokens:
                if mid == token_in:
                    continue
                out = _hop_out(first, token_in, mid, amount_in)
                hop = ((first, token_in, mid),)
                if mid == token_out:
                    best = _better(best, hop, amount_in, out, vault)
                    continue
                for second in live:
                    if second is first or not {mid, token_out} <= set(pool_tokens(second)):
                        continue
                    out2 = None if out is None else _hop_out(second, mid, token_out, out)
                    best = _better(best, (*hop, (second, mid, token_out)), amount_in, out2, vault)
        return best

    return route


def _better(
    best: SaleQuote | None,
    hops: tuple[tuple[Pool, str, str], ...],
    amount_in: int,
    out: int | None,
    vault: str,
) -> SaleQuote | None:
    if out is None or out <= 0 or (best is not None and best.amount_out >= out):
        return best
    actions = tuple(_hop_action(p, vault, a, b) for p, a, b in hops)
    touches = frozenset().union(*(_touches(p, vault) for p, _, _ in hops))
    return SaleQuote(amount_in, out, actions, touches)


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
        return SaleQuote(amount_in, found.amount_out, actions, frozenset(touches))

    return route
