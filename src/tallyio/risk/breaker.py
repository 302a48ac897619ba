"""The circuit breaker: halts a strategy, or everything, and holds until an operator resets it.

It trips a strategy after `max_failures` failed or losing transactions of that strategy within
`window_seconds`, or once that strategy's losses in the window pass `max_loss`; it trips
everything once all strategies' losses in the window pass `max_total_loss`, when the node's
head lags by more than `max_head_lag_blocks`, or on an emergency exit. A tripped breaker does
not close when the window passes: only `reset()` (the `tallyio risk reset` command) closes it.
State lives in a `RiskStore` (SQLite), so another process's reset is seen at once and a
restart stays tripped. Time comes only from the Clock.
"""

from __future__ import annotations

from typing import Protocol

from tallyio.core.clock import Clock
from tallyio.risk.config import BreakerConfig
from tallyio.risk.store import GLOBAL, Result, RiskStore, Trip

__all__ = ["GLOBAL", "CircuitBreaker", "Trip", "metric_scope"]


class LabelledGauge(Protocol):  # prometheus_client.Gauge with one label, as EngineMetrics has
    def labels(self, *, scope: str) -> _Settable: ...


class _Settable(Protocol):
    def set(self, value: float) -> None: ...


def metric_scope(scope: str) -> str:
    """The `scope` label of tallyio_breaker_open: "global" for everything, else the strategy."""
    return "global" if scope == GLOBAL else scope


class CircuitBreaker:
    def __init__(self, config: BreakerConfig, store: RiskStore, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._published: set[str] = set()

    # -- reading ----------------------------------------------------------------------------
    def open_trip(self, strategy: str) -> Trip | None:
        """Why `strategy` may not send now (a global trip first), or None."""
        return self.store.trip_for((GLOBAL, strategy))

    def status(self) -> list[Trip]:
        return self.store.trips()

    def publish(self, gauge: LabelledGauge) -> None:
        """Set the breaker gauge: 1 for each open trip, 0 for scopes closed since last time."""
        open_now = {metric_scope(t.scope) for t in self.status()}
        for scope in self._published | open_now:
            gauge.labels(scope=scope).set(1.0 if scope in open_now else 0.0)
        self._published |= open_now

    # -- feeding ----------------------------------------------------------------------------
    def record(
        self, strategy: str, chain_id: int, *, success: bool, net_profit_wei: int,
        gas_spent_wei: int,
    ) -> Trip | None:  # fmt: skip
        """Count one landed or failed transaction; returns the trip it caused, if any."""
        if gas_spent_wei < 0:
            raise ValueError(f"gas spent cannot be negative: {gas_spent_wei}")
        now = self.clock.now()
        self.store.add_result(
            Result(now, strategy, chain_id, success, net_profit_wei, gas_spent_wei)
        )
        return self._check_strategy(strategy, now) or self._check_total(now)

    def observe_head_lag(self, lag_blocks: int) -> Trip | None:
        """Trip everything when the node's head is more than K blocks behind."""
        limit = self.config.max_head_lag_blocks
        if lag_blocks <= limit:
            return None
        return self.trip(GLOBAL, "head_lag", f"node head {lag_blocks} blocks behind (max {limit})")

    def trip(self, scope: str, reason: str, detail: str) -> Trip:
        """Open the breaker for `scope` (a strategy, or GLOBAL); a trip already open holds."""
        return self.store.trip(Trip(scope, reason, detail, self.clock.now()))

    def reset(self, strategy: str | None = None) -> list[Trip]:
        """The operator's command: close `strategy`'s trip (None: every trip, global included).
        Failures and losses before now no longer count. Returns the trips cleared."""
        scopes = None if strategy is None else (strategy,)
        return self.store.reset(scopes, self.clock.now())

    # -- rules ------------------------------------------------------------------------------
    def _window(self, now: float, scope: str | None = None) -> list[Result]:
        """Results in the window that came after the last reset of `scope` (None: global)."""
        after = self.store.reset_at(GLOBAL)
        if scope is not None:
            after = max(after, self.store.reset_at(scope))
        return self.store.results_since(now - self.config.window_seconds, scope, after=after)

    def _check_strategy(self, strategy: str, now: float) -> Trip | None:
        results = self._window(now, strategy)
        bad = sum(r.bad for r in results)
        loss = sum(r.loss_wei for r in results)
        window = self.config.window_seconds
        if bad >= self.config.max_failures:
            detail = f"{bad} failed or losing transactions in {window} s"
            return self.trip(strategy, "failures", f"{detail} (max {self.config.max_failures})")
        if loss > self.config.max_loss:
            detail = f"lost {loss} wei in {window} s (max {self.config.max_loss})"
            return self.trip(strategy, "loss", detail)
        return None

    def _check_total(self, now: float) -> Trip | None:
        loss = sum(r.loss_wei for r in self._window(now))
        if loss > self.config.max_total_loss:
            detail = f"all strategies lost {loss} wei in {self.config.window_seconds} s "
            return self.trip(GLOBAL, "total_loss", detail + f"(max {self.config.max_total_loss})")
        return None

    def gas_spent(self, strategy: str, chain_id: int, seconds: float = 3600.0) -> int:
        """Wei of gas `strategy` spent on `chain_id` in the last `seconds`."""
        return self.store.gas_spent_since(self.clock.now() - seconds, strategy, chain_id)
