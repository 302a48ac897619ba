"""Risk: limits, exposure, circuit breaker and emergency exit (docs/risk.md).

Every opportunity passes `RiskGate.check` before simulation; a transaction's outcome comes
back through `RiskGate.record_result`. Limits come from config/risk/*.toml.
"""

from tallyio.risk.breaker import GLOBAL, CircuitBreaker, Trip
from tallyio.risk.config import (
    BreakerConfig,
    ExposureLimit,
    Limits,
    RiskConfig,
    load_risk_config,
)
from tallyio.risk.exposure import Exposure, ExposureError, Reservation, inventory_spend
from tallyio.risk.gate import RiskDecision, RiskGate
from tallyio.risk.store import RiskStore

__all__ = [
    "GLOBAL",
    "BreakerConfig",
    "CircuitBreaker",
    "Exposure",
    "ExposureError",
    "ExposureLimit",
    "Limits",
    "Reservation",
    "RiskConfig",
    "RiskDecision",
    "RiskGate",
    "RiskStore",
    "Trip",
    "inventory_spend",
    "load_risk_config",
]
