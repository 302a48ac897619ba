"""`tallyio journal export|pnl`: the journal to Parquet files, and realised PnL from it.

--journal takes a SQLite path or a postgresql:// URL (say the password in PGPASSWORD or
~/.pgpass rather than in the URL: command lines are visible to every user of the machine).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tallyio.journal.backends import JournalError, is_postgres
from tallyio.journal.queries import GROUPS, PnlRow
from tallyio.journal.store import JournalStore

HELP = "the journal: export it to Parquet, or read realised PnL from it"


def add_journal_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("journal", help=HELP, description=HELP)
    sub = p.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export", help="one Parquet file per table (amounts past 2**63 as exact strings)"
    )
    export.add_argument("--parquet", required=True, metavar="DIR", help="output directory")
    export.set_defaults(handler=run_export)
    pnl = sub.add_parser("pnl", help="realised profit, gas and trade counts per group")
    choices = ",".join(GROUPS)
    pnl.add_argument("--by", default=choices, help=f"comma-separated subset of {choices}")
    pnl.add_argument("--since", default=None, help="only trades at or after (ISO date/time, UTC)")
    pnl.set_defaults(handler=run_pnl)
    for action in (export, pnl):
        action.add_argument("--journal", required=True, metavar="PATH_OR_URL",
                            help="SQLite file or postgresql:// URL")  # fmt: skip
        action.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _open(target: str) -> JournalStore:
    from pathlib import Path

    if not is_postgres(target) and not Path(target).is_file():
        raise JournalError(f"no journal at {target}")
    return JournalStore(target)


def run_export(args: argparse.Namespace) -> int:
    from tallyio.journal.export import export_parquet

    with _open(args.journal) as store:
        done = export_parquet(store, args.parquet)
    if args.json:
        print(json.dumps([{"table": e.table, "path": str(e.path), "rows": e.rows} for e in done]))
    else:
        for e in done:
            print(f"{e.table:14} {e.rows:>9} rows  {e.path}")
    return 0


def _groups(text: str) -> Sequence[str]:
    groups = [g.strip() for g in text.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise JournalError(f"cannot group by {unknown}: choose from {','.join(GROUPS)}")
    return groups


def run_pnl(args: argparse.Namespace) -> int:
    groups = _groups(args.by)
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise JournalError(f"--since {args.since!r} is not an ISO date or time") from None
    with _open(args.journal) as store:
        rows = store.pnl(group_by=groups, since=since)
    if args.json:
        print(json.dumps([r.as_json() for r in rows]))
    else:
        print(render(rows, groups))
    return 0


def render(rows: Sequence[PnlRow], groups: Sequence[str]) -> str:
    """A plain table; amounts in the profit token's base units, exact."""
    keys = [g for g in GROUPS if g in groups]
    head = [*keys, "token", "trades", "incl", "revert", "missed", "paper", "realised", "gas",
            "net", "gas_wei"]  # fmt: skip
    body = [
        [*(str(_key(r, k)) for k in keys), r.token or "-", str(r.trades), str(r.included),
         str(r.reverted), str(r.missed), str(r.simulated), str(r.realised_profit),
         str(r.gas_cost), str(r.net_profit), str(r.gas_spent_wei)]
        for r in rows
    ]  # fmt: skip
    if not body:
        return "no trades in the journal"
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True))
                     for line in (head, *body))  # fmt: skip


def _key(row: PnlRow, group: str) -> object:
    value = {"strategy": row.strategy, "chain": row.chain_id, "day": row.day}[group]
    return "-" if value in (None, "") else value
