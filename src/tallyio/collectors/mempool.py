"""`MempoolCollector`: the node's pending transactions as PendingTx events, each once.

It polls `txpool_content` (anvil and geth answer it; a local node is cheap to ask), which
gives every pending transaction whole, so no second request per hash is needed. A hash is
sent once: the ones seen are remembered (the newest `memory` of them), so a transaction that
sits in the pool for many polls is not sent again. Queued transactions (held back by a nonce
gap) are not pending: they cannot be mined next, so nothing can follow them yet.
A failed poll is logged and retried with backoff, like the node collector.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from tallyio.chain.rpc import RpcClient
from tallyio.collectors.polling import poll
from tallyio.core.events import PendingTx

log = logging.getLogger(__name__)


def _int(value: Any) -> int | None:
    return None if value is None else int(str(value), 16)


def pending_from_rpc(chain_id: int, raw: Mapping[str, Any]) -> PendingTx:
    """A transaction object as the node gives it (hex quantities) as a PendingTx. Legacy
    transactions carry `gasPrice` only: it is both their max fee and their tip."""
    gas_price = _int(raw.get("gasPrice"))
    max_fee = _int(raw.get("maxFeePerGas"))
    tip = _int(raw.get("maxPriorityFeePerGas"))
    return PendingTx(
        chain_id=chain_id, hash=str(raw["hash"]).lower(), sender=str(raw["from"]).lower(),
        to=str(raw["to"]).lower() if raw.get("to") else None, input=str(raw.get("input", "0x")),
        value=int(str(raw.get("value", "0x0")), 16), gas=int(str(raw["gas"]), 16),
        max_fee=max_fee if max_fee is not None else gas_price,
        max_priority_fee=tip if tip is not None else gas_price, nonce=int(str(raw["nonce"]), 16),
    )  # fmt: skip


class MempoolCollector:
    def __init__(
        self, client: RpcClient, chain_id: int, *, poll_interval: float = 0.05,
        max_backoff: float = 5.0, memory: int = 100_000,
    ) -> None:  # fmt: skip
        self.client, self.chain_id = client, chain_id
        self.poll_interval, self.max_backoff = poll_interval, max_backoff
        self.memory = memory
        self.errors = 0
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def step(self) -> list[PendingTx]:
        """Pending transactions not sent before, by sender then nonce (the order they can run)."""
        content = await self.client.request("txpool_content")
        found: list[PendingTx] = []
        for by_nonce in ((content or {}).get("pending") or {}).values():
            for raw in sorted(by_nonce.values(), key=lambda t: int(t["nonce"], 16)):
                h = str(raw["hash"]).lower()
                if h in self._seen:
                    continue
                found.append(pending_from_rpc(self.chain_id, raw))
                self._remember(h)
        return found

    def _remember(self, h: str) -> None:
        self._seen[h] = None
        while len(self._seen) > self.memory:
            self._seen.popitem(last=False)

    async def events(self) -> AsyncIterator[PendingTx]:
        async for tx in poll(self, self.step, "mempool collector", rest_after_batch=True):
            yield tx


async def merge(*streams: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """Events from several collectors as they come, one stream for the engine's loop; ends
    when every stream has ended, and closes them all when the consumer stops early."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1024)
    done = object()

    async def pump(stream: AsyncIterator[Any]) -> None:
        try:
            async for event in stream:
                await queue.put(event)
        except Exception as exc:  # a collector's crash ends the merged stream with it
            await queue.put(_Failed(exc))
        finally:
            await queue.put(done)

    tasks = [asyncio.create_task(pump(s)) for s in streams]
    live = len(tasks)
    try:
        while live:
            event = await queue.get()
            if event is done:
                live -= 1
            elif isinstance(event, _Failed):
                raise event.error
            else:
                yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error
