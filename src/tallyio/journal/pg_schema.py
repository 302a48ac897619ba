"""The journal's schema in PostgreSQL: schema.py's migrations, translated statement by statement.

One list of migrations serves both backends, so they cannot drift apart. The translation is
small because the SQLite statements keep to a small dialect: `INTEGER PRIMARY KEY` becomes an
identity column, INTEGER becomes BIGINT (block numbers, gas, nonces pass 2**31), REAL becomes
DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes), and each append-only trigger becomes a
statement-level trigger calling one function that raises (DELETE's also refuses TRUNCATE).
Wide amounts stay decimal TEXT, as in SQLite.

The version is the highest row of `schema_version` (one row per migration applied, with when).
Migrations run in one transaction under an advisory lock, so two processes opening one journal
at once migrate it once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, LiteralString

from tallyio.journal.schema import MIGRATIONS, SCHEMA_VERSION, SchemaError

if TYPE_CHECKING:
    from psycopg import Connection

_FUNCTION = (
    "CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the journal is append-only: %', TG_TABLE_NAME; END $$"
)
_TRIGGER = re.compile(r"CREATE TRIGGER (\w+) BEFORE (UPDATE|DELETE) ON (\w+) BEGIN .* END", re.S)
_IDENTITY = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
_LOCK_KEY = 0x7A11_10  # pg_advisory_xact_lock key: "tallyio journal migrations"


def to_postgres(statement: str) -> str:
    """One SQLite migration statement in PostgreSQL's dialect."""
    trigger = _TRIGGER.fullmatch(statement.strip())
    if trigger:
        name, event, table = trigger.groups()
        events = "DELETE OR TRUNCATE" if event == "DELETE" else event
        return (
            f"CREATE TRIGGER {name} BEFORE {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only()"
        )
    if "TRIGGER" in statement:
        raise SchemaError(f"cannot translate this trigger for PostgreSQL: {statement[:80]}")
    out = statement.replace(
        "INTEGER PRIMARY KEY", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    )
    out = re.sub(r"\bINTEGER\b", "BIGINT", out)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", out)


def postgres_migrations() -> tuple[tuple[str, ...], ...]:
    """MIGRATIONS in PostgreSQL's dialect; the first also creates the trigger function."""
    translated = [tuple(to_postgres(s) for s in m) for m in MIGRATIONS]
    translated[0] = (_FUNCTION, *translated[0])
    return tuple(translated)


def version(conn: Connection[Any]) -> int:
    """The schema version of the journal at `conn` (a psycopg connection); 0 if none."""
    if not _one(conn, "SELECT to_regclass('schema_version') IS NOT NULL"):
        return 0
    return int(_one(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))


def _one(conn: Connection[Any], sql: LiteralString) -> Any:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0] if isinstance(row, tuple | list) else next(iter(row.values()))


def migrate(conn: Connection[Any], now: float) -> int:
    """Bring the journal at `conn` (autocommit mode) up to SCHEMA_VERSION, stamping each
    migration applied with `now`; returns the version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
        )
        current = version(conn)
        if current > SCHEMA_VERSION:
            raise SchemaError(
                f"journal schema version {current} is newer than this code's {SCHEMA_VERSION}"
            )
        for number, statements in enumerate(postgres_migrations(), start=1):
            if number <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (%s, %s)",
                (number, now),
            )
    return SCHEMA_VERSION
