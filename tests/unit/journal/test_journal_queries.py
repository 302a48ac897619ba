"""PnL and the API's paged listings, on both backends, from rows written the way the executors
write them (pipeline.py: a simulation whose payload names the strategy; an inclusion whose
payload carries gas_cost_wei, gas_cost and net_profit; a paper run's "simulated" submission)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from journal_pg import T0

from tallyio.core.clock import FixedClock
from tallyio.journal import JournalStore, PnlRow

DAY = 86_400
WETH, USDC = "0x" + "ee" * 20, "0x" + "cc" * 20
HUGE = 3 * 2**64  # past SQLite's INTEGER: must come back exact


def _plan(
    store: JournalStore, plan: str, strategy: str | None, chain: int | None, token: str | None,
    end: str, realised: int | None = None, gas_cost: int = 0, gas_wei: int = 0,
    gas_used: int | None = None,
) -> None:  # fmt: skip
    if strategy is not None and chain is not None:
        store.record_opportunity(plan, block=100, strategy=strategy, kind="arbitrage",
                                 chain_id=chain, profit_token=token, expected_profit=1)  # fmt: skip
    sim = {"strategy": strategy or "arbitrage", "mode": "public"}
    store.record_simulation(plan, block=100, success=True, profit=realised, gas_used=gas_used,
                            payload=sim)  # fmt: skip
    if end == "simulated":
        store.record_submission(plan, mode="paper", status="simulated", target_block=101,
                                payload={"net_profit": 5})  # fmt: skip
        return
    payload = {"mode": "public", "gas_cost_wei": gas_wei, "gas_cost": gas_cost,
               "net_profit": (realised or 0) - gas_cost}  # fmt: skip
    store.record_inclusion(plan, status=end, tx_hash="0x" + plan.encode().hex(), block=101,
                           gas_used=gas_used, realised_profit=realised,
                           payload=payload)  # fmt: skip


@pytest.fixture
def book(store: JournalStore, clock: FixedClock) -> JournalStore:
    """Two UTC days of trades: arbitrage on chain 1 in WETH, a liquidation on chain 8453 in
    USDC, a plan whose opportunity was never journaled, and a paper run; a minute apart."""
    _plan(store, "a", "arbitrage", 1, WETH, "included", HUGE, 2 * 10**15, 2 * 10**15, 200_000)
    clock.advance(60)
    _plan(store, "b", "arbitrage", 1, WETH, "reverted", 0, 10**15, 10**15, 150_000)
    clock.advance(60)
    _plan(store, "c", "liquidation", 8453, USDC, "included", 5_000_000, 30_000, 10**13, 400_000)
    clock.advance(60)
    _plan(store, "d", None, None, None, "not_included")
    clock.advance(60)
    _plan(store, "e", "arbitrage", 1, WETH, "simulated")
    clock.advance(DAY)
    _plan(store, "f", "arbitrage", 1, WETH, "included", 10**18, 10**16, 10**16, 210_000)
    return store


def test_pnl_per_strategy_chain_and_day_is_exact(book: JournalStore) -> None:
    day1 = datetime.fromtimestamp(T0, UTC).date().isoformat()
    day2 = datetime.fromtimestamp(T0 + DAY, UTC).date().isoformat()
    rows = book.pnl()
    assert [(r.strategy, r.chain_id, r.day, r.token) for r in rows] == [
        ("arbitrage", None, day1, None),
        ("arbitrage", 1, day1, WETH),
        ("arbitrage", 1, day2, WETH),
        ("liquidation", 8453, day1, USDC),
    ]
    missed, arb1, arb2, liq = rows
    assert (missed.trades, missed.missed, missed.realised_profit, missed.gas_spent_wei) == (
        1, 1, 0, 0,
    )  # fmt: skip
    assert arb1 == PnlRow("arbitrage", 1, day1, WETH, trades=3, included=1, reverted=1,
                          missed=0, simulated=1, realised_profit=HUGE, gas_cost=3 * 10**15,
                          net_profit=HUGE - 3 * 10**15, gas_used=350_000,
                          gas_spent_wei=3 * 10**15)  # fmt: skip
    assert (arb2.realised_profit, arb2.net_profit) == (10**18, 10**18 - 10**16)
    assert (liq.included, liq.net_profit, liq.gas_spent_wei) == (1, 4_970_000, 10**13)
    assert arb1.as_json()["realised_profit"] == str(HUGE) and arb1.as_json()["trades"] == 3


def test_pnl_groups_as_asked_and_never_mixes_tokens(book: JournalStore) -> None:
    by_strategy = book.pnl(group_by=("strategy",))
    assert [(r.strategy, r.token, r.trades, r.day, r.chain_id) for r in by_strategy] == [
        ("arbitrage", None, 1, None, None),
        ("arbitrage", WETH, 4, None, None),
        ("liquidation", USDC, 1, None, None),
    ]
    assert by_strategy[1].realised_profit == HUGE + 10**18
    everything = book.pnl(group_by=())
    assert sum(r.trades for r in everything) == 6 and len(everything) == 3
    assert sum(r.gas_spent_wei for r in everything) == 3 * 10**15 + 10**13 + 10**16
    with pytest.raises(ValueError, match="cannot group"):
        book.pnl(group_by=("token",))


def test_pnl_since_a_time(book: JournalStore) -> None:
    (later,) = book.pnl(since=T0 + DAY)  # plan f, a day and 4 minutes after a
    assert (later.trades, later.realised_profit) == (1, 10**18)
    aware = datetime.fromtimestamp(T0 + DAY, UTC)
    assert book.pnl(since=aware) == [later]
    assert book.pnl(since=aware.replace(tzinfo=None)) == [later]  # naive means UTC
    assert book.pnl(since=T0 + 2 * DAY) == []


def test_trades_newest_first_paged_and_filtered(book: JournalStore) -> None:
    every = book.trades(limit=100)
    assert [t["plan_id"] for t in every] == ["f", "e", "d", "c", "b", "a"]
    assert [t["plan_id"] for t in book.trades(limit=2, offset=1)] == ["e", "d"]
    f, e, d = every[:3]
    assert (f["strategy"], f["chain_id"], f["mode"], f["realised_profit"]) == (
        "arbitrage", 1, "public", 10**18,
    )  # fmt: skip
    assert (f["gas_cost_wei"], f["net_profit"], f["profit_token"]) == (10**16, 10**18 - 10**16,
                                                                       WETH)  # fmt: skip
    assert (e["source"], e["status"], e["mode"], e["block"], e["net_profit"]) == (
        "submissions", "simulated", "paper", 101, 5,
    )  # fmt: skip
    assert (d["strategy"], d["chain_id"]) == ("arbitrage", None)  # from its simulation
    assert every[-1]["realised_profit"] == HUGE
    assert [t["plan_id"] for t in book.trades(strategy="liquidation")] == ["c"]
    assert [t["plan_id"] for t in book.trades(status="included")] == ["f", "c", "a"]
    assert [t["plan_id"] for t in book.trades(strategy="arbitrage", status="reverted")] == ["b"]
    assert book.trades(strategy="backrun") == []
    with pytest.raises(ValueError, match="bad page"):
        book.trades(limit=0)


def test_opportunities_newest_first_paged_and_filtered(book: JournalStore) -> None:
    assert [o["plan_id"] for o in book.opportunities()] == ["f", "e", "c", "b", "a"]
    assert [o["plan_id"] for o in book.opportunities(2, 2)] == ["c", "b"]
    assert [o["plan_id"] for o in book.opportunities(strategy="liquidation")] == ["c"]
    assert [o["plan_id"] for o in book.opportunities(since=T0 + 1)] == ["f", "e", "c", "b"]
    assert [o["plan_id"] for o in book.opportunities(since=T0 + DAY)] == ["f"]
    (c,) = book.opportunities(strategy="liquidation", since=datetime.fromtimestamp(T0, UTC))
    assert (c["chain_id"], c["profit_token"], c["expected_profit"]) == (8453, USDC, 1)
    with pytest.raises(ValueError, match="bad page"):
        book.opportunities(offset=-1)
