"""The engine's head carries what the pipeline prices fees from: no header RPC per group."""

from __future__ import annotations

from tallyio.chain.reorg import block_from_rpc, rpc_header
from tallyio.core.events import Block
from tallyio.execution.fees import ParentHeader

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
