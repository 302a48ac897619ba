"""Every route the app has, found by walking app.routes: without a valid credential it answers
401, with too small a role 403. Only /health (and the static dashboard page) is public."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from api_support import KEYS, SECRET, headers
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse

from tallyio.api.auth import Role
from tallyio.api.graphql import schema

PUBLIC = {"/health"}


@dataclass(frozen=True)
class Endpoint:
    method: str  # HTTP method, or "WS"
    path: str
    role: Role  # the least role that may use it


def _roles(dependant: Any) -> list[Role]:
    found = [getattr(dependant.call, "required_role", None)]
    for sub in dependant.dependencies:
        found += _roles(sub)
    return [r for r in found if r is not None]


def _least_role(route: Any) -> Role:
    dependant = getattr(route, "dependant", None)
    return max(_roles(dependant), default=Role.VIEWER) if dependant else Role.VIEWER


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every route, included routers flattened (FastAPI includes them lazily)."""
    out: list[Endpoint] = []
    for route in iter_route_contexts(app.routes):
        kind, path = route.original_route, re.sub(r"\{[^}]+\}", "arbitrage", route.path or "")
        if isinstance(kind, APIWebSocketRoute | WebSocketRoute):
            out.append(Endpoint("WS", path, _least_role(route)))
        elif isinstance(kind, APIRoute | Route):
            out += [Endpoint(m, path, _least_role(route)) for m in sorted(route.methods or ())]
        elif isinstance(kind, Mount):
            assert route.path == "/dashboard", f"unexpected mount {route.path}"
        else:
            raise AssertionError(f"a route of unknown kind: {route!r}")
    return out


def _call(client: TestClient, e: Endpoint, hdrs: dict[str, str]) -> int:
    if e.method == "WS":
        try:
            with client.websocket_connect(e.path, headers=hdrs):
                return 101
        except WebSocketDenialResponse as denied:
            return denied.status_code
    return client.request(e.method, e.path, headers=hdrs).status_code


def _token(**claims: Any) -> str:
    return jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60, **claims}, SECRET)


BAD = {
    "none": {},
    "unknown key": {"Authorization": "Bearer tio_not-a-key"},
    "key in a wrong scheme": {"Authorization": f"Basic {KEYS[Role.ADMIN]}"},
    "empty x-api-key": {"X-API-Key": ""},
    "expired jwt": {"Authorization": f"Bearer {_token(exp=int(time.time()) - 5)}"},
    "jwt from another secret": {
        "Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "admin",
                                                 "exp": int(time.time()) + 60}, b"o" * 32)},
    "jwt with an unknown role": {"Authorization": f"Bearer {_token(role='root')}"},
    "jwt without exp": {"Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "admin"},
                                                                SECRET)},
    "unsigned jwt": {"Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "admin",
                                                             "exp": 2**40}, None, "none")},
}  # fmt: skip


def test_the_walk_finds_every_kind_of_route(app: FastAPI) -> None:
    found = {(e.method, e.path) for e in endpoints(app)}
    assert {("GET", "/status"), ("POST", "/strategies/arbitrage/enable"), ("GET", "/trades"),
            ("POST", "/risk/breaker/reset"), ("GET", "/openapi.json"), ("POST", "/graphql"),
            ("WS", "/ws/events"), ("WS", "/graphql"), ("GET", "/health")} <= found  # fmt: skip
    assert len(found) >= 17


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_route_but_health_refuses_without_a_valid_credential(
    app: FastAPI, client: TestClient, case: str
) -> None:
    for e in endpoints(app):
        status = _call(client, e, BAD[case])
        if e.path in PUBLIC:
            assert status == 200, e
        else:
            assert status == 401, (case, e, status)


def test_a_401_names_the_scheme_and_never_echoes_the_credential(client: TestClient) -> None:
    reply = client.get("/trades", headers={"Authorization": "Bearer tio_secret-guess"})
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert "secret-guess" not in reply.text


def test_paths_that_match_nothing_are_401_not_404(client: TestClient) -> None:
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", headers=headers(Role.VIEWER)).status_code == 404


def test_too_small_a_role_is_403_and_the_right_one_passes(app: FastAPI, client: TestClient) -> None:
    for e in endpoints(app):
        if e.path in PUBLIC:
            continue
        for role in Role:
            status = _call(client, e, headers(role))
            if role < e.role:
                assert status == 403, (e, role, status)
            else:
                assert status not in (401, 403), (e, role, status)


def test_every_write_needs_an_operator_and_the_breaker_an_admin(app: FastAPI) -> None:
    assert schema.mutation is None  # GraphQL is reads (POST carries a query) and a subscription
    for e in endpoints(app):
        if e.method in ("POST", "PUT", "PATCH", "DELETE") and e.path != "/graphql":
            assert e.role >= Role.OPERATOR, e
    admin = {(e.method, e.path) for e in endpoints(app) if e.role == Role.ADMIN}
    assert admin == {("POST", "/risk/breaker/reset")}


def test_a_jwt_carries_its_role(client: TestClient, keys: Any) -> None:
    operator = {"Authorization": f"Bearer {keys.issue_token('ops-bot', Role.OPERATOR)}"}
    assert client.get("/trades", headers=operator).status_code == 200
    assert client.post("/risk/breaker/reset", headers=operator).status_code == 403
    refused = client.post("/strategies/arbitrage/disable", headers=operator)
    assert refused.status_code == 409  # past auth: journal-only mode cannot act


def test_websockets_take_the_key_as_a_query_parameter(client: TestClient) -> None:
    with client.websocket_connect(f"/ws/events?key={KEYS[Role.VIEWER]}") as ws:
        hello = ws.receive_json()
    assert hello["type"] == "hello" and hello["data"]["role"] == "viewer"
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/ws/events?key=tio_wrong"),
    ):
        pass
    assert denied.value.status_code == 401


def test_the_dashboard_page_is_public_and_holds_no_data(client: TestClient) -> None:
    page = client.get("/dashboard/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "arb-1" not in page.text and "liq-1" not in page.text
    assert client.get("/dashboard", follow_redirects=False).status_code in (307, 308)
