"""HTTP notifiers: Telegram Bot API, Slack incoming webhook, PagerDuty Events API v2, and a
generic JSON webhook. Each takes its base URL so tests (and proxies) can point it anywhere.

Secrets (bot token, webhook URL, routing key) never appear in a repr, log or error: failures
say which notifier and what status, with every secret replaced by ***.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tallyio.alerts.message import Alert, NotifyError

TIMEOUT_SECONDS = 10.0
HIDDEN = "***"
TELEGRAM_URL = "https://api.telegram.org"
PAGERDUTY_URL = "https://events.pagerduty.com"
PAGERDUTY_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


async def post_json(
    name: str,
    url: str,
    payload: Mapping[str, Any],
    *,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST `payload` as JSON; the answer's text on 2xx, else NotifyError."""
    hidden = (url, *secrets)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session,
            session.post(url, json=payload, headers=headers) as response,
        ):
            body = await response.text()
            if response.status >= 300:
                raise NotifyError(f"{name}: HTTP {response.status}: {_scrub(body[:200], hidden)}")
            return body
    except NotifyError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = _scrub(f"{type(exc).__name__}: {exc}", hidden)
        raise NotifyError(f"{name}: {reason}") from None  # the cause may quote the URL


@dataclass(frozen=True, slots=True)
class TelegramNotifier:
    """Bot API sendMessage to one chat."""

    chat_id: str
    bot_token: str = field(repr=False)
    base_url: str = TELEGRAM_URL
    name: str = "telegram"

    async def send(self, alert: Alert) -> None:
        url = f"{self.base_url.rstrip('/')}/bot{self.bot_token}/sendMessage"
        payload = {"chat_id": self.chat_id, "text": alert.render()[:4096]}
        body = await post_json(self.name, url, payload, secrets=(self.bot_token,))
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not (isinstance(answer, dict) and answer.get("ok") is True):
            raise NotifyError(f"{self.name}: the Bot API did not answer ok")


@dataclass(frozen=True, slots=True)
class SlackNotifier:
    """Incoming webhook: the URL itself is the secret."""

    webhook_url: str = field(repr=False)
    name: str = "slack"

    async def send(self, alert: Alert) -> None:
        await post_json(self.name, self.webhook_url, {"text": alert.render()})


@dataclass(frozen=True, slots=True)
class PagerDutyNotifier:
    """Events API v2 enqueue: trigger, or resolve by the same dedup_key."""

    routing_key: str = field(repr=False)
    base_url: str = PAGERDUTY_URL
    source: str = "tallyio"
    name: str = "pagerduty"

    def payload(self, alert: Alert) -> dict[str, Any]:
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": "resolve" if alert.resolved else "trigger",
            "dedup_key": alert.dedup_key,
        }
        if not alert.resolved:
            details = dict(alert.fields) | {"text": alert.text, "suppressed": alert.suppressed}
            event["payload"] = {
                "summary": alert.title[:1024],
                "source": self.source,
                "severity": PAGERDUTY_SEVERITY[alert.severity],
                "component": alert.event,
                "custom_details": details,
            }
        return event

    async def send(self, alert: Alert) -> None:
        url = f"{self.base_url.rstrip('/')}/v2/enqueue"
        await post_json(self.name, url, self.payload(alert), secrets=(self.routing_key,))


@dataclass(frozen=True, slots=True)
class WebhookNotifier:
    """Generic JSON POST of the whole alert; an optional bearer token."""

    url: str = field(repr=False)
    token: str = field(default="", repr=False)
    name: str = "webhook"

    async def send(self, alert: Alert) -> None:
        payload = {
            "event": alert.event,
            "key": alert.key,
            "dedup_key": alert.dedup_key,
            "title": alert.title,
            "text": alert.text,
            "severity": alert.severity,
            "resolved": alert.resolved,
            "fields": dict(alert.fields),
            "suppressed": alert.suppressed,
        }
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        await post_json(self.name, self.url, payload, secrets=(self.token,), headers=headers)
