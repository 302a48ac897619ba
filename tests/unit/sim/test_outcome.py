"""Outcomes, revert decoding, and the pure helpers beside the fork (no node needed)."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode

from tallyio.sim.fork import NextBlock, _changed_slots, _LayerError, calldata_floor, next_base_fee
from tallyio.sim.outcome import (
    ERROR_SELECTOR,
    PANIC_SELECTOR,
    Outcome,
    SimLog,
    TxResult,
    decode_revert,
)


# -- decode_revert --------------------------------------------------------------------------
def test_error_string_is_its_text() -> None:
    data = ERROR_SELECTOR + encode(["string"], ["UniswapV2Router: EXPIRED"])
    assert decode_revert(data) == "UniswapV2Router: EXPIRED"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0x01, "Panic(0x01): assertion failed"),
        (0x11, "Panic(0x11): arithmetic overflow or underflow"),
        (0x12, "Panic(0x12): division or modulo by zero"),
        (0x99, "Panic(0x99): unknown panic code"),
    ],
)
def test_panic_names_its_code(code: int, text: str) -> None:
    assert decode_revert(PANIC_SELECTOR + encode(["uint256"], [code])) == text


def test_custom_error_gives_selector_and_arguments() -> None:
    selector = bytes.fromhex("e450d38c")  # ERC20InsufficientBalance(address,uint256,uint256)
    args = encode(["address", "uint256", "uint256"], ["0x" + "11" * 20, 5, 7])
    assert decode_revert(selector + args) == f"custom error 0xe450d38c args 0x{args.hex()}"
    assert decode_revert(selector) == "custom error 0xe450d38c"


def test_empty_short_and_malformed_data() -> None:
    assert decode_revert(b"") == "reverted without reason"
    assert decode_revert(b"\x01\x02") == "malformed revert data 0x0102"
    broken = ERROR_SELECTOR + b"\x00" * 10
    assert decode_revert(broken) == f"malformed revert data 0x{broken.hex()}"


# -- Outcome ----------------------------------------------------------------------------------
LOG = SimLog("0x" + "aa" * 20, (b"\x01" * 32,), b"")


def test_outcome_of_one_step_mirrors_it() -> None:
    step = TxResult(True, 100_000, None, b"\x2a", (LOG,))
    outcome = Outcome.of((step,), profit=7, block=12)
    assert outcome == Outcome(True, 100_000, None, b"\x2a", 7, 12, (LOG,), (step,))


def test_outcome_of_a_sequence_shows_the_first_failure() -> None:
    ok = TxResult(True, 50_000, None, b"ok", (LOG,))
    bad = TxResult(False, 30_000, "nope", b"bad")
    worse = TxResult(False, 20_000, "worse", b"")
    outcome = Outcome.of((ok, bad, worse), profit=0, block=1)
    assert not outcome.success
    assert (outcome.revert_reason, outcome.return_data) == ("nope", b"bad")
    assert outcome.gas_used == 100_000 and outcome.logs == (LOG,)
    assert Outcome.of((ok, ok), profit=1, block=1).logs == (LOG, LOG)


def test_outcome_needs_a_step_and_is_frozen() -> None:
    with pytest.raises(ValueError):
        Outcome.of((), profit=0, block=1)
    outcome = Outcome.of((TxResult(True, 1, None, b""),), profit=0, block=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.profit = 5  # type: ignore[misc]


# -- the next block ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "used", "limit", "expected"),
    [
        (1_000_000_000, 15_000_000, 30_000_000, 1_000_000_000),  # at target: unchanged
        (1_000_000_000, 30_000_000, 30_000_000, 1_125_000_000),  # full: +1/8
        (1_000_000_000, 0, 30_000_000, 875_000_000),  # empty: -1/8
        (8, 672_155, 60_000_000, 8),  # tiny fees round the change away (anvil agrees)
        (8, 0, 60_000_000, 7),
        (7, 30_000_001, 60_000_000, 8),  # above target always rises by at least 1
    ],
)
def test_next_base_fee_follows_eip1559(base: int, used: int, limit: int, expected: int) -> None:
    assert next_base_fee(base, used, limit) == expected


def test_next_block_is_parent_plus_one() -> None:
    parent = {
        "number": "0x15d",
        "timestamp": "0x6b055dc9",
        "baseFeePerGas": "0x3b9aca00",
        "gasUsed": "0x0",
        "gasLimit": "0x1c9c380",
        "miner": "0x" + "cb" * 20,
        "mixHash": "0x" + "ab" * 32,
    }
    nxt = NextBlock.after(parent, block_time=12)
    assert (nxt.number, nxt.timestamp) == (0x15E, 0x6B055DC9 + 12)
    assert nxt.base_fee == 875_000_000 and nxt.gas_limit == 30_000_000
    assert nxt.coinbase == "0x" + "cb" * 20 and nxt.prevrandao == b"\xab" * 32
    assert NextBlock.after(parent, 2, coinbase="0x" + "00" * 20).coinbase == "0x" + "00" * 20


def test_calldata_floor_counts_tokens() -> None:
    assert calldata_floor(b"") == 21_000
    assert calldata_floor(b"\x00\x00\x01") == 21_000 + 10 * (2 + 4)


# -- reading revm's journal -------------------------------------------------------------------
JOURNAL = (
    "JournaledState { state: {0x00000000000000000000000000000000000000aa: Account { info: "
    "AccountInfo { balance: 0, nonce: 1, code_hash: 0x" + "11" * 32 + ", code: Some(Bytecode "
    "{ bytecode: 0x6080, state: Raw }) }, storage: {6: StorageSlot { previous_or_original_value"
    ": 5, present_value: 5 }, 9: StorageSlot { previous_or_original_value: 0, present_value: 12 "
    "}}, status: AccountStatus(Touched) }, 0x00000000000000000000000000000000000000bb: Account "
    "{ info: AccountInfo { balance: 3, nonce: 0, code_hash: 0x" + "22" * 32 + ", code: Some("
    "Bytecode { bytecode: 0x, state: Raw }) }, storage: {}, status: AccountStatus(Touched) }}, "
    "transient_storage: {}, logs: [], depth: 1, journal: [[], [StorageChange { address: "
    "0x00000000000000000000000000000000000000aa, key: 9, had_value: Some(0) }]] }"
)


def test_changed_slots_keeps_only_changes() -> None:
    assert _changed_slots(JOURNAL) == {("0x00000000000000000000000000000000000000aa", 9): (0, 12)}


def test_changed_slots_refuses_an_unknown_form() -> None:
    with pytest.raises(_LayerError):
        _changed_slots("State { something else }")
