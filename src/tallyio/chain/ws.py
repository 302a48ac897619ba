"""WebSocket subscriptions (eth_subscribe) as async iterators that survive dropped connections.

    async with new_heads(ws_url) as heads:       # connected and subscribed on entry
        async for head in heads: ...

Each subscription holds its own connection. When it drops (or answers garbage), the iterator
reconnects with exponential backoff + jitter and subscribes again, transparently to the reader.
Notifications sent while disconnected are NOT replayed: a node has no cursor for them. The
collectors catch up by block number (heads) and by eth_getLogs over the missed range; pending
transactions missed in the gap are simply gone. `reconnects` counts the gaps so they can.

After `policy.attempts` consecutive failed tries to connect and subscribe, the iterator raises
RpcTransportError. A node's error answer to eth_subscribe (e.g. a bad filter) is an RpcError,
raised at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from tallyio.chain.errors import (
    BadAnswerError,
    RpcTransportError,
    error_from_answer,
    redact,
    redact_text,
    snippet,
)
from tallyio.chain.middleware.retry import RetryPolicy, Sleep, backoff_delay

log = logging.getLogger(__name__)

T = TypeVar("T")
RECONNECT = RetryPolicy(attempts=100, base_delay=0.1, max_delay=5.0)
# RpcTransportError covers a garbled or rate-limited answer to eth_subscribe.
_CONNECT_ERRORS = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, RpcTransportError)


def _identity(x: Any) -> Any:
    return x


class Subscription(Generic[T]):
    """Notifications of one `eth_subscribe(*params)`, each passed through `decode`."""

    def __init__(
        self,
        url: str,
        params: Sequence[Any],
        decode: Callable[[Any], T] = _identity,
        *,
        policy: RetryPolicy = RECONNECT,
        open_timeout: float = 10.0,
        close_timeout: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.params = list(params)
        self.decode = decode
        self.policy = policy
        self.open_timeout = open_timeout
        # Closing waits for the node's close frame, which queues behind unread notifications
        # once we stop reading; bound that wait.
        self.close_timeout = close_timeout
        self.reconnects = 0  # connections lost after a successful subscribe
        self.subscription_id: str | None = None
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._ws: ClientConnection | None = None
        self._closed = False

    async def __aenter__(self) -> Subscription[T]:
        await self._ensure_connected()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            if self._closed:
                raise StopAsyncIteration
            ws = await self._ensure_connected()
            try:
                raw = await ws.recv()
                item = self._notification(raw)
            except (ConnectionClosed, BadAnswerError) as exc:
                if self._closed:  # closed by aclose() while we were reading
                    raise StopAsyncIteration from None
                await self._drop(exc)
                continue
            if item is not None:
                return self.decode(item[0])

    async def aclose(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    # -- connection -----------------------------------------------------------------------
    async def _ensure_connected(self) -> ClientConnection:
        failures = 0
        while self._ws is None:
            try:
                self._ws = await self._subscribe()
            except _CONNECT_ERRORS as exc:
                failures += 1
                reason = redact_text(f"{type(exc).__name__}: {exc}", self.url)
                if failures >= self.policy.attempts:
                    raise RpcTransportError(
                        self.url, "eth_subscribe", f"gave up after {failures} tries: {reason}"
                    ) from None
                delay = backoff_delay(self.policy, failures - 1, self._rng)
                log.warning("%s: %s; reconnecting in %.2fs", self._name, reason, delay)
                await self._sleep(delay)
        return self._ws

    async def _subscribe(self) -> ClientConnection:
        try:
            ws = await connect(
                self.url,
                open_timeout=self.open_timeout,
                close_timeout=self.close_timeout,
                max_size=2**24,
                compression=None,
            )
        except InvalidURI:
            raise ValueError(f"invalid WebSocket URL {redact(self.url)}") from None
        try:
            request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": self.params}
            await ws.send(json.dumps(request))
            async with asyncio.timeout(self.open_timeout):
                self.subscription_id = self._subscribed(await ws.recv())
        except BaseException:
            await ws.close()
            raise
        log.info("%s: subscribed as %s", self._name, self.subscription_id)
        return ws

    def _subscribed(self, raw: str | bytes) -> str:
        answer = self._json(raw)
        if not isinstance(answer, dict) or answer.get("id") != 1:
            raise BadAnswerError(self.url, "eth_subscribe", f"unexpected {snippet(raw)}")
        if "error" in answer:
            raise error_from_answer(self.url, "eth_subscribe", answer["error"])
        if not isinstance(answer.get("result"), str):
            raise BadAnswerError(self.url, "eth_subscribe", f"no subscription id: {snippet(raw)}")
        return str(answer["result"])

    async def _drop(self, exc: Exception) -> None:
        reason = redact_text(str(exc), self.url)
        log.warning("%s: connection lost (%s); events until resubscribed are not replayed",
                    self._name, reason)  # fmt: skip
        self.reconnects += 1
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        await self._sleep(backoff_delay(self.policy, 0, self._rng))

    # -- messages -------------------------------------------------------------------------
    def _notification(self, raw: str | bytes) -> tuple[Any] | None:
        """(result,) for a notification of our subscription, None for anything else."""
        msg = self._json(raw)
        if not isinstance(msg, dict) or msg.get("method") != "eth_subscription":
            return None
        params = msg.get("params")
        if not isinstance(params, dict) or "result" not in params:
            raise BadAnswerError(self.url, "eth_subscription", f"malformed {snippet(raw)}")
        if params.get("subscription") != self.subscription_id:
            return None
        return (params["result"],)

    def _json(self, raw: str | bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise BadAnswerError(self.url, "eth_subscribe", f"not JSON: {snippet(raw)}") from None

    @property
    def _name(self) -> str:
        return f"subscription {self.params[0]} at {redact(self.url)}"


def new_heads(url: str, **kwargs: Any) -> Subscription[dict[str, Any]]:
    """Block headers as the node sends them (hex-quantity fields)."""
    return Subscription(url, ["newHeads"], **kwargs)


def logs(url: str, log_filter: Mapping[str, Any], **kwargs: Any) -> Subscription[dict[str, Any]]:
    """Logs matching `log_filter` ({"address": ..., "topics": [...]}); `removed` marks reorgs."""
    return Subscription(url, ["logs", dict(log_filter)], **kwargs)


def pending_transactions(url: str, *, full: bool = False, **kwargs: Any) -> Subscription[Any]:
    """Pending transaction hashes (or whole transactions with `full`, where the node can)."""
    params: list[Any] = ["newPendingTransactions", True] if full else ["newPendingTransactions"]
    return Subscription(url, params, **kwargs)
