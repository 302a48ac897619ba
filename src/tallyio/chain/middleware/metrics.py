"""Metrics middleware: per-method, per-endpoint latency histogram and error counter.

Wraps one endpoint's request function, so the latency is the node's (failover and retry
pauses are outside it). The endpoint label is the redacted URL; a batch is labelled "batch".
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from tallyio.chain.errors import redact
from tallyio.chain.rpc import Middleware, Request, RequestFn

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RpcMetrics:
    """The chain client's collectors, registered once in `registry` (tests pass their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.latency = Histogram(
            "tallyio_rpc_request_seconds",
            "JSON-RPC request latency by method and endpoint (answers and errors alike).",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.errors = Counter(
            "tallyio_rpc_errors_total",
            "JSON-RPC requests that failed, by method, endpoint and error kind.",
            ["method", "endpoint", "kind"],
            registry=reg,
        )


@cache
def default_metrics() -> RpcMetrics:
    """The process-wide collectors in prometheus_client's default registry (created once)."""
    return RpcMetrics()


def metrics(m: RpcMetrics, url: str) -> Middleware:
    endpoint = redact(url)

    def middleware(send: RequestFn) -> RequestFn:
        async def send_measured(request: Request) -> Any:
            start = time.perf_counter()
            try:
                return await send(request)
            except Exception as exc:
                m.errors.labels(request.label, endpoint, type(exc).__name__).inc()
                raise
            finally:
                m.latency.labels(request.label, endpoint).observe(time.perf_counter() - start)

        return send_measured

    return middleware
