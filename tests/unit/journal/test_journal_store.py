"""The journal store, the same suite on both backends (conftest.py: `target` is a SQLite file or
a fresh schema on a real PostgreSQL server): schema, records, queries, durability."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psycopg
import pytest
from journal_pg import T0, Target

from tallyio.core.clock import FixedClock
from tallyio.core.opportunity import Kind
from tallyio.journal import SCHEMA_VERSION, JournalStore, SchemaError, open_journal
from tallyio.journal.backends import redact
from tallyio.journal.pg_schema import postgres_migrations
from tallyio.journal.schema import ALL_TABLES, MIGRATIONS, TABLES, migrate

WEI = 10**18
TX = "0x" + "ab" * 32


def test_opens_in_wal_mode_with_full_sync_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with JournalStore(path) as store:
        assert store.version == SCHEMA_VERSION == len(MIGRATIONS)
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(TABLES) <= names
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"submissions_tx", "inclusions_tx", "simulations_plan", "inclusions_block"} <= indexes
    conn.close()


def test_postgres_records_its_version_in_schema_version(pg_target: Target) -> None:
    store = JournalStore(pg_target.location, clock=FixedClock(T0))
    rows = store.backend.query("SELECT version, applied_at FROM schema_version ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert {r["applied_at"] for r in rows} == {T0}
    assert store.backend.query("SHOW synchronous_commit")[0]["synchronous_commit"] == "on"
    store.close()


def test_both_backends_hold_the_same_tables_and_columns(
    store: JournalStore, tmp_path: Path
) -> None:
    with JournalStore(tmp_path / "reference.db") as reference:
        for table in ALL_TABLES:
            ours = [name for name, _ in store.backend.columns(table)]
            assert ours == [name for name, _ in reference.backend.columns(table)], table
            assert ours[:2] == ["id", "recorded_at"]


def test_reopening_keeps_rows_and_does_not_migrate_again(target: Target) -> None:
    with open_journal(target.location) as store:
        store.record_decision("p1", stage="risk", approved=True)
    with open_journal(target.location) as store:
        assert store.counts()["decisions"] == 1
        assert store.version == SCHEMA_VERSION


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer"):
        JournalStore(path)


def test_a_newer_postgres_journal_is_refused(pg_target: Target) -> None:
    target = pg_target
    with open_journal(target.location) as store:
        store.backend.execute(f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION + 1}, 0)")
    with pytest.raises(SchemaError, match="newer"):
        open_journal(target.location)


def _at_version_1(target: Target) -> None:
    """A journal as the first shipped code left it, with one opportunity in it."""
    insert = (
        "INSERT INTO opportunities (recorded_at, plan_id, expected_profit) VALUES (1, 'old', '7')"
    )
    if target.dialect == "sqlite":
        conn = sqlite3.connect(target.location, isolation_level=None)
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(insert)
        conn.close()
        return
    with psycopg.connect(target.location, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                     "applied_at DOUBLE PRECISION NOT NULL)")  # fmt: skip
        for statement in postgres_migrations()[0]:
            conn.execute(statement)  # type: ignore[call-overload]
        conn.execute("INSERT INTO schema_version VALUES (1, 0)")
        conn.execute(insert)  # type: ignore[call-overload]


def test_an_old_journal_is_migrated_in_place_keeping_its_rows(target: Target) -> None:
    _at_version_1(target)
    with open_journal(target.location) as store:
        assert store.version == SCHEMA_VERSION
        (old,) = store.rows("opportunities")
        assert (old["plan_id"], old["expected_profit"], old["kind"], old["touches"]) == (
            "old", 7, "", [],
        )  # fmt: skip
        assert old["chain_id"] is None and store.rows("events") == []


def test_records_round_trip_with_wide_amounts_and_payloads(store: JournalStore) -> None:
    huge = 3 * 2**255  # wider than SQLite's INTEGER: stored as text, read back as int
    store.record_opportunity("p1", block=10, strategy="arbitrage", expected_profit=huge,
                             payload={"calldata": b"\x01\x02", "route": ("a", "b")})  # fmt: skip
    store.record_simulation("p1", block=10, success=True, profit=5 * WEI, gas_used=190_000)
    store.record_submission("p1", mode="public", status="sent", tx_hash=TX.upper().replace(
        "0X", "0x"), nonce=7, target_block=11)  # fmt: skip
    store.record_inclusion("p1", status="included", tx_hash=TX, block=11, gas_used=185_000,
                           realised_profit=5 * WEI, payload={"gas_cost_wei": 10**15})  # fmt: skip
    (opp,) = store.rows("opportunities", plan_id="p1")
    assert opp["expected_profit"] == huge and opp["block"] == 10
    assert opp["payload"] == {"calldata": "0x0102", "route": ["a", "b"]}
    assert opp["recorded_at"] == T0
    (sim,) = store.rows("simulations")
    assert sim["success"] is True and sim["profit"] == 5 * WEI and sim["gas_used"] == 190_000
    found = store.for_tx(TX.upper().replace("0X", "0x"))
    assert [r["nonce"] for r in found["submissions"]] == [7]
    assert found["submissions"][0]["tx_hash"] == TX  # hashes are kept lower-case
    assert found["inclusions"][0]["realised_profit"] == 5 * WEI
    everything = store.for_plan("p1")
    assert {t: len(rows) for t, rows in everything.items()} == {
        "opportunities": 1, "decisions": 0, "simulations": 1, "submissions": 1, "inclusions": 1,
    }  # fmt: skip


def test_an_opportunity_says_what_and_where(store: JournalStore) -> None:
    store.record_opportunity(
        "p9", block=20, strategy="aave_v3_liquidation", kind=Kind.LIQUIDATION, chain_id=8453,
        expected_profit=2**64 + 1, gas_estimate=650_000, profit_token="0xABC",
        touches={"0xPool", "0xaccount"},
    )  # fmt: skip
    (opp,) = store.rows("opportunities", chain_id=8453, kind="liquidation")
    assert (opp["strategy"], opp["gas_estimate"], opp["expected_profit"]) == (
        "aave_v3_liquidation", 650_000, 2**64 + 1,
    )  # fmt: skip
    assert opp["profit_token"] == "0xabc" and opp["touches"] == ["0xaccount", "0xpool"]


def test_event_batches_round_trip_with_their_counts(store: JournalStore) -> None:
    first = store.record_events(1, 100, "0x" + "AA" * 32, {"log": 7, "block": 1, "reorg": 0})
    second = store.record_events(1, 101, "0x" + "bb" * 32, {}, payload={"source": "ws"})
    assert second > first
    batch, empty = store.rows("events")
    assert (batch["chain_id"], batch["block"], batch["total"]) == (1, 100, 8)
    assert batch["block_hash"] == "0x" + "aa" * 32
    assert batch["counts"] == {"block": 1, "log": 7, "reorg": 0}
    assert (empty["total"], empty["counts"], empty["payload"]) == (0, {}, {"source": "ws"})
    assert store.rows("events", block=101) == [empty]
    assert store.counts()["events"] == 2
    with pytest.raises(ValueError, match="negative"):
        store.record_events(1, 102, "0x00", {"log": -1})


def test_queries_filter_by_key_columns_in_order(store: JournalStore) -> None:
    for endpoint, error in (("builder-a", None), ("builder-b", "timed out"), ("builder-a", None)):
        store.record_submission("p2", mode="bundle", status="error" if error else "accepted",
                                endpoint=endpoint, target_block=20, latency_ms=1.5,
                                error=error)  # fmt: skip
    store.record_decision("p2", stage="executor", approved=False, reason="unprofitable")
    assert [r["endpoint"] for r in store.rows("submissions", status="accepted")] == [
        "builder-a", "builder-a",
    ]  # fmt: skip
    assert [r["error"] for r in store.rows("submissions", target_block=20)] == [
        None, "timed out", None,
    ]  # fmt: skip
    (decision,) = store.rows("decisions", plan_id="p2", stage="executor")
    assert decision["approved"] is False and decision["reason"] == "unprofitable"
    assert store.rows("inclusions", plan_id="p2") == []
    assert store.rows("events") == []
    with pytest.raises(ValueError, match="no journal table"):
        store.rows("schema_version")
    with pytest.raises(ValueError, match="cannot filter"):
        store.rows("submissions", error="x")


@pytest.mark.parametrize("table", ALL_TABLES)
def test_rows_are_append_only(store: JournalStore, target: Target, table: str) -> None:
    store.record_decision("p3", stage="risk", approved=True)
    store.record_events(1, 1, "0x01", {"log": 1})
    store.record_opportunity("p3")
    store.record_simulation("p3", block=1, success=True, profit=1, gas_used=1)
    store.record_submission("p3", mode="paper", status="simulated")
    store.record_inclusion("p3", status="included")
    with pytest.raises(target.refused, match="append-only"):
        store.backend.execute(f"UPDATE {table} SET recorded_at = 0")
    with pytest.raises(target.refused, match="append-only"):
        store.backend.execute(f"DELETE FROM {table}")
    if target.dialect == "postgresql":
        with pytest.raises(target.refused, match="append-only"):
            store.backend.execute(f"TRUNCATE {table}")
    assert store.counts()[table] == 1
    assert store.rows("decisions")[0]["approved"] is True


def test_payloads_refuse_what_they_cannot_serialise(store: JournalStore) -> None:
    with pytest.raises(TypeError, match="cannot journal"):
        store.record_decision("p4", stage="risk", approved=True, payload={"x": object()})
    assert store.counts()["decisions"] == 0


def test_writers_on_many_threads_lose_nothing(store: JournalStore) -> None:
    def write(worker: int) -> None:
        for n in range(40):
            store.record_submission(f"w{worker}", mode="public", status="sent", nonce=n)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for worker in range(4):
        nonces = [r["nonce"] for r in store.rows("submissions", plan_id=f"w{worker}")]
        assert nonces == list(range(40))
    assert store.integrity_check() == []


def test_a_postgres_password_never_shows(tmp_path: Path) -> None:
    url = "postgresql://bot:s3cret@127.0.0.1:1/journal"
    assert redact(url) == "postgresql://bot:***@127.0.0.1:1/journal"
    assert redact("postgresql://bot@h/db") == "postgresql://bot@h/db"
    with pytest.raises(Exception, match="cannot open journal") as refused:
        open_journal(url)
    assert "s3cret" not in str(refused.value)


_WRITER = """
import sys
from tallyio.journal import open_journal
store = open_journal(sys.argv[1])
n = 0
while True:
    store.record_submission("crash", mode="public", status="sent", nonce=n,
                            payload={"wide": 2**200 + n})
    print(n, flush=True)
    n += 1
"""


def test_an_acknowledged_write_survives_kill_9(target: Target) -> None:
    """A child writes rows and says so after each; it is SIGKILLed mid-stream. Every row it
    acknowledged is in the journal afterwards, and the database is intact."""
    open_journal(target.location).close()  # migrated before the child starts
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_WRITER), target.location],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None
        acknowledged = [int(child.stdout.readline()) for _ in range(200)]
    finally:
        child.kill()
        child.wait(timeout=10)
    with open_journal(target.location) as store:
        assert store.integrity_check() == []
        rows = store.rows("submissions", plan_id="crash")
        nonces = [r["nonce"] for r in rows]
        assert nonces[: len(acknowledged)] == acknowledged
        assert nonces == list(range(len(nonces)))  # nothing half-written, nothing out of order
        assert [r["payload"]["wide"] - 2**200 for r in rows] == nonces
        store.record_decision("after", stage="risk", approved=True)  # and it takes writes
