"""The journal store on a temporary SQLite file: schema, records, queries, durability."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tallyio.core.clock import FixedClock
from tallyio.journal import SCHEMA_VERSION, JournalStore, SchemaError
from tallyio.journal.schema import MIGRATIONS, TABLES, migrate

WEI = 10**18
TX = "0x" + "ab" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JournalStore]:
    with JournalStore(tmp_path / "journal.db", clock=FixedClock(1_700_000_000.0)) as s:
        yield s


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


def test_reopening_keeps_rows_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with JournalStore(path) as store:
        store.record_decision("p1", stage="risk", approved=True)
    with JournalStore(path) as store:
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
    assert opp["recorded_at"] == 1_700_000_000.0
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
    with pytest.raises(ValueError, match="no journal table"):
        store.rows("events")
    with pytest.raises(ValueError, match="cannot filter"):
        store.rows("submissions", error="x")


def test_rows_are_append_only(store: JournalStore) -> None:
    store.record_decision("p3", stage="risk", approved=True)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._conn.execute("UPDATE decisions SET approved = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store._conn.execute("DELETE FROM decisions")
    assert store.rows("decisions")[0]["approved"] is True


def test_payloads_refuse_what_they_cannot_serialise(store: JournalStore) -> None:
    with pytest.raises(TypeError, match="cannot journal"):
        store.record_decision("p4", stage="risk", approved=True, payload={"x": object()})
    assert store.counts()["decisions"] == 0


def test_an_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    """A child writes rows and says so after each; it is SIGKILLed mid-stream. Every row it
    acknowledged is in the journal afterwards."""
    path = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import sys
        from tallyio.journal import JournalStore
        store = JournalStore({str(path)!r})
        n = 0
        while True:
            store.record_submission("crash", mode="public", status="sent", nonce=n)
            print(n, flush=True)
            n += 1
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        acknowledged = [int(child.stdout.readline()) for _ in range(50)]
    finally:
        child.kill()
        child.wait(timeout=10)
    with JournalStore(path) as store:
        nonces = [r["nonce"] for r in store.rows("submissions", plan_id="crash")]
    assert nonces[: len(acknowledged)] == acknowledged
