"""The early pass (ArbitrageStrategy.early): on a pool's move it gives the best plan `process`
would give (the same plan, the same profit), and `process` on the same deltas then gives neither
that plan nor one sharing a key with it, and the rest as it would have without the early pass."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_arbitrage_bound import BLOCK, market, strategy

from tallyio.core.opportunity import Opportunity
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.pools import pool_key
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage import ArbitrageStrategy

SEEDS = range(8)


def moves(seed: int) -> list[list[Delta]]:
    """Each V2 pool of the market with its second reserve 2% up, one at a time."""
    out = []
    for key, pool in market(seed).items():
        if isinstance(pool, V2Pool):
            after = replace(pool, reserve1=pool.reserve1 * 102 // 100)
            out.append([Delta(BLOCK.block, key, pool, after)])
    return out


def built(seed: int) -> tuple[ArbitrageStrategy, StateView]:
    entries = market(seed)
    return strategy(seed, max_candidates=64), StateView(entries)


def same(a: Opportunity, b: Opportunity) -> bool:
    return (a.plan, a.expected_profit, a.touches) == (b.plan, b.expected_profit, b.touches)


def early_then_process(
    seed: int, deltas: list[Delta]
) -> tuple[list[Opportunity], list[Opportunity]]:
    s, view = built(seed)
    return s.early(deltas, view, BLOCK), s.process(deltas, view, BLOCK)


@pytest.mark.parametrize("seed", SEEDS)
def test_early_gives_the_best_plan_process_would(seed: int) -> None:
    moved = 0
    for deltas in moves(seed):
        s, view = built(seed)
        alone = s.process(deltas, view, BLOCK)
        early, after = early_then_process(seed, deltas)
        if not alone:
            assert early == [] and after == []
            continue
        moved += 1
        assert len(early) == 1 and same(early[0], alone[0]), (deltas, early, alone[0])
        assert not any(same(o, early[0]) for o in after)
        assert all(o.touches.isdisjoint(early[0].touches) for o in after)
        # nothing clear of the early plan that `process` alone gave is lost
        kept = [o for o in alone if o.touches.isdisjoint(early[0].touches)]
        assert all(any(same(o, a) for a in after) for o in kept)
    assert moved >= 3, "the moves leave something to take"


def test_process_after_early_does_not_follow_the_deltas_twice() -> None:
    deltas = moves(1)[0]
    s, view = built(1)
    s.early(deltas, view, BLOCK)
    version, pools = s.graph.version, dict(s.graph.pools)
    updates: list[object] = []
    follow = s.graph.update

    def update(d: list[Delta]) -> set[str]:
        updates.append(d)
        return follow(d)

    s.graph.update = update  # type: ignore[method-assign,assignment]
    s.process(deltas, view, BLOCK)
    assert updates == [] and s.graph.version == version and s.graph.pools == pools


def test_process_on_other_deltas_does_not_use_the_early_search() -> None:
    first, second = moves(2)[:2]
    s, view = built(2)
    early = s.early(first, view, BLOCK)
    got = s.process(second, view, BLOCK)  # the early search was for `first`: not used
    fresh, _ = built(2)
    fresh.graph.update(first)
    fresh.index.refresh({str(d.key[1]) for d in first})  # type: ignore[index]
    want = fresh.process(second, view, BLOCK)
    assert [o.plan for o in got] == [o.plan for o in want]
    assert early  # the first move paid: `got` was a real test of the fallback


def test_no_change_no_early_plan() -> None:
    s, view = built(3)
    assert s.early([], view, BLOCK) == [] and s.process([], view, BLOCK) == []
    unrelated = [Delta(BLOCK.block, pool_key("0x" + "7" * 40), None, None)]
    assert s.early(unrelated, view, BLOCK) == [] and s.process(unrelated, view, BLOCK) == []
