"""The journal-only live feed: new journal rows as events, and the node's head.

`JournalTail.poll` is synchronous (run it in a thread): it reads the journal tables and turns
the rows it has not seen into events. `HeadWatcher` asks the node for its latest block and
reports the head and how far its timestamp lags the clock.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from tallyio.api.journal_view import JournalView, Row
from tallyio.chain import ChainClient, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.core.clock import Clock

TAILED = ("opportunities", "decisions", "submissions", "inclusions")
HEALTHY_LAG_SECONDS = 60.0  # a head older than this is a stalled node (devnets mine on demand)


class JournalTail:
    def __init__(self, view: JournalView) -> None:
        self.view = view
        self.seen = dict.fromkeys(TAILED, 0)  # the last row id read, per table

    def _new(self, table: str) -> list[Row]:
        rows = [r for r in self.view.journal.rows(table) if r["id"] > self.seen[table]]
        if rows:
            self.seen[table] = rows[-1]["id"]
        return rows

    def skip_existing(self) -> None:
        for table in TAILED:
            self._new(table)

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = [
            ("opportunity", self.view.opportunity(r, None)) for r in self._new("opportunities")
        ]
        events += [("decision", _decision(r)) for r in self._new("decisions")]
        touched = dict.fromkeys(r["plan_id"] for t in TAILED[2:] for r in self._new(t))
        for plan_id in touched:
            trade = self.view.trade_of(plan_id)
            if trade is not None:
                events.append(("trade", trade))
        return events


def _decision(row: Row) -> dict[str, Any]:
    return {"plan_id": row["plan_id"], "stage": row["stage"], "approved": row["approved"],
            "reason": row["reason"], "recorded_at": row["recorded_at"]}  # fmt: skip


class HeadWatcher:
    def __init__(self, rpc_url: str, clock: Clock) -> None:
        self.clock = clock
        self.client: ChainClient = build_client(
            rpc_url, timeout=5.0, retry_policy=RetryPolicy(attempts=1),
            rpc_metrics=RpcMetrics(CollectorRegistry()),
        )  # fmt: skip
        self.head: int | None = None
        self.head_time: int | None = None
        self.error: str | None = None

    async def poll(self) -> bool:
        """Read the head; True when it moved."""
        try:
            block = await self.client.request("eth_getBlockByNumber", ["latest", False])
        except Exception as exc:  # an unreachable node is news for the dashboard, not a crash
            self.error = type(exc).__name__
            return False
        self.error = None
        number = int(block["number"], 16)
        moved = number != self.head
        self.head, self.head_time = number, int(block["timestamp"], 16)
        return moved

    def health(self) -> dict[str, Any]:
        lag = None if self.head_time is None else max(0.0, self.clock.now() - self.head_time)
        healthy = self.error is None and lag is not None and lag < HEALTHY_LAG_SECONDS
        return {"head": self.head, "lag_seconds": None if lag is None else round(lag, 1),
                "healthy": healthy, "error": self.error}  # fmt: skip

    async def close(self) -> None:
        await self.client.close()
