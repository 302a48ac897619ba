"""The market state store: exact values by key, changed only by `apply(event)`, rewindable.

Protocol handlers are pure functions from (log, current state) to new values; the store keeps,
for each recent block, the values it replaced, so a reorg rewinds to the common ancestor and
the collector re-applies the new canonical blocks' logs.
"""

from __future__ import annotations

from collections import ChainMap, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tallyio.core.events import Block, Event, Log, Reorg

StateKey = Hashable
Handler = Callable[[Log, "StateView"], list[tuple[StateKey, Any]]]
_MISSING: Any = object()


class StateInvariantError(RuntimeError):
    """The state and the chain disagree in a way that cannot be recovered from here."""


class StateView:
    """Read-only access to the store, handed to handlers and strategies."""

    def __init__(self, entries: Mapping[StateKey, Any]) -> None:
        self._entries = entries

    def get(self, key: StateKey, default: Any = None) -> Any:
        return self._entries.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


@dataclass(frozen=True, slots=True)
class Delta:
    """One value changed by one event."""

    block: int
    key: StateKey
    before: Any  # None when the key is new
    after: Any


@dataclass(slots=True)
class _Frame:
    number: int
    hash: str
    undo: list[tuple[StateKey, Any]] = field(default_factory=list)


class MarketState:
    """Exact state by key; `handlers` maps a log's topic0 to the pure function that applies it."""

    def __init__(
        self,
        entries: Mapping[StateKey, Any],
        handlers: Mapping[str, Handler],
        *,
        block: int,
        block_hash: str = "",
        depth: int = 128,
    ) -> None:
        self._entries: dict[StateKey, Any] = dict(entries)
        self._handlers = {topic.lower(): h for topic, h in handlers.items()}
        self._frames: deque[_Frame] = deque([_Frame(block, block_hash)], maxlen=depth)
        self.view = StateView(self._entries)

    @property
    def block(self) -> int:
        return self._frames[-1].number

    def get(self, key: StateKey, default: Any = None) -> Any:
        return self._entries.get(key, default)

    def items(self) -> Iterable[tuple[StateKey, Any]]:
        return self._entries.items()

    def apply(self, event: Event) -> list[Delta]:
        if isinstance(event, Block):
            return self._begin_block(event)
        if isinstance(event, Log):
            return self._apply_log(event)
        if isinstance(event, Reorg):
            return self._rewind(event.common_ancestor)
        return []  # pending transactions do not change confirmed state

    def preview(self, logs: Iterable[Log]) -> tuple[list[Delta], StateView]:
        """What `logs` would change, applied to an overlay over the store, which stays as it
        is: a pending transaction's simulated logs give the state after it, for backruns."""
        return overlay(self.view, logs, self._handlers)

    def _begin_block(self, block: Block) -> list[Delta]:
        if block.number <= self.block:
            raise StateInvariantError(
                f"block {block.number} is not after {self.block}: send a Reorg event first"
            )
        self._frames.append(_Frame(block.number, block.hash))
        return []

    def _apply_log(self, log: Log) -> list[Delta]:
        handler = self._handlers.get(log.topics[0].lower()) if log.topics else None
        if handler is None:
            return []
        if log.block_number != self.block:
            self._begin_block(Block(log.chain_id, log.block_number, log.block_hash, "", 0, None))
        frame = self._frames[-1]
        deltas = []
        for key, value in handler(log, self.view):
            before = self._entries.get(key, _MISSING)
            frame.undo.append((key, before))
            self._entries[key] = value
            deltas.append(
                Delta(log.block_number, key, None if before is _MISSING else before, value)
            )
        return deltas

    def _rewind(self, ancestor: int) -> list[Delta]:
        """Undo every block above `ancestor`, newest first."""
        if self._frames[0].number > ancestor:
            raise StateInvariantError(
                f"reorg below block {ancestor} is deeper than the {len(self._frames)} blocks kept: "
                "reload a snapshot"
            )
        deltas = []
        while self._frames[-1].number > ancestor:
            frame = self._frames.pop()
            for key, before in reversed(frame.undo):
                after = self._entries.get(key)
                if before is _MISSING:
                    del self._entries[key]
                else:
                    self._entries[key] = before
                deltas.append(
                    Delta(frame.number, key, after, None if before is _MISSING else before)
                )
        return deltas


def overlay(
    view: StateView, logs: Iterable[Log], handlers: Mapping[str, Handler]
) -> tuple[list[Delta], StateView]:
    """`logs` applied by `handlers` (topic0, lowercase -> handler) to an overlay over `view`,
    which stays as it is: the deltas and the view of the state after them."""
    layer: dict[StateKey, Any] = {}
    after = StateView(ChainMap(layer, view._entries))  # type: ignore[arg-type]
    deltas = []
    for log in logs:
        handler = handlers.get(log.topics[0].lower()) if log.topics else None
        for key, value in handler(log, after) if handler is not None else ():
            before = after.get(key)
            layer[key] = value
            deltas.append(Delta(log.block_number, key, before, value))
    return deltas, after
