"""Failover: several endpoints in priority order behind one request function.

A transport failure marks the endpoint unhealthy for `cooldown` seconds and the request moves on
to the next one. An unhealthy endpoint is skipped until its cooldown ends; then it is tried again
in its place, and recovers on its first success. When every healthy endpoint has failed, the ones
cooling down are tried as a last resort (soonest-recovering first) before giving up with an
AllEndpointsFailedError that lists each endpoint's (redacted) failure.

A node's own error answer (RpcError) is raised at once: another node would say the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tallyio.chain.errors import AllEndpointsFailedError, RpcTransportError, redact
from tallyio.chain.rpc import Request, RequestFn

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    endpoint: str  # redacted URL
    healthy: bool
    unhealthy_until: float  # clock time; 0.0 when healthy
    failures: int  # consecutive transport failures
    last_error: str | None


@dataclass(slots=True)
class _Endpoint:
    url: str
    send: RequestFn
    until: float = 0.0
    failures: int = 0
    last_error: str | None = None


class Failover:
    """The request function over `endpoints` ((url, request function) in priority order)."""

    def __init__(
        self,
        endpoints: Sequence[tuple[str, RequestFn]],
        *,
        cooldown: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if not endpoints:
            raise ValueError("failover needs at least one endpoint")
        self._endpoints = [_Endpoint(url, send) for url, send in endpoints]
        self.cooldown = cooldown
        self._clock = clock

    async def __call__(self, request: Request) -> Any:
        failures: list[tuple[str, str]] = []
        for ep in self._order():
            try:
                result = await ep.send(request)
            except RpcTransportError as exc:
                self._mark_down(ep, exc)
                failures.append((redact(ep.url), exc.reason))
                continue
            if ep.failures:
                log.info("endpoint %s recovered", redact(ep.url))
            ep.until, ep.failures, ep.last_error = 0.0, 0, None
            return result
        raise AllEndpointsFailedError(request.label, failures)

    def health(self) -> list[EndpointHealth]:
        now = self._clock()
        return [self._health(ep, now) for ep in self._endpoints]

    @staticmethod
    def _health(ep: _Endpoint, now: float) -> EndpointHealth:
        down = ep.until > now
        return EndpointHealth(
            redact(ep.url), not down, ep.until if down else 0.0, ep.failures, ep.last_error
        )

    def _order(self) -> list[_Endpoint]:
        now = self._clock()
        healthy = [ep for ep in self._endpoints if ep.until <= now]
        cooling = sorted((ep for ep in self._endpoints if ep.until > now), key=lambda e: e.until)
        return healthy + cooling

    def _mark_down(self, ep: _Endpoint, exc: RpcTransportError) -> None:
        ep.until = self._clock() + self.cooldown
        ep.failures += 1
        ep.last_error = exc.reason
        log.warning("endpoint %s unhealthy for %.0fs: %s", redact(ep.url), self.cooldown, exc)
