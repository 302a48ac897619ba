"""AlertRouter: engine events (breaker trips, large wins and losses, node lag) to notifiers,
through the limiter, so a storm of one alert sends one message per window."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tallyio.alerts.config import Env, notifiers_from_config
from tallyio.alerts.limiter import AlertLimiter
from tallyio.alerts.message import EVENTS, Alert, Notifier, NotifyError
from tallyio.app.config_schema import ConfigError
from tallyio.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)
WEI = 10**18


def format_eth(wei: int) -> str:
    """Exact decimal ETH for a wei amount (no floats): -1500000000000000000 -> '-1.5'."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI)
    return f"{sign}{whole}" + (f".{frac:018d}".rstrip("0") if frac else "")


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    large_win_wei: int = WEI  # a trade netting at least this is worth a message
    large_loss_wei: int = WEI // 10  # a loss at least this large (positive number)
    node_lag_blocks: int = 3


@dataclass(frozen=True, slots=True)
class Delivery:
    alert: Alert
    suppressed: bool  # held back by the limiter: nothing sent
    sent_to: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (notifier, reason without secrets)


class AlertRouter:
    def __init__(
        self,
        routes: Mapping[str, Sequence[Notifier]],
        limiter: AlertLimiter,
        thresholds: AlertThresholds | None = None,
    ) -> None:
        unknown = set(routes) - set(EVENTS)
        if unknown:
            raise ValueError(f"unknown alert events {sorted(unknown)}; expected {EVENTS}")
        self.routes = {event: tuple(notifiers) for event, notifiers in routes.items()}
        self.limiter = limiter
        self.thresholds = thresholds or AlertThresholds()
        self._lagging: set[str] = set()  # chains with an open node_lag alert

    async def notify(self, alert: Alert) -> Delivery:
        key = alert.dedup_key + ("/resolved" if alert.resolved else "")
        held = self.limiter.admit(key)
        if held is None:
            return Delivery(alert, suppressed=True)
        alert = alert.with_suppressed(held)
        notifiers = self.routes.get(alert.event, ())
        results = await asyncio.gather(*(n.send(alert) for n in notifiers), return_exceptions=True)
        sent, failed = [], []
        for notifier, result in zip(notifiers, results, strict=True):
            if isinstance(result, BaseException):
                reason = str(result) if isinstance(result, NotifyError) else type(result).__name__
                log.warning("alert %s not delivered: %s", alert.dedup_key, reason)
                failed.append((notifier.name, reason))
            else:
                sent.append(notifier.name)
        return Delivery(alert, False, tuple(sent), tuple(failed))

    async def breaker_tripped(self, scope: str, reason: str) -> Delivery:
        return await self.notify(Alert(
            "breaker_tripped", scope, f"circuit breaker {scope} tripped: nothing is sent",
            f"{reason}. Reset with `tallyio risk reset` once understood.", "critical",
            fields=(("scope", scope), ("reason", reason)),
        ))  # fmt: skip

    async def trade(self, strategy: str, net_profit_wei: int, tx: str = "") -> Delivery | None:
        """A realised trade: an alert only when the win or loss passes its threshold."""
        fields = (("strategy", strategy), ("net_wei", str(net_profit_wei)), ("tx", tx))
        eth = format_eth(net_profit_wei)
        if net_profit_wei >= self.thresholds.large_win_wei:
            alert = Alert("large_win", strategy, f"{strategy} won {eth} ETH", "", "info",
                          fields=fields)  # fmt: skip
        elif -net_profit_wei >= self.thresholds.large_loss_wei:
            alert = Alert("large_loss", strategy, f"{strategy} lost {eth} ETH", "", "critical",
                          fields=fields)  # fmt: skip
        else:
            return None
        return await self.notify(alert)

    async def node_lag(self, chain: str, lag_blocks: int) -> Delivery | None:
        """The node's head lag: an alert past the threshold, one resolve once caught up."""
        if lag_blocks >= self.thresholds.node_lag_blocks:
            self._lagging.add(chain)
            title, severity, resolved = (
                f"{chain} node is {lag_blocks} blocks behind",
                "critical",
                False,
            )
        elif chain in self._lagging:
            self._lagging.discard(chain)
            title, severity, resolved = f"{chain} node caught up", "info", True
        else:
            return None
        alert = Alert("node_lag", chain, title, "", severity, resolved=resolved,
                      fields=(("lag_blocks", str(lag_blocks)),))  # fmt: skip
        return await self.notify(alert)

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any],
        env: Env | None = None,
        clock: Clock | None = None,
        source: str = "[alerts]",
    ) -> AlertRouter:
        """Build from the `[alerts]` table: window_seconds, thresholds, notifiers, routes."""
        notifiers = notifiers_from_config(
            section.get("notifiers", {}), os.environ if env is None else env, source
        )
        routes: dict[str, list[Notifier]] = {}
        for event, names in section.get("routes", {}).items():
            if event not in EVENTS:
                raise ConfigError(source, f"alerts.routes.{event}", f"expected one of {EVENTS}")
            missing = [n for n in names if n not in notifiers]
            if missing:
                raise ConfigError(source, f"alerts.routes.{event}", f"no notifier {missing}")
            routes[event] = [notifiers[n] for n in names]
        thresholds = AlertThresholds(
            large_win_wei=int(section.get("large_win_wei", WEI)),
            large_loss_wei=int(section.get("large_loss_wei", WEI // 10)),
            node_lag_blocks=int(section.get("node_lag_blocks", 3)),
        )
        window = float(section.get("window_seconds", 300))
        return cls(routes, AlertLimiter(window, clock or SystemClock()), thresholds)
