"""The engine's alerts: an `AlertRouter` hooked in as an engine listener.

    alerts = EngineAlerts(router, gate)
    engine.listeners.append(alerts)       # large wins and losses, breaker trips
    control.lag_listeners.append(alerts.node_lag)

A trade event carries its net in wei (what the breaker counted); the router decides whether it
is large. After each landed trade and each breaker refusal the breaker's trips are read, and a
scope newly tripped is one alert (a trip already open when the run started is not news; one
reset and tripped again is). Notifiers are async and the engine's listeners are not: sends run
as tasks, awaited by `close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from tallyio.alerts import AlertRouter
from tallyio.alerts.router import Delivery
from tallyio.app.config_schema import ConfigError, read_toml
from tallyio.risk.breaker import metric_scope
from tallyio.risk.gate import RiskGate

log = logging.getLogger(__name__)


def load_alert_router(path: str | Path) -> AlertRouter:
    """The router from the `[alerts]` table of a TOML file (deploy/tallyio.example.toml)."""
    section = read_toml(Path(path)).get("alerts")
    if not isinstance(section, Mapping):
        raise ConfigError(Path(path), "alerts", "no [alerts] table in this file")
    return AlertRouter.from_config(section, source=str(path))


class EngineAlerts:
    def __init__(self, router: AlertRouter, gate: RiskGate | None, *, chain: str = "devnet"):
        self.router, self.gate, self.chain = router, gate, chain
        self._open = {t.scope for t in gate.breaker.status()} if gate is not None else set()
        self._tasks: set[asyncio.Task[Delivery | None]] = set()
        self.deliveries: list[Delivery] = []

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "trade":
            net = data.get("net_wei")
            if net is not None:
                tx = str((data.get("result") or {}).get("tx_hash") or "")
                self._spawn(self.router.trade(str(data.get("strategy", "")), int(net), tx))
            self.check_breaker()
        elif kind == "decision" and data.get("reason") == "breaker_open":
            self.check_breaker()  # a head-lag trip happens inside the gate's check

    def node_lag(self, lag_blocks: int) -> None:
        self._spawn(self.router.node_lag(self.chain, lag_blocks))

    def check_breaker(self) -> None:
        if self.gate is None:
            return
        trips = self.gate.breaker.status()
        for trip in trips:
            if trip.scope not in self._open:
                reason = f"{trip.reason}: {trip.detail}"
                self._spawn(self.router.breaker_tripped(metric_scope(trip.scope), reason))
        self._open = {t.scope for t in trips}  # a reset scope that trips again is news again

    def _spawn(self, send: Coroutine[Any, Any, Delivery | None]) -> None:
        task = asyncio.get_running_loop().create_task(send)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Delivery | None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("alert not sent: %s", type(exc).__name__)
            return
        delivery = task.result()
        if delivery is not None:
            self.deliveries.append(delivery)

    async def close(self) -> None:
        """Wait for the alerts still being sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
