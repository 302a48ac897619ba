"""`JournalStore`: the SQLite journal — opportunities, decisions, simulations, submissions,
inclusions — appended to and read back.

SQLite in WAL mode with `synchronous=FULL`: every `record_*` is its own transaction, committed
(and fsynced) before it returns, so a write that was acknowledged survives a kill -9 or a power
cut. Writes are serialised by a lock, so the store can be used from worker threads (executors
call it through `asyncio.to_thread`, keeping the fsync off the event loop).

Never journal a secret: payloads are what the caller hands in, and callers pass only addresses,
hashes, amounts and reasons.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tallyio.core.clock import Clock, SystemClock
from tallyio.journal.schema import TABLES, migrate

Row = dict[str, Any]
# Columns that hold integers too wide for SQLite's INTEGER; stored as decimal text.
_WIDE = frozenset({"expected_profit", "profit", "realised_profit"})
_FILTERS = frozenset({"plan_id", "tx_hash", "block", "target_block", "status", "mode", "stage"})


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


class JournalStore:
    """An append-only journal in one SQLite file (created, and migrated, on open)."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{self.path}: could not switch to WAL ({mode})")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self.version = migrate(self._conn)

    def __repr__(self) -> str:
        return f"JournalStore({self.path}, v{self.version})"

    # -- writing ----------------------------------------------------------------------------
    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        columns = ("recorded_at", *values)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - names are ours
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        with self._lock:
            cursor = self._conn.execute(sql, (self._clock.now(), *values.values()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def record_opportunity(
        self, plan_id: str, *, block: int | None = None, strategy: str = "",
        expected_profit: int | None = None, payload: Mapping[str, Any] | None = None,
    ) -> int:  # fmt: skip
        return self._insert("opportunities", {
            "plan_id": plan_id, "block": block, "strategy": strategy,
            "expected_profit": _wide(expected_profit), "payload": _dump(payload),
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
        Filterable columns: plan_id, tx_hash, block, target_block, status, mode, stage."""
        if table not in TABLES:
            raise ValueError(f"no journal table {table!r} (tables: {', '.join(TABLES)})")
        unknown = set(where) - _FILTERS
        if unknown:
            raise ValueError(f"cannot filter on {sorted(unknown)}")
        if "tx_hash" in where:
            where["tx_hash"] = _hash(where["tx_hash"])
        clause = " AND ".join(f"{column} = ?" for column in where) or "1"
        sql = f"SELECT * FROM {table} WHERE {clause} ORDER BY id"  # noqa: S608 - names checked
        with self._lock:
            found = self._conn.execute(sql, tuple(where.values())).fetchall()
        return [_row(r) for r in found]

    def for_plan(self, plan_id: str) -> dict[str, list[Row]]:
        """Everything journaled about one plan, table by table."""
        return {table: self.rows(table, plan_id=plan_id) for table in TABLES}

    def for_tx(self, tx_hash: str) -> dict[str, list[Row]]:
        """The submissions and inclusions of one transaction."""
        return {t: self.rows(t, tx_hash=tx_hash) for t in ("submissions", "inclusions")}

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])  # noqa: S608
                for t in TABLES
            }

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JournalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _row(raw: sqlite3.Row) -> Row:
    row = dict(raw)
    row["payload"] = json.loads(row.get("payload") or "{}")
    for column in _WIDE & row.keys():
        if row[column] is not None:
            row[column] = int(row[column])
    for column in ("success", "approved"):
        if column in row:
            row[column] = bool(row[column])
    return row
