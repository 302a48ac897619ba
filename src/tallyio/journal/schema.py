"""The journal's tables, as an ordered list of migrations; the schema version is their count.

Every table is append-only (triggers refuse UPDATE and DELETE): a journal records what happened,
it is never edited. Each row has its own key columns for the questions asked most (by plan id,
transaction hash, block) and a JSON `payload` with everything else, so a new field needs no
migration. Amounts that can pass 2**63 (token base units, wei) are stored as decimal TEXT.

The statements are SQLite's; pg_schema.py translates them for PostgreSQL, so both backends
hold one schema. The version lives in SQLite's `PRAGMA user_version` (PostgreSQL: a
`schema_version` table). To change the schema, append a migration (never edit one that has
shipped): `migrate` runs each missing one in its own transaction.
"""

from __future__ import annotations

import sqlite3

# The tables about one plan, in the order a plan moves through them.
TABLES = ("opportunities", "decisions", "simulations", "submissions", "inclusions")
# Every table: the plan tables and the collectors' event batches.
ALL_TABLES = (*TABLES, "events")


def _append_only(table: str) -> tuple[str, str]:
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'the journal is append-only: {table}'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'the journal is append-only: {table}'); END",
    )


_V1: tuple[str, ...] = (
    # What a strategy found: the plan it would run, computed at `block`.
    """CREATE TABLE opportunities (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, plan_id TEXT NOT NULL,
        block INTEGER, strategy TEXT NOT NULL DEFAULT '', expected_profit TEXT,
        payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX opportunities_plan ON opportunities (plan_id)",
    "CREATE INDEX opportunities_block ON opportunities (block)",
    # Go / no-go, by stage ("risk", "executor"), with the reason for a no.
    """CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, plan_id TEXT NOT NULL,
        stage TEXT NOT NULL, approved INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX decisions_plan ON decisions (plan_id)",
    # A fork simulation of the plan's transaction on top of `block`.
    """CREATE TABLE simulations (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, plan_id TEXT NOT NULL,
        block INTEGER NOT NULL, success INTEGER NOT NULL, profit TEXT, gas_used INTEGER,
        revert_reason TEXT, payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX simulations_plan ON simulations (plan_id)",
    "CREATE INDEX simulations_block ON simulations (block)",
    # One send to one place: the public mempool, or one relay endpoint for one target block.
    """CREATE TABLE submissions (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, plan_id TEXT NOT NULL,
        mode TEXT NOT NULL, status TEXT NOT NULL, tx_hash TEXT, nonce INTEGER,
        target_block INTEGER, endpoint TEXT, latency_ms REAL, error TEXT,
        payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX submissions_plan ON submissions (plan_id)",
    "CREATE INDEX submissions_tx ON submissions (tx_hash)",
    "CREATE INDEX submissions_block ON submissions (target_block)",
    # Where it ended: included (status of the receipt) or not, and what it earned.
    """CREATE TABLE inclusions (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, plan_id TEXT NOT NULL,
        tx_hash TEXT, block INTEGER, status TEXT NOT NULL, gas_used INTEGER,
        realised_profit TEXT, payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX inclusions_plan ON inclusions (plan_id)",
    "CREATE INDEX inclusions_tx ON inclusions (tx_hash)",
    "CREATE INDEX inclusions_block ON inclusions (block)",
    *(stmt for table in TABLES for stmt in _append_only(table)),
)

_V2: tuple[str, ...] = (
    # One row per batch of collector events (a block's worth): how many of each kind.
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY, recorded_at REAL NOT NULL, chain_id INTEGER NOT NULL,
        block INTEGER NOT NULL, block_hash TEXT NOT NULL, total INTEGER NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}', payload TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX events_block ON events (chain_id, block)",
    *_append_only("events"),
    # An opportunity says what it is and where: enough to group PnL without the payload.
    "ALTER TABLE opportunities ADD COLUMN kind TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE opportunities ADD COLUMN chain_id INTEGER",
    "ALTER TABLE opportunities ADD COLUMN gas_estimate INTEGER",
    "ALTER TABLE opportunities ADD COLUMN profit_token TEXT",
    "ALTER TABLE opportunities ADD COLUMN touches TEXT NOT NULL DEFAULT '[]'",
    "CREATE INDEX opportunities_strategy ON opportunities (strategy, recorded_at)",
    "CREATE INDEX inclusions_recorded ON inclusions (recorded_at)",
)

# Append only: never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database holds a journal this code cannot read (e.g. written by a newer version)."""


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the journal at `conn` (autocommit mode) up to SCHEMA_VERSION; returns it."""
    current = version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"journal schema version {current} is newer than this code's {SCHEMA_VERSION}"
        )
    for number in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return SCHEMA_VERSION
