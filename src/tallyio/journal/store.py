"""`JournalStore`: the append-only journal — collector event batches, opportunities, decisions,
simulations, submissions, inclusions — appended to and read back, over SQLite or PostgreSQL.

`open_journal(path_or_url)` picks the backend: a `postgresql://` URL opens PostgreSQL, anything
else is a SQLite file (WAL, synchronous=FULL). Either way every `record_*` is its own
transaction, committed (and flushed to disk) before it returns, so a write that was
acknowledged survives a kill -9. Writes are serialised by a lock, so the store can be used from
worker threads (executors call it through `asyncio.to_thread`, keeping the flush off the event
loop). Reading for the API and PnL lives in queries.py; `pnl`, `opportunities` and `trades`
here delegate to it.

Never journal a secret: payloads are what the caller hands in, and callers pass only addresses,
hashes, amounts and reasons.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tallyio.core.clock import Clock, SystemClock
from tallyio.journal.backends import Backend, SqliteBackend, connect
from tallyio.journal.schema import ALL_TABLES, TABLES

if TYPE_CHECKING:
    from tallyio.journal.queries import PnlRow

Row = dict[str, Any]
# Columns that hold integers too wide for SQLite's INTEGER; stored as decimal text.
_WIDE = frozenset({"expected_profit", "profit", "realised_profit"})
_JSON = {"payload": "{}", "counts": "{}", "touches": "[]"}
_FILTERS = frozenset({
    "plan_id", "tx_hash", "block", "target_block", "status", "mode", "stage", "strategy",
    "chain_id", "kind",
})  # fmt: skip


def _jsonable(value: Any) -> Any:
    """json.dumps' fallback: bytes as 0x-hex, enums by value, dataclasses as dicts."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot journal a {type(value).__name__}")


def _dump(payload: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(payload or {}), default=_jsonable, separators=(",", ":"))


def _wide(value: int | None) -> str | None:
    return None if value is None else str(int(value))


