"""Every journal test runs on both backends: a SQLite file, and a PostgreSQL server started
once per session from Debian's binaries on a free loopback port (a fresh schema per test)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from journal_pg import T0, PgServer, Target

from tallyio.core.clock import FixedClock
from tallyio.journal import JournalStore


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pg_target(pg_server: PgServer) -> Target:
    """A fresh schema on the session's PostgreSQL server (for PostgreSQL-only checks)."""
    return Target("postgresql", pg_server.new_schema_url(), psycopg.errors.RaiseException)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / "journal.db"), sqlite3.IntegrityError)
    pg: Target = request.getfixturevalue("pg_target")
    return pg


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def store(target: Target, clock: FixedClock) -> Iterator[JournalStore]:
    with JournalStore(target.location, clock=clock) as s:
        yield s
