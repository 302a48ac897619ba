"""The three roles every implementation plugs into (after artemis' core).

Collectors produce events, strategies turn state changes into opportunities (pure: no I/O, no
clock), executors send approved actions somewhere. Live, devnet, paper and replay differ only
in which collectors and executors they plug in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

from tallyio.core.events import Event
from tallyio.core.opportunity import BlockContext

DeltaT = TypeVar("DeltaT", contravariant=True)
ViewT = TypeVar("ViewT", contravariant=True)
OpportunityT = TypeVar("OpportunityT")
ActionT = TypeVar("ActionT", contravariant=True)
ReceiptT = TypeVar("ReceiptT", covariant=True)


class Collector(Protocol):
    """Where events come from: a node's subscriptions, a recorded journal, a devnet."""

    def events(self) -> AsyncIterator[Event]: ...


class Strategy(Protocol[DeltaT, ViewT, OpportunityT]):
    """What to do about a state change; pure. `delta` is one block's batch of changes (or one
    pending transaction's, for backruns); `block` says which block and at what prices."""

    name: str

    def sync(self, view: ViewT) -> None: ...

    def process(self, delta: DeltaT, view: ViewT, block: BlockContext) -> list[OpportunityT]: ...


class Executor(Protocol[ActionT, ReceiptT]):
    """Where approved actions go: paper, the public mempool, or bundle relays."""

    async def execute(self, approved: ActionT) -> ReceiptT: ...
