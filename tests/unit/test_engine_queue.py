"""The engine's queue and conflict rules (core/queue.py): pure, so tested directly."""

from __future__ import annotations

from tallyio.core.opportunity import Kind, Opportunity
from tallyio.core.plan import Plan, UniswapV2Swap
from tallyio.core.queue import OpportunityQueue, conflict_groups, plan_key

A, B, C, D = (f"0x{i:040x}" for i in range(1, 5))
TOKEN = f"0x{99:040x}"


def _opp(kind: Kind, profit: int, touches: set[str], block: int = 7) -> Opportunity:
    plan = Plan((UniswapV2Swap(A, TOKEN, B, 1),), TOKEN, 0)
    return Opportunity("s", kind, 1, block, plan, profit, 100_000, 10**18, frozenset(touches))


def test_queue_serves_kind_first_then_profit_in_wei_then_arrival() -> None:
    q = OpportunityQueue()
    arb_small, arb_big = _opp(Kind.ARBITRAGE, 5, {A}), _opp(Kind.ARBITRAGE, 9, {B})
    liq = _opp(Kind.LIQUIDATION, 1, {C})
    first_tie, second_tie = _opp(Kind.BACKRUN, 3, {A}), _opp(Kind.BACKRUN, 3, {D})
    for o in (arb_small, first_tie, arb_big, liq, second_tie):
        q.push(o)
    assert [q.pop() for _ in range(len(q))] == [liq, arb_big, arb_small, first_tie, second_tie]


def test_conflict_groups_join_transitively_and_keep_order() -> None:
    x, y, z, w = (_opp(Kind.ARBITRAGE, p, t) for p, t in
                  ((4, {A}), (3, {B}), (2, {A, C}), (1, {C, B})))  # fmt: skip
    lone = _opp(Kind.LIQUIDATION, 1, {D})
    assert conflict_groups([x, lone, y, z, w]) == [[x, y, z, w], [lone]]
    assert conflict_groups([x, lone]) == [[x], [lone]]


def test_plan_key_is_stable_and_tells_blocks_apart() -> None:
    assert plan_key(_opp(Kind.ARBITRAGE, 1, {A})) == plan_key(_opp(Kind.ARBITRAGE, 1, {A}))
    assert plan_key(_opp(Kind.ARBITRAGE, 1, {A}, 7)) != plan_key(_opp(Kind.ARBITRAGE, 1, {A}, 8))
