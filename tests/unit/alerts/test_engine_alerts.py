"""EngineAlerts: the engine's trade and decision events, through a real AlertRouter, a real
breaker (its SQLite store in tmp) and a local webhook receiver. A large win or loss is one
message; a breaker trip is one message when it opens, none while it holds, one again after a
reset and a new trip; a trip already open at start is not news; node lag alerts and resolves."""

from __future__ import annotations

from pathlib import Path

from alert_receivers import Receiver

from tallyio.alerts import AlertLimiter, AlertRouter, AlertThresholds, WebhookNotifier
from tallyio.app.alerting import EngineAlerts, load_alert_router
from tallyio.core.clock import FixedClock
from tallyio.risk import CircuitBreaker, Exposure, RiskGate, RiskStore, load_risk_config
from tallyio.risk.breaker import GLOBAL

ETH = 10**18
RISK = Path(__file__).parents[3] / "config" / "risk" / "devnet.toml"


def _gate(tmp: Path, clock: FixedClock) -> RiskGate:
    config = load_risk_config(RISK)
    breaker = CircuitBreaker(config.breaker, RiskStore(tmp), clock)
    return RiskGate(config, breaker, Exposure(config.exposure), clock)


def _router(receiver: Receiver, clock: FixedClock) -> AlertRouter:
    hook = WebhookNotifier(url=f"{receiver.base_url}/hook")
    routes = {e: [hook] for e in ("large_win", "large_loss", "breaker_tripped", "node_lag")}
    return AlertRouter(routes, AlertLimiter(300, clock),
                       AlertThresholds(large_win_wei=ETH, large_loss_wei=ETH // 10))  # fmt: skip


def _trade(net_wei: int | None, strategy: str = "aave_v3_liquidation") -> dict[str, object]:
    return {"strategy": strategy, "plan_id": "p1", "net_wei": net_wei,
            "result": {"status": "included", "tx_hash": "0xabc"}}  # fmt: skip


def _events(receiver: Receiver) -> list[str]:
    return [r.json["event"] for r in receiver.requests]


async def test_large_wins_and_losses_alert_small_ones_do_not(
    receiver: Receiver, tmp_path: Path
) -> None:
    clock = FixedClock(1_000.0)
    alerts = EngineAlerts(_router(receiver, clock), _gate(tmp_path, clock))
    alerts("trade", _trade(ETH // 1000))  # small: nothing
    alerts("trade", _trade(None))  # nothing landed: nothing
    alerts("trade", _trade(2 * ETH))
    alerts("trade", _trade(-ETH // 5, "venus_liquidation"))
    await alerts.close()
    assert _events(receiver) == ["large_win", "large_loss"]
    win = receiver.requests[0].json
    assert win["fields"] == {"strategy": "aave_v3_liquidation", "net_wei": str(2 * ETH),
                             "tx": "0xabc"}  # fmt: skip


async def test_a_breaker_trip_is_one_alert_until_reset(receiver: Receiver, tmp_path: Path) -> None:
    clock = FixedClock(1_000.0)
    gate = _gate(tmp_path, clock)
    alerts = EngineAlerts(_router(receiver, clock), gate)
    for _ in range(gate.config.breaker.max_failures):  # what the engine feeds the gate
        gate.record_result("venus_liquidation", 31337, success=False, net_profit_wei=0,
                           gas_spent_wei=1)  # fmt: skip
        alerts("trade", _trade(0, "venus_liquidation"))
    alerts("decision", {"strategy": "venus_liquidation", "approved": False,
                        "reason": "breaker_open"})  # fmt: skip
    await alerts.close()
    trips = [r.json for r in receiver.requests if r.json["event"] == "breaker_tripped"]
    assert len(trips) == 1 and trips[0]["fields"]["scope"] == "venus_liquidation"
    assert "failures" in trips[0]["fields"]["reason"]

    gate.breaker.reset(None)
    clock.advance(301)  # past the limiter's window: a new trip may speak again
    alerts("trade", _trade(0, "venus_liquidation"))  # the reset is seen: nothing open
    gate.breaker.trip(GLOBAL, "head_lag", "node 9 blocks behind")
    alerts("decision", {"approved": False, "reason": "breaker_open"})
    await alerts.close()
    trips = [r.json for r in receiver.requests if r.json["event"] == "breaker_tripped"]
    assert [t["fields"]["scope"] for t in trips] == ["venus_liquidation", "global"]


async def test_a_trip_open_at_start_is_not_news(receiver: Receiver, tmp_path: Path) -> None:
    clock = FixedClock(1_000.0)
    gate = _gate(tmp_path, clock)
    gate.breaker.trip(GLOBAL, "operator", "held over from the last run")
    alerts = EngineAlerts(_router(receiver, clock), gate)
    alerts("decision", {"approved": False, "reason": "breaker_open"})
    await alerts.close()
    assert receiver.requests == []


async def test_node_lag_alerts_then_resolves(receiver: Receiver, tmp_path: Path) -> None:
    clock = FixedClock(1_000.0)
    alerts = EngineAlerts(_router(receiver, clock), None, chain="devnet")
    for lag in (0, 5, 6, 0):
        alerts.node_lag(lag)
        await alerts.close()
    assert [(r.json["event"], r.json["resolved"]) for r in receiver.requests] == [
        ("node_lag", False), ("node_lag", True)]  # fmt: skip


def test_the_router_comes_from_an_alerts_table(tmp_path: Path) -> None:
    path = tmp_path / "tallyio.toml"
    path.write_text(
        '[alerts]\nlarge_win_wei = 5\n[alerts.notifiers.h]\nkind = "webhook"\n'
        'url = "http://127.0.0.1:9/hook"\n[alerts.routes]\nlarge_win = ["h"]\n'
    )
    router = load_alert_router(path)
    assert router.thresholds.large_win_wei == 5 and "large_win" in router.routes
