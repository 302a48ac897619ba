"""A Flashbots-style relay client: bundles fanned out to several builder endpoints at once.

Methods (request shapes in bundles.py): `eth_sendBundle` -> {bundleHash}, `eth_callBundle`
-> per-transaction results and totals, `mev_sendBundle` (MEV-Share v0.1), `eth_cancelBundle`.

Every request carries `X-Flashbots-Signature: <address>:<signature>`, an EIP-191 signature over
the hex of keccak256(body) by a reputation key of its own: never the key that holds funds (the
executors refuse to run with the same key for both). The body is serialised and signed once and
the same bytes go to every endpoint, each with its own timeout; one call per endpoint runs
concurrently and none can fail the others, so a dead builder costs nothing but its own timeout.
Each endpoint's latency and error go to Prometheus (`RelayMetrics`) and into the results.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import aiohttp
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from tallyio.chain.errors import redact, redact_text, snippet
from tallyio.execution.bundles import (
    HEADER,
    MevBodyItem,
    call_bundle_params,
    mev_send_bundle_params,
    send_bundle_params,
)
from tallyio.execution.signer import Signer

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


# -- metrics and results --------------------------------------------------------------------------
class RelayMetrics:
    """Per-endpoint latency and errors, registered once in `registry` (tests pass their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.latency = Histogram(
            "tallyio_relay_request_seconds", "Relay request latency by endpoint and method.",
            ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.errors = Counter(
            "tallyio_relay_errors_total", "Relay requests that failed, by endpoint and kind.",
            ["endpoint", "method", "kind"], registry=reg,
        )  # fmt: skip


@cache
def default_relay_metrics() -> RelayMetrics:
    return RelayMetrics()


@dataclass(frozen=True, slots=True)
class RelayEndpoint:
    """One builder or relay URL; `name` labels it in metrics and the journal."""

    url: str
    name: str = ""
    timeout: float = 2.0

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", redact(self.url))


@dataclass(frozen=True, slots=True)
class RelayResult:
    """One endpoint's answer to one request: its result, or why there is none."""

    endpoint: str
    method: str
    latency: float  # seconds
    result: Any = None
    error: str | None = None
    kind: str | None = None  # the error's class: "timeout", "http", "rpc", "transport", ...

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def bundle_hash(self) -> str | None:
        found = self.result.get("bundleHash") if isinstance(self.result, dict) else None
        return str(found) if found else None


class _EndpointError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- the client --------------------------------------------------------------------------------
class RelayClient:
    """Signed JSON-RPC requests to every endpoint at once; one result per endpoint, in order."""

    def __init__(
        self,
        endpoints: Sequence[RelayEndpoint | str],
        auth: Signer,
        *,
        metrics: RelayMetrics | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("a relay client needs at least one endpoint")
        self.endpoints = tuple(e if isinstance(e, RelayEndpoint) else RelayEndpoint(e)
                               for e in endpoints)  # fmt: skip
        self.auth_address = auth.address
        self._auth = auth
        self._metrics = metrics or default_relay_metrics()
        self._session: aiohttp.ClientSession | None = None
        self._ids = 0

    def __repr__(self) -> str:
        return f"RelayClient({[e.name for e in self.endpoints]}, auth {self.auth_address})"

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers of a request with this body."""
        return {"Content-Type": "application/json", HEADER: self._auth.flashbots_signature(body)}

    async def call(self, method: str, params: Sequence[Any]) -> tuple[RelayResult, ...]:
        """`method` at every endpoint concurrently; never raises for an endpoint's failure."""
        self._ids += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method,
                           "params": list(params)}, separators=(",", ":")).encode()  # fmt: skip
        headers = self.sign(body)
        session = self._open()
        calls = [self._one(session, e, method, body, headers) for e in self.endpoints]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        return tuple(
            a if isinstance(a, RelayResult)
            else RelayResult(e.name, method, 0.0, error=f"{type(a).__name__}: {a}", kind="bug")
            for e, a in zip(self.endpoints, answers, strict=True)
        )  # fmt: skip

    async def send_bundle(self, txs: Sequence[bytes], block: int, **kw: Any) -> tuple[
        RelayResult, ...
    ]:  # fmt: skip
        return await self.call("eth_sendBundle", [send_bundle_params(txs, block, **kw)])

    async def call_bundle(self, txs: Sequence[bytes], block: int, **kw: Any) -> tuple[
        RelayResult, ...
    ]:  # fmt: skip
        return await self.call("eth_callBundle", [call_bundle_params(txs, block, **kw)])

    async def send_mev_bundle(self, body: Sequence[MevBodyItem], block: int, **kw: Any) -> tuple[
        RelayResult, ...
    ]:  # fmt: skip
        return await self.call("mev_sendBundle", [mev_send_bundle_params(body, block, **kw)])

    async def cancel_bundle(self, replacement_uuid: str) -> tuple[RelayResult, ...]:
        return await self.call("eth_cancelBundle", [{"replacementUuid": replacement_uuid}])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- one endpoint ---------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        return self._session

    async def _one(
        self, session: aiohttp.ClientSession, endpoint: RelayEndpoint, method: str,
        body: bytes, headers: Mapping[str, str],
    ) -> RelayResult:  # fmt: skip
        start = time.perf_counter()
        try:
            result = await self._post(session, endpoint, body, headers)
        except _EndpointError as exc:
            latency = time.perf_counter() - start
            self._metrics.errors.labels(endpoint.name, method, exc.kind).inc()
            self._metrics.latency.labels(endpoint.name, method).observe(latency)
            message = redact_text(str(exc), endpoint.url)
            return RelayResult(endpoint.name, method, latency, error=message, kind=exc.kind)
        latency = time.perf_counter() - start
        self._metrics.latency.labels(endpoint.name, method).observe(latency)
        return RelayResult(endpoint.name, method, latency, result=result)

    async def _post(
        self, session: aiohttp.ClientSession, endpoint: RelayEndpoint, body: bytes,
        headers: Mapping[str, str],
    ) -> Any:  # fmt: skip
        timeout = aiohttp.ClientTimeout(total=endpoint.timeout)
        try:
            async with session.post(endpoint.url, data=body, headers=headers,
                                    timeout=timeout) as resp:  # fmt: skip
                raw, status = await resp.read(), resp.status
        except TimeoutError:
            raise _EndpointError("timeout", f"timed out after {endpoint.timeout}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _EndpointError("transport", f"{type(exc).__name__}: {exc}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise _EndpointError("http", f"HTTP {status}: {snippet(raw)}") from None
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            err = answer["error"]
            raise _EndpointError("rpc", f"error {err.get('code')}: {err.get('message')}")
        if status != 200 or not isinstance(answer, dict) or "result" not in answer:
            raise _EndpointError("http", f"HTTP {status}: {snippet(raw)}")
        return answer["result"]
