"""What the API reads back from a real journal: paging, filters, exact PnL, the live feeds, and
the key file."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import BIG, T0, headers
from fastapi.testclient import TestClient

from tallyio.api.auth import AuthConfigError, AuthError, Role, key_entry, load_keys
from tallyio.journal import JournalStore

VIEW = headers(Role.VIEWER)


def test_trades_are_newest_first_paged_and_filtered(client: TestClient) -> None:
    trades = client.get("/trades", headers=VIEW).json()
    assert [t["plan_id"] for t in trades] == ["liq-1", "arb-1"]
    liq, arb = trades
    assert liq["status"] == "included" and liq["profit"] == str(BIG)  # exact past 2**64
    assert liq["net_profit"] == str(BIG - 7) and liq["tx_hash"] == "0xab" and liq["block"] == 21
    assert (arb["mode"], arb["status"], arb["profit"]) == ("paper", "simulated", "480")
    assert client.get("/trades?limit=1&offset=1", headers=VIEW).json() == [arb]
    assert client.get("/trades?strategy=arbitrage", headers=VIEW).json() == [arb]
    assert client.get(f"/trades?since={T0 + 1}", headers=VIEW).json() == [liq]
    assert client.get("/trades?limit=0", headers=VIEW).status_code == 422


def test_opportunities_carry_their_decision(client: TestClient) -> None:
    rows = client.get("/opportunities", headers=VIEW).json()
    assert [(o["plan_id"], o["status"]) for o in rows] == [
        ("arb-2", "rejected"), ("liq-1", "approved"), ("arb-1", "approved"),
    ]  # fmt: skip
    assert rows[0]["reason"] == "below min profit"
    rejected = client.get("/opportunities?status=rejected", headers=VIEW).json()
    assert [o["plan_id"] for o in rejected] == ["arb-2"]


def test_pnl_by_strategy_and_day_is_exact(client: TestClient) -> None:
    by_strategy = client.get("/pnl?by=strategy", headers=VIEW).json()
    assert by_strategy == [
        {"group": "arbitrage", "profit": "480", "net_profit": "400", "trades": 1},
        {"group": "liquidation", "profit": str(BIG), "net_profit": str(BIG - 7), "trades": 1},
    ]
    days = client.get("/pnl?by=day", headers=VIEW).json()
    assert [d["group"] for d in days] == ["2026-01-01", "2026-01-02"]
    assert client.get("/pnl?by=month", headers=VIEW).status_code == 422


def test_graphql_reads_the_same_rows(client: TestClient) -> None:
    query = "{ trades(limit: 1) { planId profit } pnl(groupBy: CHAIN) { group trades } }"
    reply = client.post("/graphql", json={"query": query}, headers=VIEW).json()
    assert reply["data"] == {"trades": [{"planId": "liq-1", "profit": str(BIG)}],
                             "pnl": [{"group": "devnet", "trades": 2}]}  # fmt: skip


def test_a_new_trade_reaches_the_websocket_and_the_graphql_subscription(
    client: TestClient, journal: JournalStore
) -> None:
    with client.websocket_connect("/ws/events", headers=VIEW) as ws, client.websocket_connect(
        "/graphql", headers=VIEW, subprotocols=["graphql-transport-ws"]
    ) as gql:  # fmt: skip
        assert ws.receive_json()["type"] == "hello"
        gql.send_json({"type": "connection_init"})
        assert gql.receive_json()["type"] == "connection_ack"
        subscription = "subscription { trades { planId status } }"
        gql.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
        journal.record_submission("arb-2", mode="public", status="sent", tx_hash="0xcd")
        event = ws.receive_json()
        while event["type"] != "trade":
            event = ws.receive_json()
        assert event["data"]["plan_id"] == "arb-2" and event["data"]["status"] == "sent"
        pushed = gql.receive_json()
        assert pushed["type"] == "next"
        assert pushed["payload"]["data"]["trades"] == {"planId": "arb-2", "status": "sent"}


def test_the_key_file_holds_hashes_and_names_the_jwt_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('jwt_secret_env = "TEST_SECRET"\n' + key_entry("ops", Role.OPERATOR, "tio_k"))
    assert "tio_k" not in path.read_text()
    ring = load_keys(path, env={"TEST_SECRET": "x" * 32})
    assert ring.authenticate("tio_k").role is Role.OPERATOR
    token = ring.issue_token("bot", Role.ADMIN, ttl_seconds=60)
    assert ring.authenticate(token).role is Role.ADMIN
    assert "x" * 32 not in repr(ring)
    with pytest.raises(AuthError):
        ring.authenticate("tio_other")
    with pytest.raises(AuthConfigError, match="at least 32 bytes"):
        load_keys(path, env={"TEST_SECRET": "short"})
    with pytest.raises(AuthConfigError, match="TALLYIO_API_KEYS"):
        load_keys(None, env={})
    path.write_text('[[keys]]\nname = "x"\nrole = "root"\nsha256 = "' + "0" * 64 + '"\n')
    with pytest.raises(AuthConfigError, match="unknown role"):
        load_keys(path, env={})
