"""A liquidation strategy behind its health monitor: only confirmed accounts reach it.

The monitor screens every borrower with floats and confirms the candidates with the exact
model; the strategy then sizes liquidations only for accounts whose exact HF is below 1. After
a snapshot or a reorg (`sync`) the monitor runs the full vectorised sweep again.

Given the price targets, the nearest accounts on the watch list are armed in idle time
(armed.py: sized past their trigger, simulated ahead by the engine); `early` acts on those the
block's feed answers made liquidatable, before `process` screens and sizes everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from tallyio.core.opportunity import BlockContext, Contingent, Opportunity
from tallyio.state.monitor import LendingMonitor, Watch
from tallyio.state.prices import CLOCK_KEY, PriceTarget
from tallyio.state.store import Delta, StateView
from tallyio.strategies.armed import Arming


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
    def __init__(
        self, strategy: AccountStrategy, monitor: LendingMonitor,
        targets: Sequence[PriceTarget] = (),
    ) -> None:  # fmt: skip
        self.strategy, self.monitor = strategy, monitor
        self.name = strategy.name
        self.liquidatable: list[tuple[str, int]] = []
        armable = targets and hasattr(strategy, "reprice")
        self.arming = Arming(strategy, targets) if armable else None  # type: ignore[arg-type]
        self._fired: set[str] = set()  # accounts `early` acted on in this block

    def sync(self, view: StateView) -> None:
        self.monitor.resync(view.get, _now(view))
        self.strategy.sync(view)
        if self.arming is not None:
            self.arming.clear()

    def contingencies(self, view: StateView, block: BlockContext) -> Iterator[Contingent]:
        """Idle time, after `prepare`: plans for the nearest watched accounts, sized just past
        their trigger, one at a time, for the engine to simulate ahead (armed.py)."""
        if self.arming is None:
            return iter(())
        return self.arming.contingencies(self.monitor.watch_list(), view, block)

    def arm(self, contingent: Contingent, outcome: Any) -> bool:
        return self.arming is not None and self.arming.arm(contingent, outcome)

    def early(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """Armed plans the block's feed answers made good (acted on before `process`)."""
        found = [] if self.arming is None else self.arming.fire(delta, view, block)
        self._fired = {str(o.detail.get("borrower")) for o in found}
        return found

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
        fired, self._fired = self._fired, set()
        accounts = [a for a, _ in self.liquidatable if a not in fired]  # those are in flight
        if not accounts:
            return []
        return self.strategy.evaluate(accounts, view, block)

    def watch_list(self) -> list[Watch]:
        return self.monitor.watch_list()
