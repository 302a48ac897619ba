"""Behaviour around the one request function, one file each (DESIGN rule 10)."""

from tallyio.chain.middleware.failover import EndpointHealth, Failover
from tallyio.chain.middleware.metrics import RpcMetrics, default_metrics, metrics
from tallyio.chain.middleware.ratelimit import TokenBucket, rate_limit
from tallyio.chain.middleware.retry import RetryPolicy, backoff_delay, retry

__all__ = [
    "EndpointHealth",
    "Failover",
    "RetryPolicy",
    "RpcMetrics",
    "TokenBucket",
    "backoff_delay",
    "default_metrics",
    "metrics",
    "rate_limit",
    "retry",
]
