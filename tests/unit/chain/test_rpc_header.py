"""The engine's head carries what the pipeline prices fees from: no header RPC per group."""

from __future__ import annotations

from tallyio.chain.reorg import block_from_rpc, rpc_header
from tallyio.core.events import Block
from tallyio.execution.fees import ParentHeader
from tallyio.sim.block import NextBlock, complete_header

RAW = {
    "number": "0x1b4",
    "hash": "0x" + "ab" * 32,
    "parentHash": "0x" + "cd" * 32,
    "timestamp": "0x6553f100",
    "baseFeePerGas": "0x3b9aca00",
    "gasUsed": "0x1c9c380",
    "gasLimit": "0x1c9c3800",
    "extraData": "0x00000000fa00000006",
    "blobGasUsed": "0x20000",
    "miner": "0x" + "00" * 20,
}


def test_header_round_trips_the_fee_inputs() -> None:
    block = block_from_rpc(1, RAW)
    header = rpc_header(block)
    assert header is not None
    assert ParentHeader.from_rpc(header) == ParentHeader.from_rpc(RAW)
    assert (header["number"], header["gasLimit"], header["hash"]) == (
        RAW["number"], RAW["gasLimit"], RAW["hash"])  # fmt: skip


def test_no_header_without_gas_fields() -> None:
    assert rpc_header(Block(1, 1, "0xa", "0x0", 1, 10**9)) is None
    legacy = block_from_rpc(1, {k: v for k, v in RAW.items() if k != "baseFeePerGas"})
    assert rpc_header(legacy) is None


def test_header_carries_what_a_fork_needs() -> None:
    """miner and mixHash go through the engine's Block: a fork opens from it unasked."""
    raw = RAW | {"mixHash": "0x" + "5a" * 32, "miner": "0x" + "c0" * 20}
    block = block_from_rpc(1, raw)
    assert (block.miner, block.mix_hash) == (raw["miner"], raw["mixHash"])
    header = rpc_header(block)
    assert header is not None
    assert (header["miner"], header["mixHash"]) == (raw["miner"], raw["mixHash"])
    assert complete_header(header, block.number, block.hash)
    assert NextBlock.after(header, 12) == NextBlock.after(raw, 12)


def test_header_of_a_block_without_miner_is_not_whole() -> None:
    """A Block built without them (older collectors, tests) gives a header no simulator opens
    a fork from: it asks the node for the whole header instead."""
    header = rpc_header(Block(1, 436, "0xa", "0x0", 1, 10**9, gas_used=0, gas_limit=30_000_000))
    assert header is not None and "miner" not in header and "mixHash" not in header
    assert not complete_header(header, 436)
