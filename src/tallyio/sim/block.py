"""The block a simulation runs in: parent + 1, built from the parent's header.

Both simulators (the pyrevm fork and the node's eth_simulateV1) run a plan as the next block
would: its number, time, coinbase (the parent's miner unless one is given), PREVRANDAO (the
parent's mixHash) and base fee (EIP-1559 over the parent's gas). The header comes from the node
(eth_getBlockByNumber) or from the engine's head (chain/reorg.py `rpc_header`); a header that
lacks a field the next block needs is never guessed from: `complete_header` tells the callers
to ask the node instead, and `NextBlock.after` refuses it with a SimulationError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tallyio.sim.outcome import SimulationError

# what a fork is opened from: the block (number, hash) and the next block's env
HEADER_FIELDS = ("number", "hash", "timestamp", "gasUsed", "gasLimit", "miner", "mixHash")
_NEEDED = ("number", "timestamp", "gasUsed", "gasLimit")  # NextBlock.after, besides the miner
_NO_RANDAO = "0x" + "00" * 32


def next_base_fee(base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559: the next block's base fee from its parent's (elasticity 2, max change 1/8)."""
    target = gas_limit // 2
    if target == 0 or gas_used == target:
        return base_fee
    if gas_used > target:
        return base_fee + max(base_fee * (gas_used - target) // target // 8, 1)
    return base_fee - base_fee * (target - gas_used) // target // 8


def complete_header(
    header: Mapping[str, Any] | None, number: int, block_hash: str | None = None
) -> bool:
    """Whether `header` is block `number`'s (and `block_hash`'s, when given) with every field
    a fork of it needs, so a simulator may open the fork from it without asking the node.
    A header without "mixHash" is not: the next block's PREVRANDAO would be a guess."""
    if header is None or any(header.get(f) is None for f in HEADER_FIELDS):
        return False
    if int(header["number"], 16) != number:
        return False
    return block_hash is None or str(header["hash"]).lower() == block_hash.lower()


@dataclass(frozen=True, slots=True)
class NextBlock:
    """The block a transaction sent now would land in: parent + 1."""

    number: int
    timestamp: int
    base_fee: int
    gas_limit: int
    coinbase: str
    prevrandao: bytes

    @classmethod
    def after(
        cls, parent: Mapping[str, Any], block_time: int, coinbase: str | None = None
    ) -> NextBlock:
        """From a parent header as eth_getBlockByNumber returns it (hex quantities). A header
        without the miner (when no coinbase is given) or the gas fields is refused."""
        missing = [f for f in _NEEDED if parent.get(f) is None]
        if coinbase is None and parent.get("miner") is None:
            missing.append("miner")
        if missing:
            raise SimulationError(
                f"the header of block {parent.get('number')} has no {', '.join(missing)}:"
                " a fork needs the node's whole header (eth_getBlockByNumber)"
            )
        gas_limit = int(parent["gasLimit"], 16)
        return cls(
            number=int(parent["number"], 16) + 1,
            timestamp=int(parent["timestamp"], 16) + block_time,
            base_fee=next_base_fee(
                int(parent.get("baseFeePerGas") or "0x0", 16), int(parent["gasUsed"], 16), gas_limit
            ),
            gas_limit=gas_limit,
            coinbase=coinbase or str(parent["miner"]),
            prevrandao=bytes.fromhex(str(parent.get("mixHash") or _NO_RANDAO)[2:]),
        )
