"""RiskGate: every opportunity is checked here before simulation; the engine's one entry point.

    gate = RiskGate(config, breaker, exposure, clock)
    decision = gate.check(opp, gas_price_wei=ctx.gas_price, head_lag_blocks=lag)
    ... gate.record_result(opp.strategy, opp.chain_id, success=..., net_profit_wei=...,
                           gas_spent_wei=...)

Order: the breaker (a trip, or a head lag that trips it now), the limits for the opportunity's
strategy and chain, then exposure, which reserves the inventory an approved inventory-funded
plan spends (`decision.reservation`; hand it back through `release` or `settle`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tallyio.core.clock import Clock
from tallyio.core.opportunity import Opportunity
from tallyio.risk.breaker import CircuitBreaker, Trip
from tallyio.risk.config import Limits, RiskConfig
from tallyio.risk.exposure import Exposure, Reservation, inventory_spend
from tallyio.risk.limits import Inputs, check_limits, slippage_bps

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    reason: str = ""  # "" when approved, else a stable code (max_notional, breaker_open, ...)
    detail: str = ""
    reservation: Reservation | None = None  # inventory committed for an approved plan

    @classmethod
    def reject(cls, reason: str, detail: str) -> RiskDecision:
        return cls(False, reason, detail)


APPROVED = RiskDecision(True)


def _breaker_open(trip: Trip) -> RiskDecision:
    scope = "everything" if trip.scope == "*" else trip.scope
    return RiskDecision.reject("breaker_open", f"{scope} halted ({trip.reason}): {trip.detail}")


class RiskGate:
    def __init__(
        self, limits: RiskConfig, breaker: CircuitBreaker, exposure: Exposure, clock: Clock
    ) -> None:
        self.config = limits
        self.breaker = breaker
        self.exposure = exposure
        self.clock = clock
        self._limits: dict[tuple[str, int], Limits] = {}

    def limits_for(self, strategy: str, chain_id: int) -> Limits:
        key = (strategy, chain_id)
        if key not in self._limits:
            self._limits[key] = self.config.limits_for(strategy, chain_id)
        return self._limits[key]

    def check(
        self, opp: Opportunity, *, gas_price_wei: int, head_lag_blocks: int = 0
    ) -> RiskDecision:
        trip = self.breaker.open_trip(opp.strategy) or self.breaker.observe_head_lag(
            head_lag_blocks
        )
        if trip is not None:
            return _breaker_open(trip)
        spent = self.breaker.gas_spent(opp.strategy, opp.chain_id, HOUR)
        inputs = Inputs(opp, gas_price_wei, spent)
        violation = check_limits(inputs, self.limits_for(opp.strategy, opp.chain_id))
        if violation is not None:
            return RiskDecision.reject(violation.reason, violation.detail)
        spend = inventory_spend(opp.plan)
        if spend is None:
            return APPROVED
        token, amount = spend
        refusal = self.exposure.refusal(opp.chain_id, token, amount)
        if refusal:
            return RiskDecision.reject("exposure", refusal)
        return RiskDecision(True, reservation=self.exposure.reserve(opp.chain_id, token, amount))

    def record_result(
        self, strategy: str, chain_id: int, *, success: bool, net_profit_wei: int,
        gas_spent_wei: int,
    ) -> Trip | None:  # fmt: skip
        """A transaction landed or failed: feeds the breaker and the hourly gas budget."""
        return self.breaker.record(
            strategy, chain_id, success=success, net_profit_wei=net_profit_wei,
            gas_spent_wei=gas_spent_wei,
        )  # fmt: skip

    def record_slippage(
        self, strategy: str, expected: int, realised: int, *, chain_id: int = 0
    ) -> int:
        """Realised profit against the model's expected, in bps short; beyond the strategy's
        max_slippage_bps it counts as one failed transaction for the breaker."""
        bps = slippage_bps(expected, realised)
        if bps > self.limits_for(strategy, chain_id).max_slippage_bps:
            self.breaker.record(
                strategy, chain_id, success=False, net_profit_wei=0, gas_spent_wei=0
            )
        return bps

    def release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            self.exposure.release(reservation)

    def settle(self, reservation: Reservation | None, returned: int) -> None:
        if reservation is not None:
            self.exposure.settle(reservation, returned)
