"""HeadFollower on a real anvil: gaps are filled, `anvil_reorg` is detected by parent hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tallyio.chain.reorg import HeadFollower, block_from_rpc
from tallyio.core.events import Block
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
