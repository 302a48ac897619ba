"""Prometheus metrics for every engine stage, in one registry-aware class.

`EngineMetrics` holds the engine's collectors; the chain client (`RpcMetrics`), executors
(`ExecutionMetrics`) and relay client (`RelayMetrics`) keep their own. `exported_metric_names()`
lists every sample name all of them expose, so dashboards and alert rules can be checked
against the code. `start_metrics_server` serves a registry on loopback by default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

STAGES = (
    "collect",
    "state",
    "strategy",
    "queue",
    "risk",
    "simulate",
    "sign",
    "send",
    "journal",
    "event_to_signed",
    "idle",  # the strategies' idle work between blocks (pre-sizing), off the event path
)
# Stages run from microseconds (state, strategy) to seconds (simulate, send).
STAGE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
DEFAULT_METRICS_PORT = 9464  # the port deploy/ (Prometheus, compose, Kubernetes) scrapes
RELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class UnknownStageError(ValueError):
    """A stage name outside STAGES: a typo would otherwise make a silent new series."""


class EngineMetrics:
    """The engine's collectors, registered once in `registry` (tests pass their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.registry = reg
        self.stage_seconds = Histogram(
            "tallyio_stage_seconds", "Latency of each engine stage.",
            ["stage"], buckets=STAGE_BUCKETS, registry=reg,
        )  # fmt: skip
        self.events_total = Counter(
            "tallyio_events_total", "Chain events received, by chain and kind.",
            ["chain", "kind"], registry=reg,
        )  # fmt: skip
        self.opportunities_total = Counter(
            "tallyio_opportunities_total", "Opportunities found, by strategy.",
            ["strategy"], registry=reg,
        )  # fmt: skip
        self.approvals_total = Counter(
            "tallyio_approvals_total", "Opportunities approved by risk, by strategy.",
            ["strategy"], registry=reg,
        )  # fmt: skip
        self.rejections_total = Counter(
            "tallyio_rejections_total", "Opportunities rejected, by stage and reason.",
            ["stage", "reason"], registry=reg,
        )  # fmt: skip
        self.submissions_total = Counter(
            "tallyio_submissions_total", "Submissions, by executor mode and status.",
            ["mode", "status"], registry=reg,
        )  # fmt: skip
        self.inclusions_total = Counter(
            "tallyio_inclusions_total", "Submissions included (or not), by strategy and status.",
            ["strategy", "status"], registry=reg,
        )  # fmt: skip
        self._add_money_and_health(reg)

    def _add_money_and_health(self, reg: CollectorRegistry) -> None:
        # Counters only go up: realised wins add here; the gauge carries the signed net. The
        # gauge can't be `tallyio_profit_wei`: that is the counter's family name.
        self.profit_wei_total = Counter(
            "tallyio_profit_wei_total", "Realised gross profit in wei (wins only), by strategy.",
            ["strategy"], registry=reg,
        )  # fmt: skip
        self.profit_wei = Gauge(
            "tallyio_net_profit_wei", "Realised net profit in wei (may be negative), by strategy.",
            ["strategy"], registry=reg,
        )  # fmt: skip
        self.gas_spent_wei_total = Counter(
            "tallyio_gas_spent_wei_total", "Gas paid in wei, by strategy.",
            ["strategy"], registry=reg,
        )  # fmt: skip
        self.node_lag_blocks = Gauge(
            "tallyio_node_lag_blocks", "Blocks the node's head is behind the best known head.",
            ["chain"], registry=reg,
        )  # fmt: skip
        self.relay_latency_seconds = Histogram(
            "tallyio_relay_latency_seconds", "Bundle relay round trip, by endpoint.",
            ["endpoint"], buckets=RELAY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.errors_total = Counter(
            "tallyio_errors_total", "Errors caught and survived, by component.",
            ["component"], registry=reg,
        )  # fmt: skip
        self.breaker_open = Gauge(
            "tallyio_breaker_open", "1 while a circuit breaker is open, by scope.",
            ["scope"], registry=reg,
        )  # fmt: skip
        self.accounts_at_risk = Gauge(
            "tallyio_accounts_at_risk", "Lending accounts below the watch health factor.",
            ["protocol"], registry=reg,
        )  # fmt: skip
        self.head_block = Gauge(
            "tallyio_head_block", "Latest block number seen, by chain.",
            ["chain"], registry=reg,
        )  # fmt: skip

    def observe(self, stage: str, seconds: float) -> None:
        if stage not in STAGES:
            raise UnknownStageError(f"unknown stage {stage!r}; expected one of {STAGES}")
        self.stage_seconds.labels(stage).observe(seconds)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Time the block as `stage`, also when it raises."""
        if stage not in STAGES:
            raise UnknownStageError(f"unknown stage {stage!r}; expected one of {STAGES}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(stage).observe(time.perf_counter() - start)

    def realised(self, strategy: str, net_wei: int, gas_wei: int) -> None:
        """Book one trade's exact net profit (after gas) and its gas cost."""
        if gas_wei < 0:
            raise ValueError(f"gas_wei must be >= 0, got {gas_wei}")
        if net_wei > 0:
            self.profit_wei_total.labels(strategy).inc(net_wei)
        self.profit_wei.labels(strategy).inc(net_wei)
        self.gas_spent_wei_total.labels(strategy).inc(gas_wei)


@cache
def default_engine_metrics() -> EngineMetrics:
    """The process-wide collectors in prometheus_client's default registry (created once)."""
    return EngineMetrics()


def all_metrics(registry: CollectorRegistry) -> CollectorRegistry:
    """Register every metric class the code has into `registry` and return it."""
    from tallyio.chain.middleware.metrics import RpcMetrics
    from tallyio.execution.relays import RelayMetrics
    from tallyio.execution.submit import ExecutionMetrics

    EngineMetrics(registry)
    RpcMetrics(registry)
    ExecutionMetrics(registry)
    RelayMetrics(registry)
    return registry


def exported_metric_names() -> frozenset[str]:
    """Every sample name the code exports (histograms as _bucket, _sum and _count)."""
    registry = all_metrics(CollectorRegistry())
    names: set[str] = set()
    for family in registry.collect():
        names.update(_sample_names(family.name, family.type))
    return frozenset(names)


def _sample_names(name: str, kind: str) -> tuple[str, ...]:
    # collect() yields no samples for labelled metrics never used, so derive them from the type.
    if kind == "counter":
        return (f"{name}_total", f"{name}_created")
    if kind == "histogram":
        return (f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created")
    if kind == "summary":
        return (name, f"{name}_sum", f"{name}_count", f"{name}_created")
    return (name,)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running exposition endpoint; `stop()` shuts it down and frees the port."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve `registry` (default: the process one) at http://host:port/metrics; port 0 picks."""
    reg = REGISTRY if registry is None else registry
    server, thread = start_http_server(port, addr=host, registry=reg)
    return MetricsServer(host, int(server.server_port), server, thread)
