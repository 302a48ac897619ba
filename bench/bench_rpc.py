"""RPC round trips on anvil: 100 single eth_blockNumber requests vs one JSON-RPC batch of 100.

`run()` starts its own anvil, measures through the full client (middleware included) and
returns median figures in milliseconds over `rounds` rounds; it stops the anvil it started.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient, build_client
from tallyio.chain.middleware import RpcMetrics
from tallyio.devnet.node import start_anvil, stop_pid

N = 100


async def _timed(fn: Callable[[], Awaitable[Any]], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


async def _measure(rpc_url: str, rounds: int) -> dict[str, float]:
    client: ChainClient = build_client(rpc_url, rpc_metrics=RpcMetrics(CollectorRegistry()))
    async with client:

        async def sequential() -> None:
            for _ in range(N):
                await client.request("eth_blockNumber")

        async def concurrent() -> None:
            await asyncio.gather(*(client.request("eth_blockNumber") for _ in range(N)))

        async def batch() -> None:
            results = await client.batch([("eth_blockNumber", [])] * N)
            assert len(results) == N

        await sequential()  # warm up the connection pool
        figures = {
            "sequential_100_ms": await _timed(sequential, rounds),
            "concurrent_100_ms": await _timed(concurrent, rounds),
            "batch_100_ms": await _timed(batch, rounds),
            "single_request_ms": await _timed(lambda: client.request("eth_blockNumber"), N),
        }
    figures["batch_speedup_vs_sequential"] = figures["sequential_100_ms"] / figures["batch_100_ms"]
    return figures


def run(rounds: int = 10) -> dict[str, Any]:
    """Median milliseconds for each way of making 100 eth_blockNumber calls on a fresh anvil."""
    with tempfile.TemporaryDirectory(prefix="bench-rpc-") as tmp:
        node = start_anvil(Path(tmp))
        try:
            figures = asyncio.run(_measure(node.rpc_url, rounds))
        finally:
            stop_pid(node.pid)
    rounded = {k: round(v, 3) for k, v in figures.items()}
    # The claim this benchmark backs: one batch beats 100 round trips.
    passed = figures["batch_100_ms"] < figures["sequential_100_ms"]
    return {"calls": N, "rounds": rounds, **rounded, "passed": passed}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
