"""Questions asked of the journal: paged opportunities and trades (for the API) and PnL.

A trade is how a plan ended: an `inclusions` row (included, reverted, not included, failed), or
for a paper run, the `submissions` row with status "simulated". Its strategy, chain and profit
token come from the plan's opportunity row, else (strategy only) from its simulation's payload;
its gas cost from the inclusion's payload, as the executors write it (`gas_cost_wei`,
`gas_cost` in profit-token units, `net_profit`; for a paper trade, `net_profit` is the
simulated one and PnL only counts it).

PnL sums exact ints in Python (amounts are decimal text in the database, past 2**63): per
strategy, chain, UTC day of the trade, and always per profit token, since sums of different
tokens' base units mean nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tallyio.journal.store import Row, decode, timestamp

if TYPE_CHECKING:
    from tallyio.journal.store import JournalStore

GROUPS = ("strategy", "chain", "day")
LANDED = ("included", "reverted")
MISSED = ("not_included", "failed")
PAPER = "simulated"  # a paper run's submission status (the only submissions that are trades)


@dataclass(frozen=True, slots=True)
class PnlRow:
    """One group's trades and what they earned. Amounts are in the profit token's base units
    (`token`), gas spent in wei; a key not grouped by is None."""

    strategy: str | None
    chain_id: int | None
    day: str | None  # YYYY-MM-DD, UTC
    token: str | None  # the profit token (None: the plan's opportunity was not journaled)
    trades: int
    included: int
    reverted: int
    missed: int  # not included, or could not be sent
    simulated: int  # paper: simulated, never sent
    realised_profit: int  # the executor's profit-token change where its transactions landed
    gas_cost: int  # gas paid, priced in the profit token
    net_profit: int  # realised_profit - gas_cost
    gas_used: int
    gas_spent_wei: int

    def as_json(self) -> dict[str, Any]:
        """Amounts as decimal strings (exact in any JSON reader), counts as numbers."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            wide = f.name in ("realised_profit", "gas_cost", "net_profit", "gas_spent_wei")
            out[f.name] = str(value) if wide else value
        return out


def _latest(column: str) -> str:
    return (
        f"(SELECT o.{column} FROM opportunities o WHERE o.plan_id = t.plan_id "  # noqa: S608
        "ORDER BY o.id DESC LIMIT 1)"
    )


def _trades_sql(store: JournalStore) -> str:
    """Every trade with its strategy, chain and profit token, as one sub-select `x`."""
    sim_strategy = store.backend.json_text("s.payload", "strategy")
    mode = store.backend.json_text("payload", "mode")  # inclusions keep it in the payload
    ends = (
        "SELECT 'inclusions' AS source, id, recorded_at, plan_id, tx_hash, block, status, "  # noqa: S608
        f"{mode} AS mode, gas_used, realised_profit, payload FROM inclusions "
        "UNION ALL "
        "SELECT 'submissions', id, recorded_at, plan_id, tx_hash, target_block, status, "
        "mode, NULL, NULL, payload FROM submissions WHERE status = 'simulated'"
    )
    return (
        f"SELECT t.*, COALESCE(NULLIF({_latest('strategy')}, ''), "  # noqa: S608 - all ours
        f"(SELECT {sim_strategy} FROM simulations s WHERE s.plan_id = t.plan_id "
        "ORDER BY s.id DESC LIMIT 1), '') AS strategy, "
        f"{_latest('chain_id')} AS chain_id, {_latest('profit_token')} AS profit_token "
        f"FROM ({ends}) t"
    )


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or offset < 0:
        raise ValueError(f"bad page: limit={limit} (>= 1), offset={offset} (>= 0)")
    return min(limit, 1000), offset


