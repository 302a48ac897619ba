"""Async JSON-RPC over HTTP: one request function per endpoint, and the client around it.

The core is `HttpTransport`, an `async (request) -> result` for one endpoint over a keep-alive
aiohttp session. A request is one `RpcCall` or an `RpcBatch` (one POST of a JSON-RPC array).
Behaviour — retry, failover, rate limits, metrics — is layered around that function as
middleware (`chain/middleware/`, one file each); `chain/client.py` composes them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp

from tallyio.chain.errors import (
    BadAnswerError,
    RateLimitedError,
    RpcError,
    RpcTransportError,
    error_from_answer,
    snippet,
)

BATCH = "batch"  # the method label a batch carries in metrics and errors


@dataclass(frozen=True, slots=True)
class RpcCall:
    method: str
    params: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return self.method

    @property
    def cost(self) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class RpcBatch:
    calls: tuple[RpcCall, ...]

    @property
    def label(self) -> str:
        return BATCH

    @property
    def cost(self) -> int:
        return len(self.calls)


Request = RpcCall | RpcBatch
# The one request function. For an RpcBatch it returns a list in call order whose items are
# results or RpcError values (an item error is the node's answer, not a transport failure).
RequestFn = Callable[[Request], Awaitable[Any]]
Middleware = Callable[[RequestFn], RequestFn]


def call(method: str, *params: Any) -> RpcCall:
    return RpcCall(method, tuple(params))


class HttpTransport:
    """The request function for one endpoint, identified by its URL (never shown unredacted)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 64,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __call__(self, request: Request) -> Any:
        if isinstance(request, RpcCall):
            rid = next(self._ids)
            answer = await self._post(_payload(request, rid), request.method)
            return self._single(answer, request.method, rid)
        if not request.calls:
            return []
        ids = [next(self._ids) for _ in request.calls]
        body = [_payload(c, rid) for c, rid in zip(request.calls, ids, strict=True)]
        answer = await self._post(body, BATCH)
        return self._batch(answer, request.calls, ids)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- HTTP -----------------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self._headers,
            )
        return self._session

    async def _post(self, body: object, method: str) -> Any:
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            async with self._open().post(self.url, data=data) as resp:
                raw = await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except TimeoutError:
            raise RpcTransportError(self.url, method, f"timed out after {self.timeout}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            # `from None`: a chained aiohttp error may quote the URL with its credentials.
            reason = f"{type(exc).__name__}: {exc}"
            raise RpcTransportError(self.url, method, reason) from None
        return self._decode(status, raw, method, retry_after)

    def _decode(self, status: int, raw: bytes, method: str, retry_after: str | None) -> Any:
        if status == 429:
            raise RateLimitedError(self.url, method, "HTTP 429", _seconds(retry_after))
        try:
            answer = json.loads(raw)
        except ValueError:
            if status != 200:
                reason = f"HTTP {status}: {snippet(raw)}"
                raise RpcTransportError(self.url, method, reason) from None
            raise BadAnswerError(self.url, method, f"not JSON: {snippet(raw)}") from None
        is_rpc_error = isinstance(answer, dict) and "error" in answer
        if status != 200 and (status >= 500 or not is_rpc_error):
            raise RpcTransportError(self.url, method, f"HTTP {status}: {snippet(raw)}")
        return answer

    # -- answers --------------------------------------------------------------------------
    def _single(self, answer: Any, method: str, rid: int) -> Any:
        if not isinstance(answer, dict):
            raise BadAnswerError(self.url, method, f"not a JSON-RPC object: {_short(answer)}")
        if "error" in answer:
            raise error_from_answer(self.url, method, answer["error"])
        if answer.get("id") != rid:
            raise BadAnswerError(self.url, method, f"answer id {answer.get('id')!r} != {rid}")
        if "result" not in answer:
            raise BadAnswerError(self.url, method, f"no result and no error: {_short(answer)}")
        return answer["result"]

    def _batch(self, answer: Any, calls: Sequence[RpcCall], ids: Sequence[int]) -> list[Any]:
        if isinstance(answer, dict) and "error" in answer:  # e.g. "batch too large"
            raise error_from_answer(self.url, BATCH, answer["error"])
        if not isinstance(answer, list):
            raise BadAnswerError(self.url, BATCH, f"not a JSON-RPC array: {_short(answer)}")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        missing = [rid for rid in ids if rid not in by_id]
        if missing:
            raise BadAnswerError(self.url, BATCH, f"{len(missing)} of {len(ids)} ids unanswered")
        out: list[Any] = []
        for c, rid in zip(calls, ids, strict=True):
            item = by_id[rid]
            if "error" in item:
                err = error_from_answer(self.url, c.method, item["error"])
                if isinstance(err, RateLimitedError):
                    raise err  # the whole batch waits and is sent again
                out.append(err)
            elif "result" in item:
                out.append(item["result"])
            else:
                raise BadAnswerError(self.url, c.method, f"no result and no error: {_short(item)}")
        return out


def _payload(c: RpcCall, rid: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": c.method, "params": list(c.params)}


def _short(value: Any) -> str:
    return snippet(json.dumps(value))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: fall back to our own backoff


CallLike = RpcCall | tuple[str, Sequence[Any]]


class RpcClient:
    """`request` and `batch` over a composed request function (see `build_client`)."""

    def __init__(
        self,
        send: RequestFn,
        closers: Iterable[Callable[[], Awaitable[None]]] = (),
        *,
        max_batch: int = 500,
    ) -> None:
        self.send = send
        self._closers = tuple(closers)
        self.max_batch = max_batch

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """The result of one call; raises RpcError or RpcTransportError."""
        return await self.send(RpcCall(method, tuple(params)))

    async def batch(self, calls: Iterable[CallLike], *, raise_errors: bool = True) -> list[Any]:
        """Results in call order, sent as JSON-RPC batches of at most `max_batch` calls.

        An item the node answered with an error is raised as its RpcError (with a note naming
        the item), or, with `raise_errors=False`, returned in its place.
        """
        items = tuple(c if isinstance(c, RpcCall) else RpcCall(c[0], tuple(c[1])) for c in calls)
        chunks = [items[i : i + self.max_batch] for i in range(0, len(items), self.max_batch)]
        answers = await asyncio.gather(*(self.send(RpcBatch(chunk)) for chunk in chunks))
        results = [r for answer in answers for r in answer]
        if raise_errors:
            for i, r in enumerate(results):
                if isinstance(r, RpcError):
                    r.add_note(f"batch item {i} of {len(results)}")
                    raise r
        return results

    async def close(self) -> None:
        for close in self._closers:
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
