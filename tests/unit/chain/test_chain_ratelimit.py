"""Token bucket: burst, steady rate, debt for oversize costs, FIFO waiting."""

from __future__ import annotations

import time

import pytest
from chain_servers import Serve, rpc_handler, tiny_node

from tallyio.chain.client import compose
from tallyio.chain.middleware.ratelimit import TokenBucket, rate_limit
from tallyio.chain.rpc import HttpTransport, RpcClient


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    assert [bucket.reserve(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(1) == pytest.approx(0.1)
    assert bucket.reserve(1) == pytest.approx(0.2)  # queued behind the previous waiter
    clock.now += 10.0
    assert bucket.tokens == -2.0  # refilled lazily, at the next reserve
    assert bucket.reserve(1) == 0.0 and bucket.tokens == pytest.approx(2.0)


def test_oversize_cost_waits_for_a_full_bucket_then_owes() -> None:
    clock = Clock()
    bucket = TokenBucket(100.0, burst=10, clock=clock)
    assert bucket.reserve(50) == 0.0
    assert bucket.tokens == -40.0
    assert bucket.reserve(1) == pytest.approx(0.41)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


async def test_middleware_paces_requests(serve: Serve) -> None:
    server = await serve(rpc_handler(tiny_node))
    transport = HttpTransport(server.url)
    send = compose(transport, rate_limit(TokenBucket(50.0, burst=1)))
    async with RpcClient(send, [transport.close]) as client:
        start = time.perf_counter()
        for _ in range(6):
            await client.request("eth_blockNumber")
        elapsed = time.perf_counter() - start
        await client.batch([("eth_blockNumber", [])] * 5)  # 5 tokens: goes, leaving a debt
        before = time.perf_counter()
        await client.request("eth_blockNumber")  # pays the debt of 4 tokens first
        assert time.perf_counter() - before >= 0.08
    assert elapsed >= 0.1  # 5 waits of 20 ms after the first
