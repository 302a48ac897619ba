"""HeadFollower on a real anvil: gaps are filled, `anvil_reorg` is detected by parent hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tallyio.chain import ChainClient, ChainError, build_client
from tallyio.chain.reorg import HeadFollower, block_from_rpc
from tallyio.collectors.node import NodeCollector
from tallyio.core.events import Block, BlockEnd
from tallyio.devnet.node import AnvilNode, rpc_call, start_anvil, stop_pid

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_anvil(Path(tmp_path_factory.mktemp("reorg")))
    try:
        yield node
    finally:
        stop_pid(node.pid)


def _fetcher(node: AnvilNode):  # type: ignore[no-untyped-def]
    async def fetch(ref: str | int) -> Block:
        if isinstance(ref, int):
            raw = rpc_call(node.rpc_url, "eth_getBlockByNumber", [hex(ref), False])
        else:
            raw = rpc_call(node.rpc_url, "eth_getBlockByHash", [ref, False])
        assert isinstance(raw, dict)
        return block_from_rpc(node.chain_id, raw)

    return fetch


async def test_gap_then_reorg(anvil: AnvilNode) -> None:
    fetch = _fetcher(anvil)
    follower = HeadFollower(fetch)
    rpc_call(anvil.rpc_url, "anvil_mine", ["0x2"])
    start = block_from_rpc(
        anvil.chain_id, rpc_call(anvil.rpc_url, "eth_getBlockByNumber", ["latest", False])
    )  # type: ignore[arg-type]
    follower.seed(start)

    rpc_call(anvil.rpc_url, "anvil_mine", ["0x4"])  # we miss three heads
    head = await fetch(start.number + 4)
    reorg, blocks = await follower.advance(head)
    assert reorg is None
    assert [b.number for b in blocks] == list(range(start.number + 1, start.number + 5))

    old_hashes = [b.hash for b in blocks[-2:]]
    rpc_call(anvil.rpc_url, "anvil_reorg", [2, []])
    new_head = await fetch(head.number)
    assert new_head.hash != head.hash
    reorg, blocks = await follower.advance(new_head)
    assert reorg is not None
    assert reorg.common_ancestor == head.number - 2
    assert list(reorg.dropped) == old_hashes
    assert [b.number for b in blocks] == [head.number - 1, head.number]
    assert await follower.advance(new_head) == (None, [])


# -- NodeCollector: the same follower with each block's logs -----------------------------------
async def _collector(anvil: AnvilNode) -> tuple[NodeCollector, ChainClient]:
    client = build_client(anvil.rpc_url)
    latest = await client.request("eth_getBlockByNumber", ["latest", False])
    return NodeCollector(
        client, anvil.chain_id, start=block_from_rpc(anvil.chain_id, latest)
    ), client


async def test_collector_brackets_each_block_and_marks_the_head(anvil: AnvilNode) -> None:
    collector, client = await _collector(anvil)
    try:
        rpc_call(anvil.rpc_url, "anvil_mine", ["0x3"])
        events = await collector.step()
        ends = [e for e in events if isinstance(e, BlockEnd)]
        assert [type(e) for e in events] == [Block, BlockEnd] * 3  # empty blocks: no logs
        assert [e.head for e in ends] == [False, False, True]
        assert await collector.step() == []
    finally:
        await client.close()


async def test_collector_drops_an_adopted_block_the_node_replaced(anvil: AnvilNode) -> None:
    """A block adopted, then replaced before its logs are read: no events from it, the next
    step follows the chain that won (a Reorg back to the parent, then the new block)."""
    collector, client = await _collector(anvil)
    try:
        rpc_call(anvil.rpc_url, "anvil_mine", ["0x1"])
        head = await collector.fetch(int(await client.request("eth_blockNumber"), 16))
        collector._pending = await collector.follower.advance(head)  # adopted, logs not read
        rpc_call(anvil.rpc_url, "anvil_reorg", [1, []])  # the node replaces it
        try:
            events = await collector.step()
        except ChainError:
            events = await collector.step()  # the collector's loop retries after an error
        blocks = [e for e in events if isinstance(e, Block)]
        assert head.hash not in {b.hash for b in blocks}
        assert blocks and blocks[-1].number == head.number
    finally:
        await client.close()
