"""What the API reads from the journal: opportunities, trades and PnL, as plain dicts.

A trade is one submitted plan: its latest submission, and where it ended (its latest inclusion
row) if it has. Profit is in the plan's profit-token base units, exact, as a decimal string
(JSON numbers lose precision past 2**53): the realised profit of a mined trade, the simulated
one of a paper trade. `net_profit` is that minus gas, priced in the same token.

Opportunities page in SQL through the journal's own query (`journal.queries.opportunities`)
when no status filter is asked for (the status is the plan's latest decision, joined per row of
the page). Trades and PnL stay here, over `JournalStore.rows` (whole tables: fine for a day's
journal): the journal's queries count a trade only once it ended and PnL only what landed,
while the API shows a trade from its first submission and counts a paper trade's simulated
profit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal, Protocol

from tallyio.journal import JournalStore, queries

Row = dict[str, Any]
GroupBy = Literal["strategy", "chain", "day"]
ENDED = frozenset({"included", "reverted", "not_included", "failed", "dropped"})


class JournalReader(Protocol):
    def rows(self, table: str, **where: Any) -> list[Row]: ...

    def for_plan(self, plan_id: str) -> dict[str, list[Row]]: ...


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _latest(rows: Iterable[Row]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for row in rows:
        out[row["plan_id"]] = row  # rows come oldest first: the last one wins
    return out


def _first(rows: Iterable[Row]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for row in rows:
        out.setdefault(row["plan_id"], row)
    return out


def _last(rows: list[Row]) -> Row | None:
    return rows[-1] if rows else None


def _page(rows: list[Row], limit: int, offset: int) -> list[Row]:
    rows.sort(key=lambda r: (r["recorded_at"], r.get("id", 0)), reverse=True)  # newest first
    return rows[offset : offset + limit]


class JournalView:
    """Read-only queries over a journal; `chain` names the chain rows carry no chain for."""

    def __init__(self, journal: JournalReader, *, chain: str = "devnet") -> None:
        self.journal, self.chain = journal, chain

    # -- opportunities ---------------------------------------------------------------------
    def opportunity(self, row: Row, decision: Row | None) -> Row:
        status = "found"
        if decision is not None:
            status = "approved" if decision["approved"] else "rejected"
        return {
            "id": row["id"], "plan_id": row["plan_id"], "recorded_at": row["recorded_at"],
            "block": row["block"], "strategy": row["strategy"],
            "chain": row["payload"].get("chain", self.chain),
            "expected_profit": _text(row["expected_profit"]), "status": status,
            "reason": decision["reason"] if decision else "",
        }  # fmt: skip

    def opportunities(
        self, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
        status: str | None = None, since: float | None = None,
    ) -> list[Row]:  # fmt: skip
        journal = self.journal
        if status is None and isinstance(journal, JournalStore):  # page in SQL
            page = queries.opportunities(journal, limit, offset, strategy=strategy, since=since)
            return [self.opportunity(r, _last(journal.rows("decisions", plan_id=r["plan_id"])))
                    for r in page]  # fmt: skip
        decisions = _latest(self.journal.rows("decisions"))
        found = [self.opportunity(r, decisions.get(r["plan_id"]))
                 for r in self.journal.rows("opportunities")]  # fmt: skip
        return _page([o for o in found if _match(o, strategy, status, since)], limit, offset)

    def strategy_names(self) -> set[str]:
        """Every strategy the journal names (opportunities and trades)."""
        names = {t["strategy"] for t in self.all_trades()}
        names |= {o["strategy"] for o in self.journal.rows("opportunities")}
        return names - {""}

    # -- trades ----------------------------------------------------------------------------
    def _strategies(self) -> dict[str, str]:
        named = {p: r["payload"].get("strategy") for p, r in _latest(
            self.journal.rows("simulations")).items()}  # fmt: skip
        named.update({p: r["strategy"] for p, r in _first(
            self.journal.rows("opportunities")).items() if r["strategy"]})  # fmt: skip
        return {p: s for p, s in named.items() if s}

    def all_trades(self) -> list[Row]:
        sent, started = _latest(self.journal.rows("submissions")), _first(
            self.journal.rows("submissions"))  # fmt: skip
        ended = _latest(self.journal.rows("inclusions"))
        sims = _latest(self.journal.rows("simulations"))
        names = self._strategies()
        return [
            trade(sub, started[p], ended.get(p), sims.get(p), names.get(p, ""), self.chain)
            for p, sub in sent.items()
        ]

    def trade_of(self, plan_id: str) -> Row | None:
        """One plan's trade (None if it was never submitted)."""
        rows = self.journal.for_plan(plan_id)
        if not rows["submissions"]:
            return None
        names = [o["strategy"] for o in rows["opportunities"] if o["strategy"]] + [
            s["payload"].get("strategy", "") for s in rows["simulations"]]  # fmt: skip
        return trade(rows["submissions"][-1], rows["submissions"][0],
                     _last(rows["inclusions"]), _last(rows["simulations"]),
                     next((n for n in names if n), ""), self.chain)  # fmt: skip

    def trades(
        self, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
        status: str | None = None, since: float | None = None,
    ) -> list[Row]:  # fmt: skip
        found = [t for t in self.all_trades() if _match(t, strategy, status, since)]
        return _page(found, limit, offset)

    # -- PnL -------------------------------------------------------------------------------
    def pnl(self, group_by: GroupBy = "strategy", since: float | None = None) -> list[Row]:
        """Profit per group over the trades that earned or lost something, exact."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for t in self.all_trades():
            if t["profit"] is None or (since is not None and t["recorded_at"] < since):
                continue
            entry = sums[_group(t, group_by)]
            entry[0] += int(t["profit"])
            entry[1] += int(t["net_profit"] or t["profit"])
            entry[2] += 1
        return [{"group": g, "profit": str(p), "net_profit": str(n), "trades": c}
                for g, (p, n, c) in sorted(sums.items())]  # fmt: skip


def trade(sub: Row, first: Row, end: Row | None, sim: Row | None, strategy: str,
          chain: str) -> Row:  # fmt: skip
    """One trade's row, from its latest submission (and inclusion, and simulation)."""
    paper = sub["mode"] == "paper"
    if end is not None:
        status, profit = end["status"], end["realised_profit"]
        net = end["payload"].get("net_profit")
    else:
        status, profit, net = sub["status"], None, None
        if paper and sim is not None:
            profit, net = sim["profit"], sim["payload"].get("net_profit")
    return {
        "plan_id": sub["plan_id"], "recorded_at": first["recorded_at"], "strategy": strategy,
        "chain": sub["payload"].get("chain", chain), "mode": sub["mode"], "status": status,
        "tx_hash": (end or {}).get("tx_hash") or sub["tx_hash"],
        "block": (end or {}).get("block"), "target_block": sub["target_block"],
        "gas_used": (end or {}).get("gas_used") or (sim or {}).get("gas_used"),
        "profit": _text(profit), "net_profit": _text(net),
    }  # fmt: skip


def _match(row: Row, strategy: str | None, status: str | None, since: float | None) -> bool:
    return (
        (strategy is None or row["strategy"] == strategy)
        and (status is None or row["status"] == status)
        and (since is None or row["recorded_at"] >= since)
    )


def _group(t: Row, group_by: GroupBy) -> str:
    if group_by == "day":
        return dt.datetime.fromtimestamp(t["recorded_at"], dt.UTC).date().isoformat()
    return str(t[group_by] or "unknown")
