"""The next block from a parent header: a header that lacks what it needs is refused clearly
(never a KeyError in the middle of a submission) and is never taken as whole."""

from __future__ import annotations

from typing import Any

import pytest

from tallyio.sim.block import HEADER_FIELDS, NextBlock, complete_header
from tallyio.sim.outcome import SimulationError

PARENT: dict[str, Any] = {
    "number": "0x15d",
    "hash": "0x" + "ab" * 32,
    "timestamp": "0x6b055dc9",
    "baseFeePerGas": "0x3b9aca00",
    "gasUsed": "0x0",
    "gasLimit": "0x1c9c380",
    "miner": "0x" + "cb" * 20,
    "mixHash": "0x" + "ab" * 32,
}


def test_whole_header_of_that_block() -> None:
    assert complete_header(PARENT, 0x15D)
    assert complete_header(PARENT, 0x15D, "0x" + "AB" * 32)  # hashes compare in any case
    assert not complete_header(PARENT, 0x15E)  # another block's
    assert not complete_header(PARENT, 0x15D, "0x" + "cd" * 32)  # another branch's
    assert not complete_header(None, 0x15D)


@pytest.mark.parametrize("field", HEADER_FIELDS)
def test_a_missing_field_makes_it_partial(field: str) -> None:
    assert not complete_header({k: v for k, v in PARENT.items() if k != field}, 0x15D)
    assert not complete_header(PARENT | {field: None}, 0x15D)


def test_no_miner_is_a_simulation_error_not_a_key_error() -> None:
    partial = {k: v for k, v in PARENT.items() if k not in ("miner", "mixHash")}
    with pytest.raises(SimulationError, match=r"block 0x15d has no miner"):
        NextBlock.after(partial, 12)
    given = NextBlock.after(partial, 12, coinbase="0x" + "00" * 20)  # a coinbase of our own
    assert given.coinbase == "0x" + "00" * 20 and given.prevrandao == bytes(32)


def test_no_gas_fields_is_refused_too() -> None:
    partial = {k: v for k, v in PARENT.items() if k not in ("gasUsed", "gasLimit")}
    with pytest.raises(SimulationError, match="has no gasUsed, gasLimit"):
        NextBlock.after(partial, 12)
