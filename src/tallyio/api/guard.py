"""The gate in front of every route: no valid credential, no entry (401), whatever the path.

An ASGI middleware rather than a per-route dependency, so a route added later (or a path that
matches nothing) cannot be reached without a key by forgetting a decorator. Routes then ask
for a minimum role with `require(Role.X)` (403 when the caller's is smaller).

Credentials: `Authorization: Bearer <key or JWT>` or `X-API-Key: <key>`; WebSockets may also
pass `?key=` (browsers cannot set headers on a WebSocket). Keys are never logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Security
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from tallyio.api.auth import AuthError, KeyRing, Principal, Role

PUBLIC_PATHS = frozenset({"/health"})
PUBLIC_PREFIXES = ("/dashboard",)  # the static page only; it fetches data with the user's key


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or any(
        path == p or path.startswith(p + "/") for p in PUBLIC_PREFIXES
    )


def credential(scope: Scope) -> str:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    if scope["type"] == "websocket":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return (query.get("key") or [""])[0]
    return ""


class AuthMiddleware:
    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = self.keys.authenticate(credential(scope))
        except AuthError as exc:
            await deny(scope, receive, send, 401, str(exc))
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def deny(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """A 401/403 as an HTTP response, or as the WebSocket handshake's denial response."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await receive()  # websocket.connect; a server without denial responses gets a close code
    await send({"type": "websocket.close", "code": 4000 + status, "reason": detail})


def principal_of(scope_holder: Any) -> Principal:
    principal = scope_holder.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # only reachable if the middleware is missing
        raise HTTPException(401, "not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return principal


class _Documented(HTTPBearer):
    """Puts the scheme in the OpenAPI spec; checks nothing (the middleware has). Takes an
    HTTPConnection so it also serves WebSocket routes."""

    async def __call__(self, conn: HTTPConnection) -> None:
        return None


Bearer = Annotated[None, Security(_Documented(description="an API key or a JWT (HS256)"))]


def require(role: Role) -> Callable[..., Principal]:
    """A dependency: the caller, if their role is at least `role` (else 403)."""

    def check(conn: HTTPConnection, _: Bearer = None) -> Principal:
        principal = principal_of(conn)
        if principal.role < role:
            raise HTTPException(403, f"needs the {role.label} role")
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by the route-audit test
    return check
