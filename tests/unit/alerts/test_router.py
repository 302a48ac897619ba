"""AlertRouter: a storm sends one message per window (the next reports what was held back),
thresholds pick large wins, losses and node lag, and config builds it without inline secrets."""

from __future__ import annotations

import tomllib

import pytest
from alert_receivers import Receiver

from tallyio.alerts import Alert, AlertLimiter, AlertRouter, AlertThresholds, WebhookNotifier
from tallyio.alerts.router import format_eth
from tallyio.app.config_schema import ConfigError
from tallyio.core.clock import FixedClock

CONFIG = """
[alerts]
window_seconds = 300
large_win_wei = 500000000000000000
large_loss_wei = 100000000000000000
node_lag_blocks = 3

[alerts.notifiers.ops_hook]
kind = "webhook"
url = "{base}/hook"

[alerts.notifiers.pager]
kind = "pagerduty"
base_url = "{base}"
routing_key_env = "TEST_PD_KEY"

[alerts.notifiers.chat]
kind = "telegram"
chat_id = "-1001"
base_url = "{base}"
bot_token_env = "TEST_TG_TOKEN"

[alerts.routes]
breaker_tripped = ["pager", "ops_hook"]
large_win = ["chat"]
large_loss = ["chat", "pager"]
node_lag = ["pager"]
"""
ENV = {"TEST_PD_KEY": "pd-routing-key-secret", "TEST_TG_TOKEN": "42:tg-token-secret"}


def router(receiver: Receiver, clock: FixedClock) -> AlertRouter:
    section = tomllib.loads(CONFIG.replace("{base}", receiver.base_url))["alerts"]
    return AlertRouter.from_config(section, env=ENV, clock=clock)


async def test_a_storm_sends_one_message_then_reports_the_suppressed(receiver: Receiver) -> None:
    clock = FixedClock(1_000.0)
    r = router(receiver, clock)
    results = [await r.breaker_tripped("global", "loss over threshold") for _ in range(1_000)]
    assert [d.suppressed for d in results].count(False) == 1
    assert results[0].sent_to == ("pager", "ops_hook")
    assert len(receiver.at("/hook")) == 1
    assert len(receiver.at("/v2/enqueue")) == 1
    other = await r.breaker_tripped("arbitrage", "3 reverts")  # another key is not held back
    assert not other.suppressed
    clock.advance(299)
    assert (await r.breaker_tripped("global", "again")).suppressed
    clock.advance(1)
    after = await r.breaker_tripped("global", "still")
    assert not after.suppressed
    assert after.alert.suppressed == 1_000  # 999 in the storm + 1 just before the window ended
    assert receiver.at("/hook")[-1].json["suppressed"] == 1_000


async def test_trades_alert_only_past_thresholds(receiver: Receiver) -> None:
    r = router(receiver, FixedClock())
    assert await r.trade("arbitrage", 499_999_999_999_999_999) is None
    assert await r.trade("arbitrage", -99_999_999_999_999_999) is None
    win = await r.trade("arbitrage", 1_500_000_000_000_000_001, tx="0xabc")
    assert win is not None and win.sent_to == ("chat",)
    assert win.alert.title == "arbitrage won 1.500000000000000001 ETH"
    loss = await r.trade("liquidation", -2 * 10**17)
    assert loss is not None and loss.sent_to == ("chat", "pager")
    texts = [req.json["text"] for req in receiver.at("/bot")]
    assert "net_wei: 1500000000000000001" in texts[0]
    assert texts[1].startswith("[CRITICAL] liquidation lost -0.2 ETH")


async def test_node_lag_triggers_once_and_resolves_when_caught_up(receiver: Receiver) -> None:
    r = router(receiver, FixedClock())
    assert await r.node_lag("ethereum", 1) is None
    assert (await r.node_lag("ethereum", 5)) is not None
    assert (await r.node_lag("ethereum", 6)).suppressed  # type: ignore[union-attr]
    resolved = await r.node_lag("ethereum", 0)
    assert resolved is not None and not resolved.suppressed
    assert await r.node_lag("ethereum", 0) is None  # nothing open any more
    actions = [req.json["event_action"] for req in receiver.at("/v2/enqueue")]
    assert actions == ["trigger", "resolve"]
    assert {req.json["dedup_key"] for req in receiver.at("/v2/enqueue")} == {
        "tallyio/node_lag/ethereum"
    }


async def test_a_failing_notifier_does_not_stop_the_others(receiver: Receiver) -> None:
    dead = WebhookNotifier(url=f"{receiver.base_url}/fail?token=hooksecret", name="dead")
    live = WebhookNotifier(url=f"{receiver.base_url}/hook", name="live")
    r = AlertRouter({"large_loss": [dead, live]}, AlertLimiter(60, FixedClock()))
    delivery = await r.notify(Alert("large_loss", "arb", "lost", "", "critical"))
    assert delivery.sent_to == ("live",)
    ((name, reason),) = delivery.failed
    assert name == "dead" and "HTTP 500" in reason and "hooksecret" not in reason


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ('routing_key_env = "TEST_PD_KEY"', 'routing_key = "inline-secret"'),
        ('routing_key_env = "TEST_PD_KEY"', 'routing_key_env = "TEST_UNSET_VAR"'),
        ('node_lag = ["pager"]', 'node_lag = ["nobody"]'),
        ('node_lag = ["pager"]', 'reorg = ["pager"]'),
        ('kind = "webhook"', 'kind = "carrier_pigeon"'),
    ],
)
def test_bad_config_is_refused_without_echoing_secrets(patch: str, key: str) -> None:
    section = tomllib.loads(CONFIG.replace(patch, key).replace("{base}", "http://127.0.0.1:9"))
    with pytest.raises(ConfigError) as err:
        AlertRouter.from_config(section["alerts"], env=ENV, clock=FixedClock())
    assert "inline-secret" not in str(err.value)
    assert all(secret not in str(err.value) for secret in ENV.values())


def test_limiter_and_values() -> None:
    clock = FixedClock()
    limiter = AlertLimiter(10, clock)
    assert limiter.admit("k") == 0
    assert limiter.admit("k") is None
    assert limiter.pending("k") == 1
    clock.advance(10)
    assert limiter.admit("k") == 1
    assert format_eth(-1_500_000_000_000_000_000) == "-1.5"
    assert format_eth(10**18) == "1"
    with pytest.raises(ValueError):
        Alert("reorg", "x", "t", "")
    with pytest.raises(ValueError):
        AlertRouter({"reorg": []}, limiter, AlertThresholds())
