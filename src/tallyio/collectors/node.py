"""`NodeCollector`: a node's canonical head, block by block, with its logs.

It polls the head (cheap on a local node; a WebSocket `newHeads` only wakes the same loop
sooner), follows it by parent hash (`HeadFollower`: anvil sends no `removed` logs), and for each
new canonical block yields the Block, its logs (eth_getLogs by block hash, so a reorged block's
logs never mix in) and a BlockEnd. A reorg yields a Reorg first. A dropped connection or a bad
answer is logged and retried with backoff; the stream resumes where it was, gaps filled.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from tallyio.chain.errors import ChainError
from tallyio.chain.reorg import HeadFollower, block_from_rpc
from tallyio.chain.rpc import RpcClient
from tallyio.collectors.polling import poll
from tallyio.core.events import Block, BlockEnd, Event, Log, Reorg

log = logging.getLogger(__name__)


def log_from_rpc(chain_id: int, raw: dict[str, Any]) -> Log:
    return Log(
        chain_id, int(raw["blockNumber"], 16), raw["blockHash"], raw["transactionHash"],
        int(raw["logIndex"], 16), raw["address"], tuple(raw["topics"]), raw["data"],
    )  # fmt: skip


class NodeCollector:
    def __init__(
        self, client: RpcClient, chain_id: int, *, start: Block | None = None,
        poll_interval: float = 0.05, max_backoff: float = 5.0,
        addresses: Iterable[str] | None = None,
    ) -> None:  # fmt: skip
        self.client, self.chain_id = client, chain_id
        self.poll_interval, self.max_backoff = poll_interval, max_backoff
        self.follower = HeadFollower(self.fetch)
        if start is not None:
            self.follower.seed(start)
        self.addresses = sorted({a.lower() for a in addresses}) if addresses else None
        self.errors = 0
        self._pending: tuple[Reorg | None, list[Block]] | None = None  # adopted, not yet sent

    async def fetch(self, ref: str | int) -> Block:
        if isinstance(ref, int):
            raw = await self.client.request("eth_getBlockByNumber", [hex(ref), False])
        else:
            raw = await self.client.request("eth_getBlockByHash", [ref, False])
        if raw is None:
            raise ChainError(f"the node has no block {ref}")
        return block_from_rpc(self.chain_id, raw)

    async def _logs(self, block: Block) -> list[Log]:
        query: dict[str, Any] = {"blockHash": block.hash}
        if self.addresses:
            query["address"] = self.addresses
        raw = await self.client.request("eth_getLogs", [query])
        return sorted((log_from_rpc(self.chain_id, r) for r in raw), key=lambda e: e.log_index)

    async def step(self) -> list[Event]:
        """The events since the last call (empty when the head has not moved). Blocks the
        follower adopted are kept until their logs are read, so a failure loses none."""
        if self._pending is None:
            head = await self.fetch(int(await self.client.request("eth_blockNumber"), 16))
            self._pending = await self.follower.advance(head)
        reorg, blocks = self._pending
        out: list[Event] = [reorg] if reorg is not None else []
        for i, block in enumerate(blocks):
            try:
                logs = await self._logs(block)
            except ChainError:
                await self._forget_if_gone(block)
                raise
            end = BlockEnd(self.chain_id, block.number, block.hash, head=i == len(blocks) - 1)
            out += [block, *logs, end]
        self._pending = None
        return out

    async def _forget_if_gone(self, block: Block) -> None:
        """A block adopted a moment ago that the node no longer has (replaced before we read its
        logs): forget it and everything after, so the next step follows the chain that won."""
        if await self.client.request("eth_getBlockByHash", [block.hash, False]) is None:
            self.follower.drop_from(block.number)
            self._pending = None

    async def events(self) -> AsyncIterator[Event]:
        """Forever; a ReorgTooDeepError propagates (state must be reloaded: the engine's call)."""
        async for event in poll(self, self.step, "collector", rest_after_batch=False):
            yield event
