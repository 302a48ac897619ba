"""Notifiers from the `[alerts]` TOML section. Secrets come only from environment variables
named in the config (`bot_token_env`, `webhook_url_env`, `routing_key_env`, `password_env`,
`token_env`); a secret written into the file itself is refused."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tallyio.alerts.email import EmailNotifier
from tallyio.alerts.http import (
    PAGERDUTY_URL,
    TELEGRAM_URL,
    PagerDutyNotifier,
    SlackNotifier,
    TelegramNotifier,
    WebhookNotifier,
)
from tallyio.alerts.message import Notifier
from tallyio.app.config_schema import ConfigError

SECRET_KEYS = ("bot_token", "webhook_url", "routing_key", "password", "token")
Env = Mapping[str, str]


class _Entry:
    """One `[alerts.notifiers.NAME]` table, with errors that name the key."""

    def __init__(self, source: str, name: str, table: Mapping[str, Any], env: Env) -> None:
        self.source, self.name, self.table, self.env = source, name, table, env
        for key in SECRET_KEYS:
            if key in table:
                self.fail(key, f"put the secret in an environment variable and set {key}_env")

    def fail(self, key: str, message: str) -> ConfigError:
        raise ConfigError(self.source, f"alerts.notifiers.{self.name}.{key}", message)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str) or not value:
            self.fail(key, "expected a non-empty string")
        return str(value)

    def secret(self, key: str, *, required: bool = True) -> str:
        var = self.table.get(f"{key}_env")
        if var is None and not required:
            return ""
        if not isinstance(var, str) or not var:
            self.fail(f"{key}_env", "expected the name of an environment variable")
        value = self.env.get(str(var), "")
        if not value:
            self.fail(f"{key}_env", f"environment variable {var} is not set")
        return value


def _telegram(e: _Entry) -> Notifier:
    return TelegramNotifier(
        chat_id=str(e.table.get("chat_id", "")) or e.text("chat_id"),
        bot_token=e.secret("bot_token"),
        base_url=e.text("base_url", TELEGRAM_URL),
        name=e.name,
    )


def _slack(e: _Entry) -> Notifier:
    return SlackNotifier(webhook_url=e.secret("webhook_url"), name=e.name)


def _pagerduty(e: _Entry) -> Notifier:
    return PagerDutyNotifier(
        routing_key=e.secret("routing_key"),
        base_url=e.text("base_url", PAGERDUTY_URL),
        source=e.text("source", "tallyio"),
        name=e.name,
    )


def _webhook(e: _Entry) -> Notifier:
    return WebhookNotifier(url=e.text("url"), token=e.secret("token", required=False), name=e.name)


def _email(e: _Entry) -> Notifier:
    recipients = e.table.get("recipients")
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        e.fail("recipients", "expected a list of addresses")
    port = e.table.get("port", 25)
    if not isinstance(port, int) or not 0 < port < 65536:
        e.fail("port", "expected a port number")
    return EmailNotifier(
        host=e.text("host"),
        port=int(port),
        sender=e.text("sender"),
        recipients=tuple(recipients or ()),
        username=str(e.table.get("username", "")),
        password=e.secret("password", required=False),
        starttls=bool(e.table.get("starttls", False)),
        name=e.name,
    )


BUILDERS: dict[str, Callable[[_Entry], Notifier]] = {
    "telegram": _telegram,
    "slack": _slack,
    "pagerduty": _pagerduty,
    "webhook": _webhook,
    "email": _email,
}


def notifiers_from_config(
    tables: Mapping[str, Any], env: Env, source: str = "[alerts]"
) -> dict[str, Notifier]:
    """`{name: notifier}` from the `[alerts.notifiers]` tables."""
    built: dict[str, Notifier] = {}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(source, f"alerts.notifiers.{name}", "expected a table")
        kind = table.get("kind")
        if kind not in BUILDERS:
            raise ConfigError(
                source, f"alerts.notifiers.{name}.kind", f"expected one of {sorted(BUILDERS)}"
            )
        built[name] = BUILDERS[str(kind)](_Entry(source, name, table, env))
    return built
