"""Each notifier against a real local receiver: the request its service expects, and errors
that never carry a token, key or secret URL."""

from __future__ import annotations

import socket

import pytest
from alert_receivers import Receiver, SmtpReceiver

from tallyio.alerts import (
    Alert,
    EmailNotifier,
    NotifyError,
    PagerDutyNotifier,
    SlackNotifier,
    TelegramNotifier,
    WebhookNotifier,
)

TOKEN = "123456:AAE-secret-bot-token"
ROUTING_KEY = "R0UT1NGKEYsecret000000000000000"
ALERT = Alert(
    "breaker_tripped", "global", "circuit breaker global tripped", "3 losing trades in 10 min",
    "critical", fields=(("scope", "global"),),
)  # fmt: skip


async def test_telegram_sends_message_to_the_bot_api(receiver: Receiver) -> None:
    notifier = TelegramNotifier(chat_id="-1001", bot_token=TOKEN, base_url=receiver.base_url)
    await notifier.send(ALERT)
    (req,) = receiver.requests
    assert req.path == f"/bot{TOKEN}/sendMessage"
    assert req.json["chat_id"] == "-1001"
    assert req.json["text"].startswith("[CRITICAL] circuit breaker global tripped")
    assert "scope: global" in req.json["text"]
    assert TOKEN not in repr(notifier)


async def test_slack_posts_text_to_the_webhook(receiver: Receiver) -> None:
    url = f"{receiver.base_url}/slack/T000/B000/secretpart"
    await SlackNotifier(webhook_url=url).send(ALERT.with_suppressed(41))
    (req,) = receiver.at("/slack/")
    assert req.json["text"].endswith("(41 similar alerts suppressed since the last message)")
    assert "secretpart" not in repr(SlackNotifier(webhook_url=url))


async def test_pagerduty_triggers_then_resolves_by_dedup_key(receiver: Receiver) -> None:
    pd = PagerDutyNotifier(routing_key=ROUTING_KEY, base_url=receiver.base_url)
    await pd.send(ALERT)
    await pd.send(Alert("breaker_tripped", "global", "breaker reset", "", "info", resolved=True))
    trigger, resolve = receiver.at("/v2/enqueue")
    assert trigger.json["routing_key"] == ROUTING_KEY
    assert trigger.json["event_action"] == "trigger"
    assert trigger.json["dedup_key"] == "tallyio/breaker_tripped/global"
    assert trigger.json["payload"]["severity"] == "critical"
    assert trigger.json["payload"]["summary"] == "circuit breaker global tripped"
    assert trigger.json["payload"]["custom_details"]["scope"] == "global"
    assert resolve.json == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "tallyio/breaker_tripped/global",
    }


async def test_webhook_posts_the_whole_alert_with_bearer(receiver: Receiver) -> None:
    await WebhookNotifier(url=f"{receiver.base_url}/hook", token="hooktoken").send(ALERT)
    (req,) = receiver.at("/hook")
    assert req.headers["Authorization"] == "Bearer hooktoken"
    assert req.json["event"] == "breaker_tripped"
    assert req.json["severity"] == "critical"
    assert req.json["fields"] == {"scope": "global"}
    assert req.json["suppressed"] == 0


async def test_http_errors_never_carry_secrets(receiver: Receiver) -> None:
    failing = TelegramNotifier("-1", bot_token=TOKEN, base_url=f"{receiver.base_url}/fail")
    with pytest.raises(NotifyError) as err:
        await failing.send(ALERT)
    assert "HTTP 500" in str(err.value)
    assert TOKEN not in str(err.value)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    for notifier, secret in (
        (TelegramNotifier("-1", bot_token=TOKEN, base_url=dead), TOKEN),
        (PagerDutyNotifier(routing_key=ROUTING_KEY, base_url=dead), ROUTING_KEY),
        (SlackNotifier(webhook_url=f"{dead}/slack/T0/B0/secretpart"), "secretpart"),
    ):
        with pytest.raises(NotifyError) as err:
            await notifier.send(ALERT)
        assert secret not in str(err.value)
        assert err.value.__cause__ is None


async def test_email_arrives_over_smtp(smtp_receiver: SmtpReceiver) -> None:
    mail = EmailNotifier(
        host=smtp_receiver.host, port=smtp_receiver.port, sender="bot@tallyio.test",
        recipients=("ops@tallyio.test", "oncall@tallyio.test"),
    )  # fmt: skip
    await mail.send(ALERT)
    ((sender, rcpts, msg),) = smtp_receiver.inbox.messages
    assert sender == "bot@tallyio.test"
    assert rcpts == ["ops@tallyio.test", "oncall@tallyio.test"]
    assert msg["Subject"] == "[tallyio CRITICAL] circuit breaker global tripped"
    assert msg["X-Tallyio-Dedup-Key"] == "tallyio/breaker_tripped/global"
    assert "3 losing trades in 10 min" in msg.get_payload()


async def test_email_failure_is_a_notify_error(smtp_receiver: SmtpReceiver) -> None:
    mail = EmailNotifier(
        host="127.0.0.1", port=smtp_receiver.port, sender="bot@tallyio.test",
        recipients=("ops@tallyio.test",), username="bot", password="smtp-pass-secret",
    )  # fmt: skip
    with pytest.raises(NotifyError) as err:  # the receiver offers no AUTH
        await mail.send(ALERT)
    assert "smtp-pass-secret" not in str(err.value)
