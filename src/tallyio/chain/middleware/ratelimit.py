"""Rate-limit middleware: a token bucket per endpoint, so we stay under a provider's quota.

A request waits for its tokens rather than failing (a batch costs one token per call). A cost
above the burst is let through once the bucket is full, leaving it in debt, so large batches
are never stuck. Waiters queue in arrival order: each reserves its tokens before it sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tallyio.chain.rpc import Middleware, Request, RequestFn

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.tokens = self.burst
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()

    def reserve(self, cost: float) -> float:
        """Take `cost` tokens now; returns how long the caller must wait before going ahead."""
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        need = min(cost, self.burst)
        wait = 0.0 if self.tokens >= need else (need - self.tokens) / self.rate
        self.tokens -= cost
        return wait

    async def acquire(self, cost: float = 1.0) -> None:
        wait = self.reserve(cost)
        if wait > 0:
            await self._sleep(wait)


def rate_limit(bucket: TokenBucket) -> Middleware:
    def middleware(send: RequestFn) -> RequestFn:
        async def send_limited(request: Request) -> Any:
            await bucket.acquire(request.cost)
            return await send(request)

        return send_limited

    return middleware
