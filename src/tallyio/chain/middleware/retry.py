"""Retry middleware: transport failures and rate limits again, with exponential backoff + jitter.

A node's own error answer (RpcError: execution reverted, invalid params, nonce too low) is
deterministic and raised at once. Every transport failure — refused, timed out, bad answer,
rate limited, all endpoints failed — is tried again up to `attempts` tries in all.
Retrying `eth_sendRawTransaction` is safe: the same signed bytes have the same hash, and the
node answers "already known" or "nonce too low" (an RpcError) if the first try got through.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tallyio.chain.errors import RateLimitedError, RpcTransportError
from tallyio.chain.rpc import Middleware, Request, RequestFn

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, the first included
    base_delay: float = 0.05  # seconds before the 2nd try (before jitter)
    multiplier: float = 2.0
    max_delay: float = 2.0  # cap on any one pause, a server's Retry-After included
    jitter: float = 0.5  # a pause is drawn from [cap * (1 - jitter), cap]

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"bad retry policy {self}")
        if not 0.0 <= self.jitter <= 1.0 or self.multiplier < 1.0:
            raise ValueError(f"bad retry policy {self}")


def backoff_delay(
    policy: RetryPolicy, retry: int, rng: random.Random, retry_after: float | None = None
) -> float:
    """The pause before retry number `retry` (0 = the first retry), in seconds."""
    cap = min(policy.max_delay, policy.base_delay * policy.multiplier**retry)
    delay = cap * (1.0 - policy.jitter * rng.random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_delay))
    return delay


def retry(
    policy: RetryPolicy | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> Middleware:
    policy = policy or RetryPolicy()
    jitter_rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def middleware(send: RequestFn) -> RequestFn:
        async def send_with_retry(request: Request) -> Any:
            for n in range(policy.attempts):
                try:
                    return await send(request)
                except RpcTransportError as exc:
                    if n + 1 >= policy.attempts:
                        exc.add_note(f"gave up after {policy.attempts} tries")
                        raise
                    hint = exc.retry_after if isinstance(exc, RateLimitedError) else None
                    delay = backoff_delay(policy, n, jitter_rng, hint)
                    log.info("%s; try %d in %.3fs", exc, n + 2, delay)
                    await sleep(delay)
            raise AssertionError("unreachable")  # pragma: no cover

        return send_with_retry

    return middleware
