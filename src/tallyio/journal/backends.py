"""Where the journal's rows live: one SQLite file (the default) or a PostgreSQL database.

A backend runs the store's SQL, written once with `?` placeholders, and hides the rest:
connecting, migrating, inserting with the new row's id, and checking the database is intact.
Each write is its own committed transaction before `insert` returns: SQLite in WAL mode with
synchronous=FULL fsyncs it; PostgreSQL acknowledges a commit only once its WAL is flushed
(synchronous_commit's default). A lock serialises use of the one connection across threads.

A PostgreSQL URL may hold a password: `describe` prints it without one, and so do errors.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from tallyio.journal import pg_schema, schema

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class JournalError(RuntimeError):
    """The journal cannot be opened or read as asked (a user-facing failure)."""


class Backend(Protocol):
    dialect: str  # "sqlite" or "postgresql"
    version: int  # the schema version after migrating

    def describe(self) -> str: ...
    def insert(self, table: str, values: dict[str, Any]) -> int: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def execute(self, sql: str) -> None: ...
    def columns(self, table: str) -> list[tuple[str, str]]: ...
    def json_text(self, column: str, key: str) -> str: ...
    def integrity_check(self) -> list[str]: ...
    def close(self) -> None: ...


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _insert_sql(table: str, values: dict[str, Any], mark: str) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(values)}) "  # noqa: S608 - names are ours
        f"VALUES ({', '.join([mark] * len(values))})"
    )


class SqliteBackend:
    """One SQLite file in WAL mode, synchronous=FULL, created and migrated on open."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{self.path}: could not switch to WAL ({mode})")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.version = schema.migrate(self.conn)

    def describe(self) -> str:
        return str(self.path)

    def insert(self, table: str, values: dict[str, Any]) -> int:
        with self._lock:
            cursor = self.conn.execute(_insert_sql(table, values, "?"), tuple(values.values()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]

    def execute(self, sql: str) -> None:
        with self._lock:
            self.conn.execute(sql)

    def columns(self, table: str) -> list[tuple[str, str]]:
        info = self.query(f"PRAGMA table_info({table})")
        return [(c["name"], str(c["type"]).upper()) for c in info]

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def integrity_check(self) -> list[str]:
        found = [str(r["integrity_check"]) for r in self.query("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        with self._lock:
            self.conn.close()


class PostgresBackend:
    """A PostgreSQL database (psycopg 3, autocommit: every statement commits)."""

    dialect = "postgresql"

    def __init__(self, url: str, now: float) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.url = redact(url)
        self._lock = threading.Lock()
        try:
            self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            secret = urlsplit(url).password
            reason = str(exc).replace(secret, "***") if secret else str(exc)
            raise JournalError(f"cannot open journal {self.url}: {reason}") from None
        self.version = pg_schema.migrate(self.conn, now)

    def describe(self) -> str:
        return self.url

    def insert(self, table: str, values: dict[str, Any]) -> int:
        sql = _insert_sql(table, values, "%s") + " RETURNING id"
        with self._lock:
            row = self.conn.execute(sql, tuple(values.values())).fetchone()
        assert row is not None
        return int(row["id"])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return self.conn.execute(sql.replace("?", "%s"), tuple(params)).fetchall()

    def execute(self, sql: str) -> None:
        with self._lock:
            self.conn.execute(sql)

    def columns(self, table: str) -> list[tuple[str, str]]:
        found = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [(c["column_name"], str(c["data_type"]).upper()) for c in found]

    def json_text(self, column: str, key: str) -> str:
        return f"({column}::jsonb ->> '{key}')"

    def integrity_check(self) -> list[str]:
        """Every journal table reads through; with the amcheck extension installed, every
        heap and B-tree index is verified too (heap tuples all present in each index)."""
        problems: list[str] = []
        for table in schema.ALL_TABLES:
            self.query(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608 - names are ours
        amcheck = self.query(
            "SELECT n.nspname AS schema FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'"
        )
        if not amcheck:
            return problems
        ns = amcheck[0]["schema"]
        for table in schema.ALL_TABLES:
            heap = self.query(
                f'SELECT blkno, msg FROM "{ns}".verify_heapam(?::regclass)',  # noqa: S608
                (table,),
            )
            problems += [f"{table} block {r['blkno']}: {r['msg']}" for r in heap]
        indexes = self.query(
            "SELECT indexrelid::regclass::text AS name FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace"
        )
        for index in indexes:  # raises on corruption, which is the report we want
            self.query(f'SELECT "{ns}".bt_index_check(?::regclass, true)', (index["name"],))
        return problems

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def connect(target: str | Path, now: float) -> Backend:
    """A PostgreSQL backend for a postgresql:// URL, else a SQLite file at the path."""
    if is_postgres(target):
        return PostgresBackend(str(target), now)
    return SqliteBackend(target)
