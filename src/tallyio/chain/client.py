"""`build_client`: the HTTP transports with their middleware, composed in one place.

    retry( failover( [ rate_limit( metrics( HttpTransport(url) ) ) for url in urls ] ) )

Per endpoint, metrics sit next to the transport (they time the node, not our own waiting) and
the token bucket in front of them; failover chooses among endpoints; retry wraps the lot, so a
retry starts again from the most preferred healthy endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce

from tallyio.chain.middleware.failover import EndpointHealth, Failover
from tallyio.chain.middleware.metrics import RpcMetrics, default_metrics, metrics
from tallyio.chain.middleware.ratelimit import TokenBucket, rate_limit
from tallyio.chain.middleware.retry import RetryPolicy, retry
from tallyio.chain.rpc import HttpTransport, Middleware, RequestFn, RpcClient


def compose(send: RequestFn, *middleware: Middleware) -> RequestFn:
    """`send` wrapped by each middleware in turn: the last one given is the outermost."""
    return reduce(lambda inner, wrap: wrap(inner), middleware, send)


class ChainClient(RpcClient):
    """An RpcClient that can report the health of its endpoints."""

    def __init__(
        self, send: RequestFn, transports: Sequence[HttpTransport], failover: Failover
    ) -> None:
        super().__init__(send, [t.close for t in transports])
        self.transports = tuple(transports)
        self.failover = failover

    def health(self) -> list[EndpointHealth]:
        return self.failover.health()


def build_client(
    urls: str | Sequence[str],
    *,
    timeout: float = 10.0,
    retry_policy: RetryPolicy | None = None,
    cooldown: float = 30.0,
    rate: float | None = None,
    burst: float | None = None,
    rpc_metrics: RpcMetrics | None = None,
    headers: Mapping[str, str] | None = None,
    max_batch: int = 500,
) -> ChainClient:
    """A client over `urls` in priority order.

    `rate` (requests per second per endpoint, with `burst`) turns on the token bucket;
    `retry_policy=RetryPolicy(attempts=1)` turns retry off; metrics go to `rpc_metrics`
    (default: prometheus_client's default registry).
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError("build_client needs at least one endpoint URL")
    m = rpc_metrics or default_metrics()
    transports = [HttpTransport(u, timeout=timeout, headers=headers) for u in url_list]
    endpoints: list[tuple[str, RequestFn]] = []
    for t in transports:
        layers: list[Middleware] = [metrics(m, t.url)]
        if rate is not None:
            layers.append(rate_limit(TokenBucket(rate, burst)))
        endpoints.append((t.url, compose(t, *layers)))
    failover = Failover(endpoints, cooldown=cooldown)
    client = ChainClient(compose(failover, retry(retry_policy)), transports, failover)
    client.max_batch = max_batch
    return client
