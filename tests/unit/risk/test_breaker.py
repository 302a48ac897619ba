"""The breaker trips on failures, losses and head lag, holds past the window, resets only by
reset(), and keeps its state across instances (another process, a restart)."""

from __future__ import annotations

from pathlib import Path

import pytest
from risk_helpers import GWEI, Rig, opportunity, rig

from tallyio.core.opportunity import ETH
from tallyio.risk import GLOBAL, CircuitBreaker, RiskGate, RiskStore


@pytest.fixture
def r(tmp_path: Path) -> Rig:
    return rig(tmp_path)


def _fail(r: Rig, strategy: str = "liquidation", **kw: int) -> None:
    r.gate.record_result(strategy, 1, success=False, net_profit_wei=kw.get("net", -(10**15)),
                         gas_spent_wei=10**15)  # fmt: skip


def _passes(r: Rig, strategy: str = "liquidation", lag: int = 0) -> bool:
    opp = opportunity(strategy=strategy, expected_profit=ETH // 10)
    decision = r.gate.check(opp, gas_price_wei=GWEI, head_lag_blocks=lag)
    assert decision.approved or decision.reason == "breaker_open", decision
    return decision.approved


def test_trips_a_strategy_after_n_failures_in_the_window(r: Rig) -> None:
    _fail(r)
    _fail(r)
    assert _passes(r)
    _fail(r)  # the third: max_failures = 3
    assert not _passes(r)
    assert _passes(r, "arbitrage")  # only that strategy halts
    (trip,) = r.gate.breaker.status()
    assert (trip.scope, trip.reason) == ("liquidation", "failures")


def test_losing_transactions_count_and_old_ones_fall_out_of_the_window(r: Rig) -> None:
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=-1, gas_spent_wei=1)
    _fail(r)
    r.clock.advance(600.5)  # both leave the 600 s window
    _fail(r)
    _fail(r)
    assert _passes(r)
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=-1, gas_spent_wei=1)
    assert not _passes(r)


def test_trips_on_a_strategy_loss_over_the_threshold(r: Rig) -> None:
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=ETH, gas_spent_wei=0)
    _fail(r, net=-(ETH // 4))
    _fail(r, net=-(ETH // 4))  # 0.5 ether lost: at the threshold, wins do not offset
    assert _passes(r)
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=-1, gas_spent_wei=0)
    assert not _passes(r)
    assert r.gate.breaker.status()[0].reason in {"loss", "failures"}
    assert _passes(r, "arbitrage")


def test_loss_alone_trips_before_the_failure_count(r: Rig) -> None:
    _fail(r, net=-(ETH // 2) - 1)
    assert not _passes(r)
    assert [t.reason for t in r.gate.breaker.status()] == ["loss"]


def test_total_loss_of_all_strategies_trips_everything(r: Rig) -> None:
    for name in ("a", "b"):
        _fail(r, name, net=-(4 * ETH // 10))
    _fail(r, "c", net=-(2 * ETH // 10))  # 1.0 ether in all: at the threshold
    assert _passes(r, "d")
    _fail(r, "c", net=-1)
    assert not _passes(r, "d")
    assert [(t.scope, t.reason) for t in r.gate.breaker.status()] == [(GLOBAL, "total_loss")]


def test_head_lag_trips_everything_and_holds(r: Rig) -> None:
    assert _passes(r, lag=3)
    assert not _passes(r, lag=4)
    assert not _passes(r, "arbitrage", lag=0)  # the node caught up: still halted
    (trip,) = r.gate.breaker.status()
    assert (trip.scope, trip.reason) == (GLOBAL, "head_lag")


def test_holds_after_the_window_until_reset(r: Rig) -> None:
    for _ in range(3):
        _fail(r)
    r.clock.advance(100 * 600)
    assert not _passes(r)
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=ETH, gas_spent_wei=0)
    assert not _passes(r)
    cleared = r.gate.breaker.reset("liquidation")
    assert [t.scope for t in cleared] == ["liquidation"]
    assert _passes(r)


def test_reset_forgets_earlier_failures(r: Rig) -> None:
    for _ in range(3):
        _fail(r)
    r.gate.breaker.reset("liquidation")
    _fail(r)  # one failure after the reset, within the window of the three before it
    assert _passes(r)


def test_reset_all_clears_global_and_strategy_trips(r: Rig) -> None:
    for _ in range(3):
        _fail(r)
    r.gate.breaker.observe_head_lag(10)
    assert len(r.gate.breaker.status()) == 2
    r.gate.breaker.reset("liquidation")
    assert not _passes(r)  # the global trip still holds
    assert len(r.gate.breaker.reset()) == 1
    assert _passes(r) and r.gate.breaker.status() == []


def test_a_trip_keeps_its_first_reason(r: Rig) -> None:
    first = r.gate.breaker.trip(GLOBAL, "emergency_exit", "operator ran emergency-exit")
    again = r.gate.breaker.trip(GLOBAL, "head_lag", "later")
    assert again == first


def test_slippage_beyond_the_model_counts_as_a_failure(r: Rig) -> None:
    assert r.gate.record_slippage("liquidation", 10_000, 9_800, chain_id=1) == 200
    assert _passes(r)
    for _ in range(3):
        assert r.gate.record_slippage("liquidation", 10_000, 9_799, chain_id=1) == 201
    assert not _passes(r)


def test_state_persists_across_instances(r: Rig) -> None:
    for _ in range(3):
        _fail(r)
    # A restart: a new store and breaker on the same state dir stay tripped.
    other = CircuitBreaker(r.gate.breaker.config, RiskStore(r.state_dir), r.clock)
    assert other.open_trip("liquidation") is not None
    # An operator's reset from that other instance is seen by the running gate at once.
    other.reset("liquidation")
    assert _passes(r)
    # ... and a trip by the running gate is seen by the other.
    r.gate.breaker.observe_head_lag(99)
    assert other.open_trip("anything") is not None
    gate2 = RiskGate(r.gate.config, other, r.gate.exposure, r.clock)
    assert gate2.check(opportunity(), gas_price_wei=GWEI).reason == "breaker_open"


def test_publish_sets_the_breaker_gauge(r: Rig) -> None:
    from prometheus_client import CollectorRegistry

    from tallyio.metrics import EngineMetrics

    registry = CollectorRegistry()
    metrics = EngineMetrics(registry)
    r.gate.breaker.observe_head_lag(10)
    r.gate.breaker.publish(metrics.breaker_open)
    assert registry.get_sample_value("tallyio_breaker_open", {"scope": "global"}) == 1.0
    r.gate.breaker.reset()
    r.gate.breaker.publish(metrics.breaker_open)
    assert registry.get_sample_value("tallyio_breaker_open", {"scope": "global"}) == 0.0
