"""The engine's arming (idle: contingencies simulated ahead, handed back) and its early pass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from risk.risk_helpers import opportunity  # tests/unit/risk

from tallyio.core.engine import ARM_FAILURES, Engine
from tallyio.core.events import Block, BlockEnd
from tallyio.core.opportunity import BlockContext, Contingent, Opportunity
from tallyio.state.store import Delta, MarketState, StateView

HEAD = Block(1, 7, "0x" + "07" * 32, "0x" + "06" * 32, 1_000, 10**9, 15_000_000, 30_000_000)
FEED = "0x" + "fe" * 20


class Arming:
    """A strategy with contingencies and an early pass: records what the engine gave it."""

    name = "liquidation"

    def __init__(self, contingencies: int = 2) -> None:
        self.count, self.armed, self.calls = contingencies, list[tuple[Contingent, Any]](), []

    def sync(self, view: StateView) -> None:
        pass

    def contingencies(self, view: StateView, block: BlockContext) -> Iterator[Contingent]:
        for i in range(self.count):
            yield Contingent(opportunity(expected_profit=10**15 + i), FEED, 1_900 + i, 8)

    def arm(self, contingent: Contingent, outcome: Any) -> bool:
        self.armed.append((contingent, outcome))
        return True

    def early(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        self.calls.append("early")
        return [opportunity(expected_profit=7)]

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        self.calls.append("process")
        return [opportunity(expected_profit=8, loan_amount=2 * 10**18)]


def _engine(strategy: Arming, presimulate: Any, sent: list[Any]) -> Engine:
    async def submit(group: Sequence[Opportunity], block: BlockContext) -> list[Any]:
        sent.append(("submit", [o.expected_profit for o in group]))
        return [None] * len(group)

    def context(block: Block, view: StateView) -> BlockContext:
        return BlockContext(block.chain_id, block.number, block.timestamp, block.base_fee or 0)

    return Engine(MarketState({}, {}, block=6), [strategy], submit, context,
                  presimulate=presimulate)  # fmt: skip


def _one_block(engine: Engine) -> None:
    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        await engine.drain()

    asyncio.run(run())


def test_idle_simulates_each_contingency_ahead_and_hands_it_back() -> None:
    strategy, asked = Arming(3), list[tuple[int, int]]()

    async def presimulate(c: Contingent, block: BlockContext) -> str:
        asked.append((c.answer, block.block))
        return f"outcome {c.answer}"

    _one_block(_engine(strategy, presimulate, []))
    assert asked == [(1_900, 7), (1_901, 7), (1_902, 7)]
    assert [(c.answer, o) for c, o in strategy.armed] == [(1_900, "outcome 1900"),
                                                         (1_901, "outcome 1901"),
                                                         (1_902, "outcome 1902")]  # fmt: skip


def test_the_early_pass_is_submitted_before_the_full_pass_runs() -> None:
    strategy, sent = Arming(0), list[Any]()
    real_process = strategy.process

    def process(*a: Any) -> list[Opportunity]:
        sent.append("process")
        return real_process(*a)

    strategy.process = process  # type: ignore[method-assign]
    _one_block(_engine(strategy, None, sent))
    assert strategy.calls == ["early", "process"]
    assert sent[:2] == [("submit", [7]), "process"]  # the early one went out first


def test_failing_pre_simulations_switch_arming_off_and_the_engine_goes_on() -> None:
    strategy, tries = Arming(5), list[int]()

    async def presimulate(c: Contingent, block: BlockContext) -> Any:
        tries.append(c.answer)
        raise RuntimeError("eth_simulateV1: state overrides not supported")

    engine = _engine(strategy, presimulate, [])
    for n in range(ARM_FAILURES + 1):
        block = Block(1, 7 + n, f"0x{7 + n:064x}", f"0x{6 + n:064x}", 1_000 + n, 10**9)

        async def run(b: Block = block) -> None:
            await engine.handle(b)
            await engine.handle(BlockEnd(1, b.number, b.hash))
            await engine.drain()

        asyncio.run(run())
    assert len(tries) == ARM_FAILURES  # one try a block (the rest of that block's skipped)
    assert engine.presimulate is None and strategy.armed == []
    assert engine.stats.blocks == ARM_FAILURES + 1
