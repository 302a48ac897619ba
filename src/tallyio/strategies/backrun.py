"""BackrunStrategy: the cycle a user's pending swap opens, taken right behind it in its block.

Pure, like every strategy: the pending transaction has already been simulated at the edge
(sim/pending.py) and its logs turned into deltas over an overlay of the state
(`MarketState.preview`); here the cycle search (ArbitrageStrategy, with its own pool graph)
runs on that post-swap view, and the best cycle becomes an Opportunity of Kind.BACKRUN whose
detail names the user's transaction (`LEADING_TX`). The executor bundles [user tx, ours]:
ours only ever goes right behind theirs, so their swap runs on exactly the state it would
without us (never a sandwich, never ahead of them; see execution/backrun.py).

The graph follows confirmed blocks through `process` (which finds nothing itself: plain
arbitrage is ArbitrageStrategy's job); a pending transaction's changes are laid into it for
one search and taken out again, so the next search starts from the confirmed state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tallyio.core.events import PendingTx
from tallyio.core.opportunity import BlockContext, Kind, Opportunity
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy

__all__ = ["LEADING_TX", "BackrunStrategy", "leading_tx"]

LEADING_TX = "leading_tx"  # detail key: the hash of the user's transaction ours must follow


def leading_tx(opp: Opportunity) -> str | None:
    """The user's transaction a backrun must follow (None for any other opportunity)."""
    value = opp.detail.get(LEADING_TX)
    return str(value) if value else None


class BackrunStrategy:
    name = "backrun"

    def __init__(self, search: ArbitrageStrategy, *, own: Iterable[str] = ()) -> None:
        self.search = search  # its own instance: its graph is laid with pending changes
        self.own = frozenset(a.lower() for a in own)  # our accounts: never backrun ourselves

    @classmethod
    def from_entries(
        cls, config: ArbitrageConfig, entries: Iterable[tuple[Any, Any]] | Mapping[Any, Any],
        *, own: Iterable[str] = (),
    ) -> BackrunStrategy:  # fmt: skip
        return cls(ArbitrageStrategy.from_entries(config, entries), own=own)

    # -- the Strategy role ----------------------------------------------------------------
    def sync(self, view: StateView) -> None:
        self.search.sync(view)

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """Confirmed changes: follow them; a backrun needs a pending transaction."""
        self._lay(deltas)
        return []

    def process_pending(
        self, tx: PendingTx, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """The best backrun of `tx`, given the deltas its simulated logs make (at most one:
        one bundle per user transaction)."""
        if tx.sender.lower() in self.own or tx.to is None:
            return []
        moved = [d for d in deltas if d.before is not None and d.after is not None]
        changed = self._lay(moved)
        try:
            found = self.search.evaluate(changed, block) if changed else []
        finally:
            self._lay([Delta(d.block, d.key, d.after, d.before) for d in reversed(moved)])
        return [self._backrun(found[0], tx)] if found else []

    # -- internals --------------------------------------------------------------------------
    def _lay(self, deltas: Sequence[Delta]) -> set[str]:
        graph = self.search.graph
        changed = graph.update(deltas) & graph.pools.keys()
        if self.search.index.version != graph.version:
            self.search.index = self.search._new_index()
        elif changed:
            self.search.index.refresh(changed)
        return changed

    def _backrun(self, opp: Opportunity, tx: PendingTx) -> Opportunity:
        detail = {**opp.detail, LEADING_TX: tx.hash.lower(), "user": tx.sender.lower()}
        return dataclasses.replace(
            opp, strategy=self.name, kind=Kind.BACKRUN, detail=detail,
            touches=opp.touches | {f"tx:{tx.hash.lower()}"},
        )  # fmt: skip
