"""A liquidation strategy behind its health monitor: only confirmed accounts reach it.

The monitor screens every borrower with floats and confirms the candidates with the exact
model; the strategy then sizes liquidations only for accounts whose exact HF is below 1. After
a snapshot or a reorg (`sync`) the monitor runs the full vectorised sweep again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.state.monitor import LendingMonitor, Watch
from tallyio.state.prices import CLOCK_KEY
from tallyio.state.store import Delta, StateView


class AccountStrategy(Protocol):
    name: str

    def sync(self, view: StateView) -> None: ...

    def evaluate(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> list[Opportunity]: ...


def _now(view: StateView) -> int:
    clock = view.get(CLOCK_KEY)
    return int(clock[1]) if clock else 0


class MonitoredLiquidation:
    def __init__(self, strategy: AccountStrategy, monitor: LendingMonitor) -> None:
        self.strategy, self.monitor = strategy, monitor
        self.name = strategy.name
        self.liquidatable: list[tuple[str, int]] = []

    def sync(self, view: StateView) -> None:
        self.monitor.resync(view.get, _now(view))
        self.strategy.sync(view)

    def prepare(self, view: StateView, block: BlockContext) -> Iterator[None] | None:
        """Idle time (the engine's hook, between blocks): the strategy prepares the sales of
        the accounts on the watch list and of those still liquidatable, so the sizing search
        that follows a price move quotes a few known paths, not every pool. Steps: the engine
        yields to new events between them."""
        steps = getattr(self.strategy, "sale_steps", None)
        if steps is None:
            return None
        watched = [w.account for w in self.monitor.watch_list()]
        accounts = [*watched, *(a for a, _ in self.liquidatable)]
        found: Iterator[None] = steps(accounts, view, block)
        return found

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        forget = getattr(self.strategy, "forget", None)
        if forget is not None:
            forget(delta)
        ts = _now(view)
        self.monitor.on_deltas(delta, view.get, ts)
        self.liquidatable = self.monitor.liquidatable(view.get, ts)
        if not self.liquidatable:
            return []
        return self.strategy.evaluate([a for a, _ in self.liquidatable], view, block)

    def watch_list(self) -> list[Watch]:
        return self.monitor.watch_list()
