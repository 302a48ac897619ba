"""JournalView pages opportunities in SQL (the journal's own query) when no status is asked
for; those pages must be exactly what the whole-table read with a status filter gives."""

from __future__ import annotations

from tallyio.api.journal_view import JournalView
from tallyio.journal import JournalStore


def test_sql_pages_match_the_whole_table_reads(journal: JournalStore) -> None:
    view = JournalView(journal)
    everything = view.opportunities(limit=50)
    by_status = [o for s in ("found", "approved", "rejected")
                 for o in view.opportunities(limit=50, status=s)]  # fmt: skip
    by_status.sort(key=lambda o: (o["recorded_at"], o["id"]), reverse=True)
    assert everything == by_status and len(everything) == 3
    assert [view.opportunities(limit=1, offset=i)[0] for i in range(3)] == everything
    assert view.opportunities(limit=1, offset=3) == []
    arbitrage = view.opportunities(limit=50, strategy="arbitrage")
    assert arbitrage == [o for o in everything if o["strategy"] == "arbitrage"]
    since = everything[0]["recorded_at"]
    assert view.opportunities(limit=50, since=since) == [
        o for o in everything if o["recorded_at"] >= since
    ]
    assert {o["plan_id"]: o["status"] for o in everything} == {
        "arb-1": "approved", "liq-1": "approved", "arb-2": "rejected"}  # fmt: skip
    assert view.strategy_names() == {"arbitrage", "liquidation"}
