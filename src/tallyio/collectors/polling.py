"""The polling loop every collector shares: step, yield what came, back off on errors.

A dropped connection or a bad answer is logged and retried with exponential backoff (up to
`max_backoff`); what a step returns is yielded in order. Errors a caller must see (a reorg too
deep to follow) are left to propagate by the step itself raising something not caught here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from tallyio.chain.errors import ChainError

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRIED = (ChainError, OSError, KeyError, ValueError, TypeError)


class Polled(Protocol):
    poll_interval: float
    max_backoff: float
    errors: int


async def poll(
    owner: Polled, step: Callable[[], Awaitable[Sequence[T]]], what: str, *,
    rest_after_batch: bool,
) -> AsyncIterator[T]:  # fmt: skip
    """Call `step` forever; rest `poll_interval` after an empty step (and after every step when
    `rest_after_batch`); count and back off on the errors worth retrying."""
    backoff = owner.poll_interval
    while True:
        try:
            batch = await step()
        except RETRIED as exc:
            owner.errors += 1
            log.warning("%s: %s; retrying in %.2fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, owner.max_backoff)
            continue
        backoff = owner.poll_interval
        for item in batch:
            yield item
        if rest_after_batch or not batch:
            await asyncio.sleep(owner.poll_interval)
