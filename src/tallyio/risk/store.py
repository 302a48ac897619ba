"""The risk state on disk: breaker trips, operator resets and transaction results, in SQLite.

One small file (`<state dir>/risk.sqlite`) shared by the engine and the operator's CLI, so a
`tallyio risk reset` in another process is seen on the engine's next check, and a restart keeps
a tripped breaker tripped. Every write is its own committed transaction. Wei amounts can pass
SQLite's 64-bit integers, so they are stored as decimal text and summed in Python.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "risk.sqlite"
GLOBAL = "*"  # the scope that halts every strategy

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trips (
    scope TEXT PRIMARY KEY, reason TEXT NOT NULL, detail TEXT NOT NULL, tripped_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resets (scope TEXT PRIMARY KEY, reset_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, strategy TEXT NOT NULL, chain_id INTEGER NOT NULL,
    success INTEGER NOT NULL, net_profit TEXT NOT NULL, gas_spent TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_at ON results (at);
"""


@dataclass(frozen=True, slots=True)
class Trip:
    """A tripped breaker: `scope` is a strategy name, or "*" for everything."""

    scope: str
    reason: str  # failures | loss | total_loss | head_lag | emergency_exit | operator
    detail: str
    tripped_at: float  # unix seconds (the Clock's now)


@dataclass(frozen=True, slots=True)
class Result:
    at: float
    strategy: str
    chain_id: int
    success: bool
    net_profit_wei: int
    gas_spent_wei: int

    @property
    def bad(self) -> bool:
        """Failed or losing: what the breaker counts."""
        return not self.success or self.net_profit_wei < 0

    @property
    def loss_wei(self) -> int:
        return max(0, -self.net_profit_wei)


class RiskStore:
    """The SQLite file in `state_dir` (created on open)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- trips ------------------------------------------------------------------------------
    def trips(self) -> list[Trip]:
        with self._lock:
            rows = self._db.execute("SELECT scope, reason, detail, tripped_at FROM trips")
            return sorted((Trip(*row) for row in rows), key=lambda t: (t.tripped_at, t.scope))

    def trip_for(self, scopes: tuple[str, ...]) -> Trip | None:
        """The first trip among `scopes` (in their order), if any."""
        marks = ",".join("?" * len(scopes))
        with self._lock:
            rows = self._db.execute(
                f"SELECT scope, reason, detail, tripped_at FROM trips WHERE scope IN ({marks})",  # noqa: S608
                scopes,
            ).fetchall()
        found = {row[0]: Trip(*row) for row in rows}
        return next((found[s] for s in scopes if s in found), None)

    def trip(self, trip: Trip) -> Trip:
        """Record a trip; a scope already tripped keeps its first reason (it holds)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO trips VALUES (?, ?, ?, ?)",
                (trip.scope, trip.reason, trip.detail, trip.tripped_at),
            )
            row = self._db.execute(
                "SELECT scope, reason, detail, tripped_at FROM trips WHERE scope = ?",
                (trip.scope,),
            ).fetchone()
        return Trip(*row)

    def reset(self, scopes: tuple[str, ...] | None, at: float) -> list[Trip]:
        """Clear the trips of `scopes` (None: all), remembering when, so the failures and
        losses counted before a reset do not trip the breaker again. Returns what was cleared."""
        cleared = [t for t in self.trips() if scopes is None or t.scope in scopes]
        marks = (
            {t.scope for t in cleared} | set(scopes or ()) | ({GLOBAL} if scopes is None else set())
        )
        with self._lock, self._db:
            for scope in marks:
                self._db.execute("DELETE FROM trips WHERE scope = ?", (scope,))
                self._db.execute("INSERT OR REPLACE INTO resets VALUES (?, ?)", (scope, at))
        return cleared

    def reset_at(self, scope: str) -> float:
        with self._lock:
            row = self._db.execute(
                "SELECT reset_at FROM resets WHERE scope = ?", (scope,)
            ).fetchone()
        return float(row[0]) if row else float("-inf")

    # -- results ----------------------------------------------------------------------------
    def add_result(self, result: Result) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO results (at, strategy, chain_id, success, net_profit, gas_spent) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (result.at, result.strategy, result.chain_id, int(result.success),
                 str(result.net_profit_wei), str(result.gas_spent_wei)),
            )  # fmt: skip

    def results_since(
        self, since: float, strategy: str | None = None, *, after: float = float("-inf")
    ) -> list[Result]:
        """Results at or after `since` and strictly after `after` (a reset's moment)."""
        query = "SELECT at, strategy, chain_id, success, net_profit, gas_spent FROM results "
        query += "WHERE at >= ? AND at > ?" + (" AND strategy = ?" if strategy is not None else "")
        params: tuple[object, ...] = (since, after) + ((strategy,) if strategy is not None else ())
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [Result(at, s, c, bool(ok), int(net), int(gas)) for at, s, c, ok, net, gas in rows]

    def gas_spent_since(self, since: float, strategy: str, chain_id: int) -> int:
        with self._lock:
            rows = self._db.execute(
                "SELECT gas_spent FROM results WHERE at >= ? AND strategy = ? AND chain_id = ?",
                (since, strategy, chain_id),
            ).fetchall()
        return sum(int(row[0]) for row in rows)
