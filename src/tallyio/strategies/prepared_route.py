"""Pre-sized sales: the paths a pair's sale takes, found in idle time, quoted exactly later.

The sizing search quotes one collateral -> debt sale some twenty times per pair, and each
quote is a layered search over every pool (state/routes.py `best_route`): most of the time
a liquidation is sized in. A price-feed event moves no pool, so the paths can be found
before it: `PreparedRouter.prepare(view, token_in, token_out, most, exclude)` runs the full
search (idle time, between blocks) at amounts spanning `most >> SPAN_BITS` .. `most` and keeps
every path that won at one of them. A later quote for that pair, at an amount inside the span,
quotes only those paths, each exactly (`path_quote`: compiled on the prepared pools), and
takes the best.

What it trusts, and checks: the pools those paths found were the pools the search saw.
`forget(deltas)` drops every prepared pair as soon as any pool moves (a swap, a reorg's
rewind); a quote whose paths' pools are not the very values prepared (another view, an
overlay) goes to the full search, as does any pair, exclusion or amount not prepared.
Each quote stays exact; what can differ from the full search is only which path wins,
should another path win at an amount between two prepared ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tallyio.core.plan import ALL_BALANCE, Action
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_key
from tallyio.state.routes import Hop, HopQuote, best_route, path_quote, route_actions
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation_route import SaleQuote, banned_pools, graph_router

__all__ = ["PreparedRouter"]

LINEAR_POINTS = 16  # most * k / 16: where the seized amounts of a liquidation mostly fall
SPAN_BITS = 20  # and halvings down to most / 2**20 (the grid's small amounts)
_Key = tuple[str, str, frozenset[str]]
_Path = tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class _Prepared:
    paths: tuple[_Path, ...]  # fewest hops first, as the layered search prefers on a tie
    quotes: tuple[HopQuote, ...]  # each path's quote on the pools below (path_quote)
    low: int
    high: int
    pools: tuple[tuple[str, Any], ...]  # (pool address, the value the paths were found on)


class PreparedRouter:
    """A Router (liquidation_route.Router) over the pool graph with prepared pairs."""

    def __init__(self, graph: PoolGraph, max_hops: int = 3) -> None:
        self.graph, self.max_hops = graph, max_hops
        self.full = graph_router(graph, max_hops)
        self._prepared: dict[_Key, _Prepared] = {}
        self._actions: dict[_Path, tuple[Action, ...]] = {}
        self.hits = 0  # quotes served from prepared paths (for benchmarks and tests)

    def __call__(
        self,
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None:
        found = self._prepared.get((token_in.lower(), token_out.lower(), exclude))
        if found is None or not found.low <= amount_in <= found.high or not _same(view, found):
            return self.full(view, token_in, token_out, amount_in, exclude)
        best: tuple[int, _Path] | None = None
        for path, quote in zip(found.paths, found.quotes, strict=True):
            out = quote(amount_in)
            if out and (best is None or out > best[0]):
                best = (out, path)
        if best is None:
            return self.full(view, token_in, token_out, amount_in, exclude)
        self.hits += 1
        out, path = best
        touches = {h.pool for h in path} | {h.vault for h in path if h.vault}
        return SaleQuote(amount_in, out, self._actions_for(path), frozenset(touches), path)

    def prepare(
        self,
        view: StateView,
        token_in: str,
        token_out: str,
        most: int,
        exclude: frozenset[str] = frozenset(),
    ) -> None:
        """Find the paths selling up to `most` of `token_in` for `token_out` at `view`."""
        low = most >> SPAN_BITS
        if low <= 0:
            return
        tin, tout = token_in.lower(), token_out.lower()
        amounts = {most * k // LINEAR_POINTS for k in range(1, LINEAR_POINTS + 1)}
        amounts |= {most >> s for s in range(1, SPAN_BITS + 1)}
        banned = banned_pools(self.graph, exclude)
        paths: dict[_Path, None] = {}
        for amount in sorted(amounts):
            route = best_route(self.graph, view, tin, tout, amount, self.max_hops, banned)
            if route is not None and route.amount_out > 0:
                paths[route.hops] = None
        if not paths:
            self._prepared.pop((tin, tout, exclude), None)
            return
        ordered = tuple(sorted(paths, key=len))
        pools = {h.pool for p in ordered for h in p}
        values = tuple((a, view.get(pool_key(a))) for a in sorted(pools))
        quotes = tuple(path_quote(view, p) for p in ordered)
        self._prepared[(tin, tout, exclude)] = _Prepared(ordered, quotes, low, most, values)

    def forget(self, deltas: Iterable[Delta]) -> None:
        """Drop every prepared pair if any pool moved: a path it missed could win now."""
        if self._prepared and any(_is_pool(d.key) for d in deltas):
            self._prepared.clear()

    def clear(self) -> None:
        self._prepared.clear()

    def _actions_for(self, path: _Path) -> tuple[Action, ...]:
        actions = self._actions.get(path)
        if actions is None:
            if len(self._actions) > 4_096:
                self._actions.clear()
            actions = self._actions[path] = route_actions(path, ALL_BALANCE)
        return actions


def _same(view: StateView, prepared: _Prepared) -> bool:
    return all(view.get(pool_key(a)) is value for a, value in prepared.pools)


def _is_pool(key: Any) -> bool:
    return isinstance(key, tuple) and len(key) == 2 and key[0] in ("pool", "balancer_vault")