def opportunities(
    store: JournalStore, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
    since: float | datetime | None = None,
) -> list[Row]:  # fmt: skip
    """Opportunities, newest first, optionally of one strategy and recorded since a time."""
    limit, offset = _page(limit, offset)
    where, params = ["1 = 1"], list[Any]()
    if strategy is not None:
        where.append("strategy = ?")
        params.append(strategy)
    if since is not None:
        where.append("recorded_at >= ?")
        params.append(timestamp(since))
    sql = (
        f"SELECT * FROM opportunities WHERE {' AND '.join(where)} "  # noqa: S608 - ours
        "ORDER BY id DESC LIMIT ? OFFSET ?"
    )
    return [decode(r) for r in store.backend.query(sql, (*params, limit, offset))]


def trades(
    store: JournalStore, limit: int = 50, offset: int = 0, *, strategy: str | None = None,
    status: str | None = None,
) -> list[Row]:  # fmt: skip
    """Trades, newest first, optionally of one strategy and one status."""
    limit, offset = _page(limit, offset)
    where, params = ["1 = 1"], list[Any]()
    for column, value in (("strategy", strategy), ("status", status)):
        if value is not None:
            where.append(f"x.{column} = ?")
            params.append(value)
    sql = (
        f"SELECT * FROM ({_trades_sql(store)}) x WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY x.recorded_at DESC, x.source, x.id DESC LIMIT ? OFFSET ?"
    )
    return [_trade(r) for r in store.backend.query(sql, (*params, limit, offset))]


def _trade(raw: Row) -> Row:
    row = decode(raw)
    payload = row["payload"]
    for key in ("gas_cost_wei", "gas_cost", "net_profit"):
        row[key] = payload.get(key)
    return row


def _key(row: Row, by: frozenset[str]) -> tuple[Any, ...]:
    day = datetime.fromtimestamp(row["recorded_at"], UTC).date().isoformat()
    return (
        row["strategy"] if "strategy" in by else None,
        row["chain_id"] if "chain" in by else None,
        day if "day" in by else None,
        row["profit_token"],
    )


def pnl(
    store: JournalStore, group_by: Iterable[str] = GROUPS,
    since: float | datetime | None = None,
) -> list[PnlRow]:  # fmt: skip
    """Realised profit, gas and counts per group (of strategy, chain, day; always per token),
    of trades recorded at or after `since`; sorted by key."""
    by = frozenset(group_by)
    if not by <= set(GROUPS):
        raise ValueError(f"cannot group PnL by {sorted(by - set(GROUPS))} (only {GROUPS})")
    sql, params = f"SELECT * FROM ({_trades_sql(store)}) x", list[Any]()  # noqa: S608 - ours
    if since is not None:
        sql, params = sql + " WHERE x.recorded_at >= ?", [timestamp(since)]
    groups: dict[tuple[Any, ...], _Sums] = {}
    for trade in map(_trade, store.backend.query(sql + " ORDER BY x.recorded_at", params)):
        groups.setdefault(_key(trade, by), _Sums()).add(trade)
    ordered = sorted(groups.items(), key=lambda kv: tuple(map(_sortable, kv[0])))
    return [sums.row(*key) for key, sums in ordered]


@dataclass(slots=True)
class _Sums:
    """A group's running totals (exact ints) while the trades are read."""

    trades: int = 0
    included: int = 0
    reverted: int = 0
    missed: int = 0
    simulated: int = 0
    realised: int = 0
    gas_cost: int = 0
    gas_used: int = 0
    gas_wei: int = 0

    def add(self, trade: Row) -> None:
        status = trade["status"]
        self.trades += 1
        self.included += status == "included"
        self.reverted += status == "reverted"
        self.missed += status in MISSED
        self.simulated += status == PAPER
        if status in LANDED:
            self.realised += trade["realised_profit"] or 0
            self.gas_cost += int(trade["gas_cost"] or 0)
            self.gas_used += trade["gas_used"] or 0
            self.gas_wei += int(trade["gas_cost_wei"] or 0)

    def row(self, strategy: str | None, chain: int | None, day: str | None,
            token: str | None) -> PnlRow:  # fmt: skip
        return PnlRow(
            strategy, chain, day, token, self.trades, self.included, self.reverted,
            self.missed, self.simulated, self.realised, self.gas_cost,
            self.realised - self.gas_cost, self.gas_used, self.gas_wei,
        )  # fmt: skip


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)
