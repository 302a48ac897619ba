"""The REST routes. Reads need a viewer, writes an operator, a breaker reset an admin.

Amounts are decimal strings (exact; JSON numbers are not past 2**53). Lists are newest first,
paged by `limit`/`offset`, filtered by `strategy`, `status` and `since` (unix seconds).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tallyio import __version__
from tallyio.api.auth import Principal, Role
from tallyio.api.control import EngineControl
from tallyio.api.guard import require
from tallyio.api.journal_view import JournalView

DENIED: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid API key or JWT"},
    403: {"description": "the caller's role is too small"},
}
WRITE: dict[int | str, dict[str, Any]] = {
    **DENIED,
    404: {"description": "no such strategy or breaker scope"},
    409: {"description": "read-only: no engine is running (journal-only mode)"},
}

public = APIRouter(tags=["health"])
read = APIRouter(dependencies=[Depends(require(Role.VIEWER))], responses=DENIED)
operate = APIRouter(tags=["control"], responses=WRITE)

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]
Since = Annotated[float | None, Query(ge=0, le=10**11, description="unix seconds, inclusive")]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def _view(request: Request) -> JournalView:
    view: JournalView = request.app.state.view
    return view


def _control(request: Request) -> EngineControl:
    control: EngineControl = request.app.state.control
    return control


View = Annotated[JournalView, Depends(_view)]
Control = Annotated[EngineControl, Depends(_control)]


class BreakerReset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    scope: str = Field("all", min_length=1, max_length=100,
                       description='"all", "global" or a strategy name')  # fmt: skip


@public.get("/health", summary="liveness; the only route without a key")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@read.get("/status", tags=["engine"])
def status(control: Control) -> dict[str, Any]:
    return control.status()


@read.get("/strategies", tags=["engine"])
def strategies(control: Control) -> list[dict[str, Any]]:
    return control.strategies()


@operate.post("/strategies/{name}/enable", summary="operator: start a strategy")
def enable(name: str, control: Control, who: Operator) -> dict[str, Any]:
    control.set_enabled(name, True)
    return {"name": name, "enabled": True, "by": who.name}


@operate.post("/strategies/{name}/disable", summary="operator: stop a strategy")
def disable(name: str, control: Control, who: Operator) -> dict[str, Any]:
    control.set_enabled(name, False)
    return {"name": name, "enabled": False, "by": who.name}


@read.get("/opportunities", tags=["journal"])
def opportunities(
    view: View, limit: Limit = 50, offset: Offset = 0, strategy: str | None = None,
    status: str | None = None, since: Since = None,
) -> list[dict[str, Any]]:  # fmt: skip
    return view.opportunities(limit, offset, strategy=strategy, status=status, since=since)


@read.get("/trades", tags=["journal"])
def trades(
    view: View, limit: Limit = 50, offset: Offset = 0, strategy: str | None = None,
    status: str | None = None, since: Since = None,
) -> list[dict[str, Any]]:  # fmt: skip
    return view.trades(limit, offset, strategy=strategy, status=status, since=since)


@read.get("/pnl", tags=["journal"], summary="exact profit per strategy, chain or UTC day")
def pnl(
    view: View, by: Literal["strategy", "chain", "day"] = "strategy", since: Since = None
) -> list[dict[str, Any]]:
    return view.pnl(by, since)


@read.get("/balances", tags=["engine"])
def balances(control: Control) -> list[dict[str, Any]]:
    return control.balances()


@read.get("/risk", tags=["engine"], summary="risk limits and breaker state")
def risk(control: Control) -> dict[str, Any]:
    return control.risk()


@operate.post("/risk/breaker/reset", summary="admin: resume after a circuit-breaker trip")
def reset_breaker(control: Control, who: Admin, body: BreakerReset | None = None) -> dict[str, Any]:
    scope = body.scope if body else "all"
    control.reset_breaker(scope)
    return {"scope": scope, "reset": True, "by": who.name}
