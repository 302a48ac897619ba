"""The API's two plugs into the rest of TallyIO: the journal (read) and `EngineControl`.

`EngineControl` is what a running engine offers the API. `StaticControl` is the same face over
a journal alone (`tallyio api serve --journal` with no engine): read-only, it says so in every
answer, and its live feed is the journal's new rows (plus the node's head, when given an RPC
URL). `EventHub` fans one stream of events out to every subscriber; an engine can use its
`publish` as its event listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from tallyio.api.journal_view import JournalReader, JournalView
from tallyio.api.tail import HeadWatcher, JournalTail
from tallyio.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)
Event = dict[str, Any]  # {"type": "block" | "opportunity" | "decision" | "trade", "data": {...}}


class ReadOnlyError(RuntimeError):
    """A write asked of a control that cannot act (no engine is running): HTTP 409."""


class UnknownNameError(KeyError):
    """No strategy or breaker scope by that name: HTTP 404."""


@runtime_checkable
class EngineControl(Protocol):
    def status(self) -> dict[str, Any]: ...  # mode, chains (head, lag), uptime, running

    def strategies(self) -> list[dict[str, Any]]: ...  # name, kind, enabled

    def set_enabled(self, name: str, enabled: bool) -> None: ...

    def balances(self) -> list[dict[str, Any]]: ...  # chain, token, symbol, amount (str), holder

    def risk(self) -> dict[str, Any]: ...  # limits, breaker state

    def reset_breaker(self, scope: str) -> None: ...

    def subscribe(self) -> AsyncIterator[Event]: ...  # live events


class EventHub:
    """One publisher, many subscribers; a slow subscriber loses its oldest events, never
    blocks the publisher."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self._queues: set[asyncio.Queue[Event]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        event = {"type": kind, "data": data}
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self.maxsize)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)


class StaticControl:
    """The journal-only control: reads, never acts."""

    read_only = True
    NOTE = "journal only: no engine is running, so nothing here can be changed"

    def __init__(
        self, journal: JournalReader, *, chain: str = "devnet", rpc_url: str | None = None,
        poll_interval: float = 1.0, clock: Clock | None = None,
    ) -> None:  # fmt: skip
        self.view = JournalView(journal, chain=chain)
        self.chain, self.poll_interval = chain, poll_interval
        self.clock = clock or SystemClock()
        self.started = self.clock.now()
        self.hub = EventHub()
        self.tail = JournalTail(self.view)
        self.heads = HeadWatcher(rpc_url, self.clock) if rpc_url else None
        self._pump: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        chain: dict[str, Any] = {"chain": self.chain, "head": None, "lag_seconds": None,
                                 "healthy": None}  # fmt: skip
        if self.heads is not None:
            chain.update(self.heads.health())
        return {"mode": "journal", "running": False, "read_only": True, "note": self.NOTE,
                "uptime_seconds": round(self.clock.now() - self.started, 3),
                "chains": [chain]}  # fmt: skip

    def strategies(self) -> list[dict[str, Any]]:
        names = self.view.strategy_names()
        return [{"name": n, "kind": n, "enabled": False} for n in sorted(names)]

    def set_enabled(self, name: str, enabled: bool) -> None:
        raise ReadOnlyError(self.NOTE)

    def balances(self) -> list[dict[str, Any]]:
        return []  # inventory is the engine's to report; a journal holds no balances

    def risk(self) -> dict[str, Any]:
        return {"read_only": True, "note": self.NOTE, "limits": {}, "breakers": []}

    def reset_breaker(self, scope: str) -> None:
        raise ReadOnlyError(self.NOTE)

    async def subscribe(self) -> AsyncIterator[Event]:
        self.start()
        async for event in self.hub.subscribe():
            yield event

    def start(self) -> None:
        """Start following the journal (and the node); the API's lifespan calls this."""
        if self._pump is None or self._pump.done():
            self.tail.skip_existing()
            self._pump = asyncio.create_task(self._run_pump(), name="journal-tail")

    async def _run_pump(self) -> None:
        await poll_forever(self._pump_once, self.poll_interval, "journal tail")

    async def _pump_once(self) -> None:
        if self.heads is not None and await self.heads.poll():
            self.hub.publish("block", {"chain": self.chain, **self.heads.health()})
        if not self.hub.subscribers:
            await asyncio.to_thread(self.tail.skip_existing)
            return
        for kind, data in await asyncio.to_thread(self.tail.poll):
            self.hub.publish(kind, data)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.heads is not None:
            await self.heads.close()


async def poll_forever(poll: Callable[[], Awaitable[None]], interval: float, what: str) -> None:
    """`poll()` every `interval` seconds until cancelled; a failed poll is logged and the next
    one tried (a bad poll must not end a live feed)."""
    while True:
        try:
            await poll()
        except Exception:
            log.exception("%s poll failed", what)
        await asyncio.sleep(interval)
