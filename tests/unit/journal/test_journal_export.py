"""Parquet export and the `tallyio journal` commands, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from journal_pg import Target

from tallyio.cli import main
from tallyio.journal import JournalStore, open_journal
from tallyio.journal.export import export_parquet
from tallyio.journal.schema import ALL_TABLES

HUGE = 2**255 + 7


def _fill(store: JournalStore) -> None:
    for n in range(5):
        store.record_opportunity(f"p{n}", block=n, strategy="arbitrage", chain_id=1,
                                 expected_profit=HUGE + n, touches=["0xa"])  # fmt: skip
    store.record_events(1, 9, "0x09", {"log": 3, "block": 1})
    store.record_simulation("p0", block=1, success=True, profit=HUGE, gas_used=100_000,
                            payload={"strategy": "arbitrage"})  # fmt: skip
    store.record_inclusion("p0", status="included", block=2, gas_used=90_000,
                           realised_profit=HUGE, payload={"gas_cost_wei": 10**15,
                                                          "gas_cost": 10**15})  # fmt: skip


def test_every_table_exports_with_exact_amounts(store: JournalStore, tmp_path: Path) -> None:
    _fill(store)
    done = export_parquet(store, tmp_path / "out", page=2)  # pages of 2: 5 rows in 3 pages
    assert [(e.table, e.rows) for e in done] == [
        (t, {"opportunities": 5, "simulations": 1, "inclusions": 1, "events": 1}.get(t, 0))
        for t in ALL_TABLES
    ]
    opps = pq.read_table(tmp_path / "out" / "opportunities.parquet")
    assert opps.schema.field("expected_profit").type == pa.string()
    assert opps.schema.field("block").type == pa.int64()
    assert opps.schema.field("recorded_at").type == pa.float64()
    assert [int(v) for v in opps.column("expected_profit").to_pylist()] == [
        HUGE + n for n in range(5)
    ]
    assert opps.column("id").to_pylist() == sorted(opps.column("id").to_pylist())
    assert opps.schema.metadata[b"tallyio.schema_version"] == str(store.version).encode()
    (event,) = pq.read_table(tmp_path / "out" / "events.parquet").to_pylist()
    assert json.loads(event["counts"]) == {"block": 1, "log": 3} and event["total"] == 4
    empty = pq.read_table(tmp_path / "out" / "decisions.parquet")
    assert empty.num_rows == 0 and "reason" in empty.column_names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{t}.parquet" for t in ALL_TABLES
    )  # no partial files left behind


def test_cli_export_and_pnl(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_journal(target.location) as store:
        _fill(store)
    out = tmp_path / "parquet"
    assert main(["journal", "export", "--journal", target.location, "--parquet", str(out),
                 "--json"]) == 0  # fmt: skip
    exported = {e["table"]: e["rows"] for e in json.loads(capsys.readouterr().out)}
    assert exported["opportunities"] == 5 and set(exported) == set(ALL_TABLES)
    assert main(["journal", "pnl", "--journal", target.location, "--by", "strategy,chain",
                 "--json"]) == 0  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["strategy"], row["chain_id"], row["day"], row["included"]) == (
        "arbitrage", 1, None, 1,
    )  # fmt: skip
    assert int(row["realised_profit"]) == HUGE and int(row["net_profit"]) == HUGE - 10**15
    assert main(["journal", "pnl", "--journal", target.location]) == 0
    table = capsys.readouterr().out
    assert "arbitrage" in table and str(HUGE) in table


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.db")
    assert main(["journal", "pnl", "--journal", missing]) == 1
    assert "no journal at" in capsys.readouterr().err
    assert not Path(missing).exists()  # reading never creates a journal
    with open_journal(tmp_path / "j.db"):
        pass
    assert main(["journal", "pnl", "--journal", str(tmp_path / "j.db"), "--by", "token"]) == 1
    assert "cannot group by ['token']" in capsys.readouterr().err
    assert main(["journal", "pnl", "--journal", str(tmp_path / "j.db"), "--since", "x"]) == 1
    assert "not an ISO date" in capsys.readouterr().err
    assert main(["journal", "pnl", "--journal", str(tmp_path / "j.db")]) == 0
    assert "no trades" in capsys.readouterr().out
