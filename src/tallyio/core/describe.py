"""How the engine reports: opportunities and results as plain dicts for listeners and the
journal, and stage timers for metrics."""

from __future__ import annotations

import time
from typing import Any

from tallyio.core.opportunity import Opportunity


class StageTimer:
    __slots__ = ("metrics", "stage", "t0")

    def __init__(self, metrics: Any, stage: str) -> None:
        self.metrics, self.stage, self.t0 = metrics, stage, 0.0

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.metrics is not None:
            self.metrics.observe(self.stage, time.perf_counter() - self.t0)


def describe(opp: Opportunity) -> dict[str, Any]:
    simple = {k: v for k, v in opp.detail.items() if isinstance(v, str | int | float)}
    return {"strategy": opp.strategy, "kind": opp.kind.name.lower(), "block": opp.block,
            "expected_profit": str(opp.expected_profit), "token": opp.profit_token,
            **simple}  # fmt: skip


def result_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseException):
        return {"status": "error", "reason": str(result)}
    out: dict[str, Any] = {}
    for name in ("status", "reason", "tx_hash", "block", "realised_profit", "net_profit"):
        value = getattr(result, name, None)
        out[name] = str(value) if isinstance(value, int) and value > 2**53 else value
    if out.get("status") is not None:
        out["status"] = str(getattr(out["status"], "value", out["status"]))
    return out


def jsonable(detail: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in dict(detail).items():
        out[str(k)] = v if isinstance(v, str | float | bool | None) else str(v)
    return out
