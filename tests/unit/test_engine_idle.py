"""The engine's idle step and the head it hands to submit (no node: an empty market)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from risk.risk_helpers import opportunity, rig  # tests/unit/risk

from tallyio.core.engine import Engine
from tallyio.core.events import Block, BlockEnd
from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.state.store import Delta, MarketState, StateView

HEAD = Block(1, 7, "0x" + "07" * 32, "0x" + "06" * 32, 1_000, 10**9, 15_000_000, 30_000_000)


class Preparing:
    """A strategy with the optional idle step: records what it was given."""

    name = "preparing"

    def __init__(self) -> None:
        self.prepared: list[BlockContext] = []

    def sync(self, view: StateView) -> None:
        pass

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        assert not self.prepared, "the idle step comes after the block was acted on"
        return []

    def prepare(self, view: StateView, block: BlockContext) -> None:
        self.prepared.append(block)


class Plain:
    """A strategy without the idle step."""

    name = "plain"

    def sync(self, view: StateView) -> None:
        pass

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return []


def _engine(strategies: list[Any]) -> Engine:
    async def submit(group: Sequence[Opportunity], block: BlockContext) -> list[Any]:
        return []

    def context(block: Block, view: StateView) -> BlockContext:
        return BlockContext(block.chain_id, block.number, block.timestamp, block.base_fee or 0)

    return Engine(MarketState({}, {}, block=6), strategies, submit, context)


def test_idle_step_runs_after_the_block_with_its_head() -> None:
    strategy = Preparing()
    engine = _engine([strategy, Plain()])

    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        await engine.drain()

    asyncio.run(run())
    assert [b.block for b in strategy.prepared] == [7]
    assert strategy.prepared[0].head == HEAD  # what the executor prices fees from


def test_a_failing_idle_step_does_not_stop_the_engine() -> None:
    class Broken(Preparing):
        def prepare(self, view: StateView, block: BlockContext) -> None:
            raise RuntimeError("boom")

    engine = _engine([Broken()])

    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        await engine.drain()

    asyncio.run(run())
    assert engine.stats.blocks == 1


class Finding:
    """A strategy that finds one opportunity on every block (the risk gate's test one)."""

    name = "liquidation"

    def sync(self, view: StateView) -> None:
        pass

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return [opportunity()]


def test_a_stale_head_trips_the_breaker_through_the_engine(tmp_path: Any) -> None:
    """The node's heads fall 10 block times behind the clock (max lag 3): the engine tells the
    real risk gate, the breaker trips for everything and holds, nothing is sent. The first
    head's age is the node's clock skew, not lag."""
    r = rig(tmp_path)
    sent: list[Any] = []

    async def submit(group: Sequence[Opportunity], block: BlockContext) -> list[Any]:
        sent.extend(group)
        return [None] * len(group)

    def context(block: Block, view: StateView) -> BlockContext:
        return BlockContext(block.chain_id, block.number, block.timestamp, 10**9)

    first = Block(1, 7, HEAD.hash, HEAD.parent_hash, int(r.clock.now()) - 30, 10**9)
    stale = Block(1, 8, "0x" + "08" * 32, HEAD.hash, first.timestamp + 12, 10**9)
    engine = Engine(MarketState({}, {}, block=6), [Finding()], submit, context, gate=r.gate,
                    clock=r.clock, block_time=12.0)  # fmt: skip

    async def run() -> None:
        await engine.handle(first)  # 30 s old at start: skew, not lag
        await engine.handle(BlockEnd(1, 7, first.hash))
        await engine.drain()
        assert engine.head_lag == 0 and len(sent) == 1
        r.clock.advance(132)  # eleven block times pass; the node brings one block
        await engine.handle(stale)
        await engine.handle(BlockEnd(1, 8, stale.hash))
        await engine.drain()

    asyncio.run(run())
    assert engine.head_lag == 10
    assert len(sent) == 1 and engine.stats.rejected == {"breaker_open": 1}
    trip = r.gate.breaker.open_trip("liquidation")
    assert trip is not None and trip.reason == "head_lag"


class Stepping:
    """A strategy whose idle work comes as steps (as the liquidation strategies' sale searches
    do): records the blocks and steps it ran."""

    name = "stepping"

    def __init__(self, steps: int) -> None:
        self.steps, self.ran = steps, list[tuple[int, int]]()

    def sync(self, view: StateView) -> None:
        pass

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return []

    def prepare(self, view: StateView, block: BlockContext) -> Any:
        for i in range(self.steps):
            self.ran.append((block.block, i))
            yield


def test_idle_steps_yield_to_a_new_block_which_ends_them() -> None:
    """A block arriving during idle work waits for one step, not for all of it; the old
    block's idle work stops there and the new block's runs to the end."""
    strategy = Stepping(50)
    engine = _engine([strategy])
    nxt = Block(1, 8, "0x" + "08" * 32, HEAD.hash, 1_012, 10**9, 15_000_000, 30_000_000)

    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        for _ in range(5):
            await asyncio.sleep(0)
        await engine.handle(nxt)  # the loop got here while block 7's idle work was running
        await engine.handle(BlockEnd(1, 8, nxt.hash))
        await engine.drain()

    asyncio.run(run())
    seven = [i for b, i in strategy.ran if b == 7]
    eight = [i for b, i in strategy.ran if b == 8]
    assert 0 < len(seven) < 10  # started, then ended by block 8 well before its 50 steps
    assert eight == list(range(50))


def test_engine_prepare_runs_every_step() -> None:
    strategy = Stepping(7)
    engine = _engine([strategy, Plain()])

    async def run() -> None:
        await engine.handle(HEAD)
        engine.block = engine.context(HEAD, engine.state.view)
        engine.prepare()

    asyncio.run(run())
    assert strategy.ran == [(7, i) for i in range(7)]


def test_a_failing_idle_step_ends_only_that_strategy_s_idle_work() -> None:
    class Failing(Stepping):
        name = "failing"

        def prepare(self, view: StateView, block: BlockContext) -> Any:
            yield
            raise RuntimeError("boom")

    good = Stepping(3)
    engine = _engine([Failing(1), good])

    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        await engine.drain()

    asyncio.run(run())
    assert good.ran == [(7, 0), (7, 1), (7, 2)]


def test_idle_steps_run_and_are_timed_with_the_engine_s_real_metrics() -> None:
    """The idle stage is one the metrics know: with EngineMetrics plugged in (as every live
    run has), the idle work runs instead of failing on an unknown stage name."""
    from prometheus_client import CollectorRegistry

    from tallyio.metrics import EngineMetrics

    reg = CollectorRegistry()
    strategy = Stepping(4)
    engine = _engine([strategy])
    engine.metrics = EngineMetrics(reg)

    async def run() -> None:
        await engine.handle(HEAD)
        await engine.handle(BlockEnd(1, 7, HEAD.hash))
        await engine.drain()

    asyncio.run(run())
    assert strategy.ran == [(7, i) for i in range(4)]
    count = reg.get_sample_value("tallyio_stage_seconds_count", {"stage": "idle"})
    assert count is not None and count >= 4
