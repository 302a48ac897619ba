"""Operator alerts: notifiers (Telegram, Slack, PagerDuty, webhook, email), a rate limiter and
the router that maps engine events to notifiers from config."""

from tallyio.alerts.email import EmailNotifier
from tallyio.alerts.http import (
    PagerDutyNotifier,
    SlackNotifier,
    TelegramNotifier,
    WebhookNotifier,
)
from tallyio.alerts.limiter import AlertLimiter
from tallyio.alerts.message import EVENTS, Alert, Notifier, NotifyError
from tallyio.alerts.router import AlertRouter, AlertThresholds

__all__ = [
    "EVENTS",
    "Alert",
    "AlertLimiter",
    "AlertRouter",
    "AlertThresholds",
    "EmailNotifier",
    "Notifier",
    "NotifyError",
    "PagerDutyNotifier",
    "SlackNotifier",
    "TelegramNotifier",
    "WebhookNotifier",
]
