"""Chain events as frozen values: what collectors emit and every later stage consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int | None  # None before London / on legacy-fee chains
    # the rest of the header the next base fee depends on, when the collector has it
    gas_used: int | None = None
    gas_limit: int | None = None
    extra_data: str = "0x"  # OP stack (Holocene) carries its fee parameters here
    blob_gas_used: int = 0  # OP stack (Jovian) meters it with gas used
    # what a fork of this block needs for the next one's env (COINBASE, PREVRANDAO), so the
    # simulators open it from the engine's head without asking the node for the header
    miner: str | None = None
    mix_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Log:
    chain_id: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: str


@dataclass(frozen=True, slots=True)
class PendingTx:
    chain_id: int
    hash: str
    sender: str
    to: str | None
    input: str
    value: int
    gas: int
    max_fee: int | None
    max_priority_fee: int | None
    nonce: int


@dataclass(frozen=True, slots=True)
class Reorg:
    """The chain's head moved to a branch that forks below `common_ancestor + 1`."""

    chain_id: int
    common_ancestor: int
    dropped: tuple[str, ...]  # hashes of the blocks no longer canonical, oldest first


@dataclass(frozen=True, slots=True)
class BlockEnd:
    """Every log of block `number` has been delivered: strategies may act on the block.
    `head` is False when newer blocks were already known as it was sent: acting on a block the
    chain has moved past is wasted work, so the engine only folds its changes in."""

    chain_id: int
    number: int
    hash: str
    head: bool = True


Event = Block | Log | PendingTx | Reorg | BlockEnd
