"""Retry middleware: backoff bounds, what is retried and what is not."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp import web
from chain_servers import Serve

from tallyio.chain.client import compose
from tallyio.chain.errors import RpcError, RpcTransportError
from tallyio.chain.middleware.retry import RetryPolicy, backoff_delay, retry
from tallyio.chain.rpc import HttpTransport, RpcClient


def test_backoff_stays_within_bounds() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, multiplier=2.0, max_delay=1.0, jitter=0.5)
    rng = random.Random(1)
    for n in range(10):
        cap = min(1.0, 0.1 * 2.0**n)
        delays = [backoff_delay(policy, n, rng) for _ in range(200)]
        assert all(cap * 0.5 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap * 0.3  # jitter really spreads them


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.01, max_delay=2.0)
    rng = random.Random(2)
    assert backoff_delay(policy, 0, rng, retry_after=1.5) == 1.5
    assert backoff_delay(policy, 0, rng, retry_after=60.0) == 2.0


@pytest.mark.parametrize(
    "bad",
    [
        {"attempts": 0},
        {"base_delay": -1.0},
        {"base_delay": 3.0, "max_delay": 1.0},
        {"jitter": 1.5},
        {"multiplier": 0.5},
    ],
)
def test_policy_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="bad retry policy"):
        RetryPolicy(**bad)


class Sleeps:
    """Records the pauses instead of taking them (time is injected, like a clock)."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


def flaky(failures: int, status: int = 503) -> Any:
    seen = {"n": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen["n"] += 1
        if seen["n"] <= failures:
            return web.Response(status=status, text="try later")
        body = await request.json()
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x2a"})

    return handler


def retrying_client(url: str, policy: RetryPolicy, sleeps: Sleeps) -> RpcClient:
    transport = HttpTransport(url, timeout=2.0)
    send = compose(transport, retry(policy, sleep=sleeps, rng=random.Random(3)))
    return RpcClient(send, [transport.close])


async def test_transport_failures_are_retried_with_growing_pauses(serve: Serve) -> None:
    server = await serve(flaky(3))
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=10.0, jitter=0.0)
    async with retrying_client(server.url, policy, sleeps) as client:
        assert await client.request("eth_blockNumber") == "0x2a"
    assert server.hits == 4
    assert sleeps.taken == pytest.approx([0.1, 0.2, 0.4])


async def test_rate_limit_is_retried(serve: Serve) -> None:
    server = await serve(flaky(1, status=429))
    sleeps = Sleeps()
    async with retrying_client(server.url, RetryPolicy(attempts=2), sleeps) as client:
        assert await client.request("eth_blockNumber") == "0x2a"
    assert server.hits == 2 and len(sleeps.taken) == 1


async def test_gives_up_after_bounded_attempts(serve: Serve) -> None:
    server = await serve(flaky(100))
    sleeps = Sleeps()
    async with retrying_client(server.url, RetryPolicy(attempts=3), sleeps) as client:
        with pytest.raises(RpcTransportError, match="HTTP 503") as info:
            await client.request("eth_blockNumber")
    assert server.hits == 3 and len(sleeps.taken) == 2
    assert "gave up after 3 tries" in (info.value.__notes__ or [])


async def test_node_errors_are_never_retried(serve: Serve) -> None:
    async def reverts(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        error = {"code": 3, "message": "execution reverted", "data": "0x"}
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})

    server = await serve(reverts)
    sleeps = Sleeps()
    async with retrying_client(server.url, RetryPolicy(attempts=5), sleeps) as client:
        with pytest.raises(RpcError, match="execution reverted"):
            await client.request("eth_call", [{}, "latest"])
    assert server.hits == 1 and sleeps.taken == []
