"""The API application: REST, the WebSocket feed, GraphQL and the dashboard, behind one gate.

    create_app(journal, keys)                    journal only (read-only StaticControl)
    create_app(journal, keys, control=engine)    over a running engine

Every path but /health and the static dashboard page needs a key (AuthMiddleware); the
OpenAPI spec is at /openapi.json for any viewer. There is no /docs page: it would load its
scripts from a CDN, and keys do not belong in a browser's URL bar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from tallyio import __version__
from tallyio.api import routes, ws
from tallyio.api.auth import KeyRing, Role
from tallyio.api.control import EngineControl, ReadOnlyError, StaticControl, UnknownNameError
from tallyio.api.graphql import graphql_router
from tallyio.api.guard import AuthMiddleware, require
from tallyio.api.journal_view import JournalReader, JournalView

STATIC = Path(__file__).parent / "static"


def _lifespan(control: EngineControl) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start = getattr(control, "start", None)
        if start is not None:
            start()
        try:
            yield
        finally:
            close = getattr(control, "close", None)
            if close is not None:
                await close()

    return lifespan


async def _read_only(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _unknown(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"not found: {exc.args[0] if exc.args else ''}"}, 404)


def create_app(
    journal: JournalReader, keys: KeyRing, control: EngineControl | None = None, *,
    chain: str = "devnet", rpc_url: str | None = None,
) -> FastAPI:  # fmt: skip
    control = control or StaticControl(journal, chain=chain, rpc_url=rpc_url)
    app = FastAPI(
        title="TallyIO API", version=__version__, docs_url=None, redoc_url=None,
        lifespan=_lifespan(control),
        description="Status, strategies, journal (opportunities, trades, PnL), balances and "
        "risk of a TallyIO engine. Authenticate with `Authorization: Bearer <API key or JWT>`.",
    )  # fmt: skip
    app.state.view = JournalView(journal, chain=chain)
    app.state.control = control
    app.state.keys = keys
    app.add_exception_handler(ReadOnlyError, _read_only)
    app.add_exception_handler(UnknownNameError, _unknown)
    for router in (routes.public, routes.read, routes.operate, ws.router):
        app.include_router(router)
    app.include_router(graphql_router(), prefix="/graphql", tags=["graphql"],
                       dependencies=[Depends(require(Role.VIEWER))])  # fmt: skip
    app.mount("/dashboard", StaticFiles(directory=STATIC, html=True), name="dashboard")
    app.add_middleware(AuthMiddleware, keys=keys)
    return app
