"""The engine's idle step and the head it hands to submit (no node: an empty market)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

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
