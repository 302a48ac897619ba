"""Follow the canonical head by hash: fill gaps, detect reorgs by parent hash.

anvil (and some nodes) send no `removed: true` logs on a reorg, so the parent hash is the only
reliable signal. `HeadFollower.advance(head)` returns the Reorg (if any) and the canonical blocks
to apply, oldest first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tallyio.core.events import Block, Reorg

FetchBlock = Callable[[str | int], Awaitable[Block]]  # by hash (str) or number (int)


class ReorgTooDeepError(RuntimeError):
    """The fork point is older than the blocks remembered: reload state from a snapshot."""


def block_from_rpc(chain_id: int, raw: dict[str, Any]) -> Block:
    base_fee = raw.get("baseFeePerGas")
    return Block(
        chain_id=chain_id,
        number=int(raw["number"], 16),
        hash=raw["hash"],
        parent_hash=raw["parentHash"],
        timestamp=int(raw["timestamp"], 16),
        base_fee=int(base_fee, 16) if base_fee is not None else None,
        gas_used=int(raw["gasUsed"], 16) if "gasUsed" in raw else None,
        gas_limit=int(raw["gasLimit"], 16) if "gasLimit" in raw else None,
        extra_data=str(raw.get("extraData") or "0x"),
        blob_gas_used=int(raw.get("blobGasUsed") or "0x0", 16),
        miner=raw.get("miner"),
        mix_hash=raw.get("mixHash"),
    )


def rpc_header(block: Block) -> dict[str, Any] | None:
    """The header fields the execution pipeline prices fees and simulates from, as
    eth_getBlockByNumber gives them; None when the collector did not carry them. "miner" and
    "mixHash" only when the block has them: a simulator given a header without them asks the
    node for the whole one (sim/block.py `complete_header`)."""
    if block.gas_used is None or block.gas_limit is None or block.base_fee is None:
        return None
    header: dict[str, Any] = {
        "number": hex(block.number),
        "hash": block.hash,
        "timestamp": hex(block.timestamp),
        "gasUsed": hex(block.gas_used),
        "gasLimit": hex(block.gas_limit),
        "baseFeePerGas": hex(block.base_fee),
        "extraData": block.extra_data,
        "blobGasUsed": hex(block.blob_gas_used),
    }
    if block.miner is not None:
        header["miner"] = block.miner
    if block.mix_hash is not None:
        header["mixHash"] = block.mix_hash
    return header


class HeadFollower:
    def __init__(self, fetch: FetchBlock, depth: int = 128) -> None:
        self._fetch = fetch
        self._depth = depth
        self._hashes: dict[int, str] = {}

    @property
    def head(self) -> int | None:
        return max(self._hashes) if self._hashes else None

    def seed(self, block: Block) -> None:
        """Start following from a block already reflected in state (e.g. the snapshot block)."""
        self._hashes = {block.number: block.hash}

    def drop_from(self, number: int) -> None:
        """Forget blocks from `number` up (adopted but never delivered: gone before use)."""
        for n in [n for n in self._hashes if n >= number]:
            del self._hashes[n]

    async def advance(self, head: Block) -> tuple[Reorg | None, list[Block]]:
        if not self._hashes:
            self.seed(head)
            return None, [head]
        if self._hashes.get(head.number) == head.hash:
            return None, []  # seen already
        branch = [head]
        while True:
            tip = branch[-1]
            known = self._hashes.get(tip.number - 1)
            if known == tip.parent_hash:
                break
            if tip.number - 1 < min(self._hashes):
                raise ReorgTooDeepError(
                    f"no common ancestor within {self._depth} blocks of {head.number}"
                )
            if known is None and tip.number - 1 > max(self._hashes):
                branch.append(await self._fetch(tip.number - 1))  # a gap: fetch by number
            else:
                branch.append(await self._fetch(tip.parent_hash))  # a fork: walk back by hash
        return self._adopt(branch[::-1])

    def _adopt(self, blocks: list[Block]) -> tuple[Reorg | None, list[Block]]:
        ancestor = blocks[0].number - 1
        dropped = tuple(self._hashes[n] for n in sorted(self._hashes) if n > ancestor)
        reorg = Reorg(blocks[0].chain_id, ancestor, dropped) if dropped else None
        for n in [n for n in self._hashes if n > ancestor]:
            del self._hashes[n]
        for b in blocks:
            self._hashes[b.number] = b.hash
        for n in [n for n in self._hashes if n <= blocks[-1].number - self._depth]:
            del self._hashes[n]
        return reorg, blocks