def _hash(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _name(kind: str | Enum) -> str:
    """An opportunity's kind as text: an enum by its lower-case name."""
    return kind.name.lower() if isinstance(kind, Enum) else str(kind)


def timestamp(since: float | datetime | None) -> float | None:
    """A `since` bound as epoch seconds (a naive datetime is taken as UTC)."""
    if since is None or isinstance(since, int | float):
        return since
    if since.tzinfo is None:
        return since.replace(tzinfo=UTC).timestamp()
    return since.timestamp()


class JournalStore:
    """An append-only journal (created, and migrated, on open): a SQLite file at `target`, or
    the PostgreSQL database a `postgresql://` URL names."""

    def __init__(self, target: str | Path, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.backend: Backend = connect(target, self._clock.now())
        self.version = self.backend.version
        self.path = self.backend.path if isinstance(self.backend, SqliteBackend) else None

    def __repr__(self) -> str:
        return f"JournalStore({self.backend.describe()}, v{self.version})"

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    @property
    def _conn(self) -> Any:
        """The backend's connection (sqlite3 or psycopg), for tests that go around the API."""
        return self.backend.conn  # type: ignore[attr-defined]

    # -- writing ----------------------------------------------------------------------------
    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        return self.backend.insert(table, {"recorded_at": self._clock.now(), **values})

    def record_events(
        self, chain_id: int, block: int, block_hash: str, counts: Mapping[str, int],
        payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        """One batch of collector events (a block's): how many of each kind arrived."""
        if any(int(n) < 0 for n in counts.values()):
            raise ValueError(f"negative event count in {dict(counts)}")
        ordered = {str(k): int(counts[k]) for k in sorted(counts)}
        return self._insert("events", {
            "chain_id": chain_id, "block": block, "block_hash": _hash(block_hash),
            "total": sum(ordered.values()), "counts": _dump(ordered), "payload": _dump(payload),
        })  # fmt: skip

    def record_opportunity(
        self, plan_id: str, *, block: int | None = None, strategy: str = "",
        expected_profit: int | None = None, payload: Mapping[str, Any] | None = None,
        kind: str | Enum = "", chain_id: int | None = None, gas_estimate: int | None = None,
        profit_token: str | None = None, touches: Iterable[str] = (),
    ) -> int:  # fmt: skip
        return self._insert("opportunities", {
            "plan_id": plan_id, "block": block, "strategy": strategy,
            "expected_profit": _wide(expected_profit), "payload": _dump(payload),
            "kind": _name(kind), "chain_id": chain_id, "gas_estimate": gas_estimate,
            "profit_token": _hash(profit_token),
            "touches": json.dumps(sorted({t.lower() for t in touches})),
        })  # fmt: skip

    def record_decision(
        self, plan_id: str, *, stage: str, approved: bool, reason: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        return self._insert("decisions", {
            "plan_id": plan_id, "stage": stage, "approved": int(approved), "reason": reason,
            "payload": _dump(payload),
        })  # fmt: skip

    def record_simulation(
        self, plan_id: str, *, block: int, success: bool, profit: int | None,
        gas_used: int | None, revert_reason: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        return self._insert("simulations", {
            "plan_id": plan_id, "block": block, "success": int(success), "profit": _wide(profit),
            "gas_used": gas_used, "revert_reason": revert_reason, "payload": _dump(payload),
        })  # fmt: skip

    def record_submission(
        self, plan_id: str, *, mode: str, status: str, tx_hash: str | None = None,
        nonce: int | None = None, target_block: int | None = None, endpoint: str | None = None,
        latency_ms: float | None = None, error: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        return self._insert("submissions", {
            "plan_id": plan_id, "mode": mode, "status": status, "tx_hash": _hash(tx_hash),
            "nonce": nonce, "target_block": target_block, "endpoint": endpoint,
            "latency_ms": latency_ms, "error": error, "payload": _dump(payload),
        })  # fmt: skip

    def record_inclusion(
        self, plan_id: str, *, status: str, tx_hash: str | None = None, block: int | None = None,
        gas_used: int | None = None, realised_profit: int | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        return self._insert("inclusions", {
            "plan_id": plan_id, "tx_hash": _hash(tx_hash), "block": block, "status": status,
            "gas_used": gas_used, "realised_profit": _wide(realised_profit),
            "payload": _dump(payload),
        })  # fmt: skip

    # -- reading ----------------------------------------------------------------------------
    def rows(self, table: str, **where: Any) -> list[Row]:
        """The rows of `table` matching every `column=value` given, oldest first.
        Filterable columns: plan_id, tx_hash, block, target_block, status, mode, stage,
        strategy, chain_id, kind (where the table has them)."""
        if table not in ALL_TABLES:
            raise ValueError(f"no journal table {table!r} (tables: {', '.join(ALL_TABLES)})")
        unknown = set(where) - _FILTERS
        if unknown:
            raise ValueError(f"cannot filter on {sorted(unknown)}")
        if "tx_hash" in where:
            where["tx_hash"] = _hash(where["tx_hash"])
        clause = " AND ".join(f"{column} = ?" for column in where) or "1 = 1"
        sql = f"SELECT * FROM {table} WHERE {clause} ORDER BY id"  # noqa: S608 - names checked
        return [decode(r) for r in self.backend.query(sql, tuple(where.values()))]

    def scan(self, table: str, *, after_id: int = 0, limit: int = 10_000) -> list[Row]:
        """Up to `limit` rows of `table` with id > `after_id`, as stored (wide amounts and
        JSON still text): for export, page by page."""
        if table not in ALL_TABLES:
            raise ValueError(f"no journal table {table!r}")
        sql = f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?"  # noqa: S608
        return self.backend.query(sql, (after_id, limit))

    def for_plan(self, plan_id: str) -> dict[str, list[Row]]:
        """Everything journaled about one plan, table by table."""
        return {table: self.rows(table, plan_id=plan_id) for table in TABLES}

    def for_tx(self, tx_hash: str) -> dict[str, list[Row]]:
        """The submissions and inclusions of one transaction."""
        return {t: self.rows(t, tx_hash=tx_hash) for t in ("submissions", "inclusions")}

    def counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(
            f"SELECT '{t}' AS name, COUNT(*) AS n FROM {t}"  # noqa: S608 - names are ours
            for t in ALL_TABLES
        )
        return {r["name"]: int(r["n"]) for r in self.backend.query(sql)}

    def integrity_check(self) -> list[str]:
        """What is wrong with the database underneath ([] when it is intact)."""
        return self.backend.integrity_check()

    # -- questions for the API and the CLI (queries.py) -------------------------------------
    def opportunities(
        self, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
        since: float | datetime | None = None,
    ) -> list[Row]:  # fmt: skip
        from tallyio.journal import queries

        return queries.opportunities(self, limit, offset, strategy=strategy, since=since)

    def trades(
        self, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
        status: str | None = None,
    ) -> list[Row]:  # fmt: skip
        from tallyio.journal import queries

        return queries.trades(self, limit, offset, strategy=strategy, status=status)

    def pnl(
        self, group_by: Iterable[str] = ("strategy", "chain", "day"),
        since: float | datetime | None = None,
    ) -> list[PnlRow]:  # fmt: skip
        from tallyio.journal import queries

        return queries.pnl(self, group_by=group_by, since=since)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> JournalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_journal(target: str | Path, *, clock: Clock | None = None) -> JournalStore:
    """The journal at a SQLite path, or in the PostgreSQL database a `postgresql://` URL names."""
    return JournalStore(target, clock=clock)


def decode(raw: Mapping[str, Any]) -> Row:
    """A stored row as Python values: JSON parsed, wide amounts as ints, flags as bools."""
    row = dict(raw)
    for column, empty in _JSON.items():
        if column in row:
            row[column] = json.loads(row[column] or empty)
    for column in _WIDE & row.keys():
        if row[column] is not None:
            row[column] = int(row[column])
    for column in ("success", "approved"):
        if column in row:
            row[column] = bool(row[column])
    return row
