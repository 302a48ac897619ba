"""EngineMetrics: names, stage timing, exact profit booking, exposition over HTTP."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from tallyio.metrics import (
    STAGES,
    EngineMetrics,
    UnknownStageError,
    exported_metric_names,
    start_metrics_server,
)

ENGINE_NAMES = {
    "tallyio_stage_seconds_bucket",
    "tallyio_events_total",
    "tallyio_opportunities_total",
    "tallyio_approvals_total",
    "tallyio_rejections_total",
    "tallyio_submissions_total",
    "tallyio_inclusions_total",
    "tallyio_profit_wei_total",
    "tallyio_net_profit_wei",
    "tallyio_gas_spent_wei_total",
    "tallyio_node_lag_blocks",
    "tallyio_relay_latency_seconds_bucket",
    "tallyio_errors_total",
    "tallyio_breaker_open",
    "tallyio_accounts_at_risk",
    "tallyio_head_block",
}
OTHER_NAMES = {
    "tallyio_rpc_request_seconds_bucket",
    "tallyio_rpc_errors_total",
    "tallyio_execution_stage_seconds_count",
    "tallyio_executions_total",
    "tallyio_relay_request_seconds_sum",
    "tallyio_relay_errors_total",
}


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_exported_names_cover_engine_and_existing_metrics() -> None:
    names = exported_metric_names()
    assert names >= ENGINE_NAMES | OTHER_NAMES
    assert "tallyio_stage_seconds_sum" in names
    assert "tallyio_stage_seconds_count" in names
    assert "tallyio_stage_seconds" not in names  # a histogram has no bare sample


def test_observe_and_timed_record_each_stage() -> None:
    reg = CollectorRegistry()
    m = EngineMetrics(reg)
    for stage in STAGES:
        m.observe(stage, 0.002)
    with m.timed("simulate"):
        pass
    with pytest.raises(RuntimeError), m.timed("send"):
        raise RuntimeError("boom")  # a failing stage is still timed
    assert value(reg, "tallyio_stage_seconds_count", stage="collect") == 1
    assert value(reg, "tallyio_stage_seconds_count", stage="simulate") == 2
    assert value(reg, "tallyio_stage_seconds_count", stage="send") == 2
    assert value(reg, "tallyio_stage_seconds_bucket", stage="risk", le="0.0025") == 1
    assert value(reg, "tallyio_stage_seconds_bucket", stage="risk", le="0.001") == 0


def test_unknown_stage_is_refused() -> None:
    m = EngineMetrics(CollectorRegistry())
    with pytest.raises(UnknownStageError):
        m.observe("simulation", 0.1)
    with pytest.raises(UnknownStageError), m.timed("sgin"):
        pass


def test_realised_profit_books_exact_wei_and_can_go_negative() -> None:
    reg = CollectorRegistry()
    m = EngineMetrics(reg)
    win = 3 * 10**15 + 7  # floats hold this exactly (< 2**53)
    m.realised("liquidation", win, gas_wei=21_000 * 10**9)
    m.realised("liquidation", -(5 * 10**15), gas_wei=42_000 * 10**9)
    assert value(reg, "tallyio_profit_wei_total", strategy="liquidation") == win
    assert value(reg, "tallyio_net_profit_wei", strategy="liquidation") == win - 5 * 10**15
    assert value(reg, "tallyio_gas_spent_wei_total", strategy="liquidation") == 63_000 * 10**9
    with pytest.raises(ValueError):
        m.realised("arbitrage", 1, gas_wei=-1)


def test_counters_and_gauges_carry_their_labels() -> None:
    reg = CollectorRegistry()
    m = EngineMetrics(reg)
    m.events_total.labels("ethereum", "block").inc()
    m.rejections_total.labels("risk", "min_profit").inc(2)
    m.breaker_open.labels("global").set(1)
    m.node_lag_blocks.labels("ethereum").set(4)
    assert value(reg, "tallyio_events_total", chain="ethereum", kind="block") == 1
    assert value(reg, "tallyio_rejections_total", stage="risk", reason="min_profit") == 2
    assert value(reg, "tallyio_breaker_open", scope="global") == 1
    assert value(reg, "tallyio_node_lag_blocks", chain="ethereum") == 4


def test_metrics_server_serves_registry_on_loopback_and_stops() -> None:
    reg = CollectorRegistry()
    m = EngineMetrics(reg)
    m.head_block.labels("ethereum").set(19_000_000)
    server = start_metrics_server(0, registry=reg)
    try:
        assert server.host == "127.0.0.1"
        with urllib.request.urlopen(server.url, timeout=5) as response:
            body = response.read().decode()
        assert 'tallyio_head_block{chain="ethereum"} 1.9e+07' in body
        assert "# TYPE tallyio_stage_seconds histogram" in body
    finally:
        server.stop()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):  # nobody listens now
        probe.connect(("127.0.0.1", server.port))
