"""Fees: the EIP-1559 base fee (pinned to go-ethereum's vectors and to real anvil blocks),
chain parameters, the fee policy and replacement bumps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallyio.devnet.node import AnvilNode, rpc_call, start_anvil, stop_pid
from tallyio.execution.fees import (
    GWEI,
    FeeCaps,
    FeeParams,
    FeePolicy,
    Fees,
    ParentHeader,
    bump,
    calc_base_fee,
    decode_op_extra_data,
    fee_params,
    max_base_fee_after,
    next_base_fee,
)
from tallyio.execution.signer import SecretKey, Signer

ETH = fee_params("ethereum")
OP = fee_params("optimism")

# -- the base fee --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent_base", "gas_limit", "gas_used", "expected"),
    [
        (GWEI, 20_000_000, 10_000_000, GWEI),  # at target: unchanged
        (GWEI, 20_000_000, 9_000_000, 987_500_000),  # below: -1/8 of the shortfall share
        (GWEI, 20_000_000, 11_000_000, 1_012_500_000),  # above
        (GWEI, 30_000_000, 30_000_000, 1_125_000_000),  # full block: +12.5%
        (GWEI, 30_000_000, 0, 875_000_000),  # empty block: -12.5%
        (7, 30_000_000, 15_000_001, 8),  # above target by a little: +1 minimum
        (7, 30_000_000, 14_999_999, 7),  # below by a little: rounds to no change
        (0, 30_000_000, 30_000_000, 1),
        (1, 30_000_000, 0, 1),
    ],
)
def test_calc_base_fee_vectors(
    parent_base: int, gas_limit: int, gas_used: int, expected: int
) -> None:
    """The first three are go-ethereum's TestCalcBaseFee cases."""
    parent = ParentHeader(parent_base, gas_used, gas_limit)
    assert next_base_fee(parent, ETH) == expected


def spec_base_fee(base: int, used: int, limit: int, elasticity: int, denominator: int) -> int:
    """EIP-1559's reference pseudocode, transcribed."""
    target = limit // elasticity
    if used == target:
        return base
    if used > target:
        delta = max(base * (used - target) // target // denominator, 1)
        return base + delta
    delta = base * (target - used) // target // denominator
    return base - delta


@given(
    base=st.integers(0, 10**15),
    limit=st.integers(2, 10**9),
    used_share=st.integers(0, 1000),
    params=st.sampled_from([(2, 8), (6, 250), (2, 64), (2, 50), (3, 8)]),
)
def test_calc_base_fee_is_the_spec(
    base: int, limit: int, used_share: int, params: tuple[int, int]
) -> None:
    used = limit * used_share // 1000
    elasticity, denominator = params
    if limit < elasticity:  # no real chain: the target would be zero gas
        with pytest.raises(ValueError, match="gas limit"):
            calc_base_fee(base, used, limit, elasticity, denominator)
        return
    expected = spec_base_fee(base, used, limit, elasticity, denominator)
    assert calc_base_fee(base, used, limit, elasticity, denominator) == max(expected, 0)


def test_op_stack_canyon_constants() -> None:
    # gas limit 30M, elasticity 6: target 5M; denominator 250.
    assert next_base_fee(ParentHeader(GWEI, 5_000_000, 30_000_000), OP) == GWEI
    assert next_base_fee(ParentHeader(GWEI, 4_000_000, 30_000_000), OP) == GWEI - 800_000
    assert next_base_fee(ParentHeader(GWEI, 6_000_000, 30_000_000), OP) == GWEI + 800_000


def _holocene(denominator: int, elasticity: int) -> bytes:
    return b"\x00" + denominator.to_bytes(4, "big") + elasticity.to_bytes(4, "big")


def _jovian(denominator: int, elasticity: int, min_base_fee: int) -> bytes:
    return b"\x01" + _holocene(denominator, elasticity)[1:] + min_base_fee.to_bytes(8, "big")


def test_op_stack_reads_params_from_extra_data() -> None:
    extra = _holocene(50, 4)  # target 7.5M of 30M, at most 2% per block
    parent = ParentHeader(GWEI, 30_000_000, 30_000_000, extra)
    assert next_base_fee(parent, OP) == GWEI + GWEI * 22_500_000 // 7_500_000 // 50
    assert decode_op_extra_data(extra) == (50, 4, 0)
    assert decode_op_extra_data(b"") is None
    assert decode_op_extra_data(_holocene(0, 0)) is None  # zeros: use the defaults


def test_op_stack_jovian_floor_and_da_footprint() -> None:
    extra = _jovian(250, 2, 200_000)
    quiet = ParentHeader(100_000, 0, 30_000_000, extra)
    assert next_base_fee(quiet, OP) == 200_000  # clamped to the minimum base fee
    # The DA footprint (blobGasUsed) counts when it is above gasUsed.
    heavy = ParentHeader(GWEI, 1_000_000, 30_000_000, extra, blob_gas_used=30_000_000)
    assert next_base_fee(heavy, OP) == GWEI + GWEI * 15_000_000 // 15_000_000 // 250
    assert decode_op_extra_data(extra) == (250, 2, 200_000)


def test_floor_model_and_overrides() -> None:
    arb = fee_params("arbitrum")
    assert next_base_fee(ParentHeader(GWEI // 1000, 10**9, 10**9), arb) == arb.min_base_fee
    assert next_base_fee(ParentHeader(GWEI, 0, 10**9), arb) == GWEI
    bsc = fee_params("bsc")
    assert bsc.legacy_tx and next_base_fee(ParentHeader(0, 10**8, 10**8), bsc) == 0
    assert fee_params("ethereum", denominator=16).denominator == 16
    with pytest.raises(ValueError, match="known"):
        fee_params("nowhere")
    with pytest.raises(ValueError):
        FeeParams("bad", elasticity=0)


def test_parent_header_from_rpc() -> None:
    block = {"number": "0x10", "baseFeePerGas": "0x3b9aca00", "gasUsed": "0x5208",
             "gasLimit": "0x1c9c380", "extraData": "0x00000000fa00000006",
             "blobGasUsed": "0x0"}  # fmt: skip
    parent = ParentHeader.from_rpc(block)
    assert parent == ParentHeader(GWEI, 21_000, 30_000_000, bytes.fromhex("00000000fa00000006"))
    with pytest.raises(ValueError, match="baseFeePerGas"):
        ParentHeader.from_rpc({"number": "0x1", "gasUsed": "0x0", "gasLimit": "0x1"})


def test_max_base_fee_after() -> None:
    assert max_base_fee_after(GWEI, 0) == GWEI
    assert max_base_fee_after(GWEI, 1) == 1_125_000_000
    assert max_base_fee_after(GWEI, 2) == 1_265_625_000
    assert max_base_fee_after(0, 1) == 1


# -- fees, bumps, policy -------------------------------------------------------------------------


def test_fees_validation() -> None:
    assert Fees(10, 1).tx_fields() == {"maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    assert Fees.legacy(5).tx_fields() == {"gasPrice": 5}
    assert Fees.of_tx({"gasPrice": 5}) == Fees.legacy(5)
    for bad in ({}, {"max_fee_per_gas": 1}, {"max_fee_per_gas": 1, "max_priority_fee_per_gas": 2},
                {"max_fee_per_gas": 1, "max_priority_fee_per_gas": 1, "gas_price": 1},
                {"gas_price": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            Fees(**bad)


@given(fee=st.integers(0, 10**30), tip_share=st.integers(0, 100))
def test_bump_satisfies_geth(fee: int, tip_share: int) -> None:
    """geth's txpool: strictly higher, and >= old * 110 // 100 on both fields."""
    old = Fees(fee, fee * tip_share // 100)
    new = bump(old)
    pairs = [(old.max_fee_per_gas, new.max_fee_per_gas),
             (old.max_priority_fee_per_gas, new.max_priority_fee_per_gas)]  # fmt: skip
    for before, after in pairs:
        assert before is not None and after is not None
        assert after > before and after >= before * 110 // 100
        assert after * 1000 >= before * 1125  # +12.5%, rounded up
    assert bump(Fees.legacy(fee)).gas_price == max(-(-fee * 1125 // 1000), fee + 1)


def test_bump_rounds_up() -> None:
    assert bump(Fees(1001, 9)) == Fees(1127, 11)
    assert bump(Fees(0, 0)) == Fees(1, 1)


def test_at_least() -> None:
    assert Fees(10, 2).at_least(Fees(8, 5)) == Fees(10, 5)
    with pytest.raises(ValueError):
        Fees(10, 2).at_least(Fees.legacy(1))


CAPS = FeeCaps(max_fee_per_gas=500 * GWEI, max_priority_fee_per_gas=50 * GWEI)


def test_policy_fixed_tip_with_headroom() -> None:
    fees = FeePolicy(priority_fee=2 * GWEI).quote(10 * GWEI, params=ETH, caps=CAPS)
    assert fees == Fees(max_base_fee_after(10 * GWEI, 2) + 2 * GWEI, 2 * GWEI)
    exact = FeePolicy(priority_fee=GWEI, headroom_blocks=0).quote(10 * GWEI, params=ETH, caps=CAPS)
    assert exact == Fees(11 * GWEI, GWEI)


def test_policy_profit_share_is_capped() -> None:
    policy = FeePolicy(priority_fee=GWEI, profit_share_bps=5_000, headroom_blocks=0)
    # 50% of 0.01 ETH over 100k gas = 50 gwei/gas... capped at 50 gwei.
    fees = policy.quote(GWEI, params=ETH, caps=CAPS, expected_profit=10**16, gas=100_000)
    assert fees == Fees(51 * GWEI, 50 * GWEI)
    small = policy.quote(GWEI, params=ETH, caps=CAPS, expected_profit=10**12, gas=100_000)
    assert small == Fees(2 * GWEI, GWEI)  # the share is below the fixed tip: fixed tip wins
    huge = policy.quote(GWEI, params=ETH, caps=CAPS, expected_profit=10**20, gas=100_000)
    assert huge is not None and huge.max_priority_fee_per_gas == CAPS.max_priority_fee_per_gas


def test_policy_max_fee_cap_and_refusal() -> None:
    policy = FeePolicy(priority_fee=GWEI)
    capped = policy.quote(450 * GWEI, params=ETH, caps=CAPS)
    assert capped == Fees(CAPS.max_fee_per_gas, GWEI)  # headroom cut to the cap
    assert policy.quote(500 * GWEI, params=ETH, caps=CAPS) is None  # base + tip over the cap


def test_policy_chain_minimum_tip_and_legacy() -> None:
    polygon = fee_params("polygon")
    fees = FeePolicy(priority_fee=GWEI, headroom_blocks=0).quote(30 * GWEI, params=polygon,
                                                                 caps=CAPS)  # fmt: skip
    assert fees == Fees(55 * GWEI, 25 * GWEI)
    low_caps = FeeCaps(500 * GWEI, 10 * GWEI)
    assert FeePolicy().quote(30 * GWEI, params=polygon, caps=low_caps) is None
    bsc = fee_params("bsc", min_priority_fee=GWEI // 10)
    assert FeePolicy().quote(0, params=bsc, caps=CAPS) == Fees.legacy(GWEI // 10)


def test_policy_validation() -> None:
    for bad in ({"priority_fee": -1}, {"profit_share_bps": 10_001}, {"headroom_blocks": -1}):
        with pytest.raises(ValueError):
            FeePolicy(**bad)


# -- against anvil -------------------------------------------------------------------------------

# Init code that loops until it runs out of gas: a contract creation that uses exactly its limit.
BURN = bytes.fromhex("5b600056")
CHUNK = 15_000_000  # under the EIP-7825 per-transaction cap of 2**24


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_anvil(Path(tmp_path_factory.mktemp("fees-anvil")))
    try:
        yield node
    finally:
        stop_pid(node.pid)


def _rpc(node: AnvilNode, method: str, *params: Any) -> Any:
    return rpc_call(node.rpc_url, method, list(params))


def _fill_block(node: AnvilNode, signer: Signer, nonce: int, gas_amounts: list[int]) -> int:
    for gas in gas_amounts:
        raw = signer.sign_eip1559(
            chain_id=node.chain_id, nonce=nonce, max_fee_per_gas=1000 * GWEI,
            max_priority_fee_per_gas=0, gas=gas, to=None if gas > 21_000 else signer.address,
            data=BURN if gas > 21_000 else b"",
        )  # fmt: skip
        _rpc(node, "eth_sendRawTransaction", "0x" + raw.hex())
        nonce += 1
    _rpc(node, "evm_mine")
    return nonce


@pytest.mark.devnet
def test_next_base_fee_matches_anvil_blocks(anvil: AnvilNode) -> None:
    signer = Signer(SecretKey.from_hex(anvil.accounts[0].private_key))
    _rpc(anvil, "evm_setAutomine", False)
    half = int(_rpc(anvil, "eth_getBlockByNumber", "latest", False)["gasLimit"], 16) // 2
    assert half % CHUNK == 0, "the block gas target must be a whole number of CHUNKs"
    at_target = [CHUNK] * (half // CHUNK)
    blocks = [[], [21_000], at_target, [*at_target, 21_000], [CHUNK, 21_000],
              [*at_target, CHUNK], [*at_target, *at_target], [CHUNK - 1], []]  # fmt: skip
    nonce = 0
    _rpc(anvil, "evm_mine")  # anvil gives block 1 its initial base fee, not genesis's successor's
    start = int(_rpc(anvil, "eth_blockNumber"), 16)
    for gas_amounts in blocks:
        nonce = _fill_block(anvil, signer, nonce, gas_amounts)
    # A tiny base fee, then a block just above target: the +1 minimum increase.
    _rpc(anvil, "anvil_setNextBlockBaseFeePerGas", hex(7))
    nonce = _fill_block(anvil, signer, nonce, [*at_target, 21_000])
    overridden = int(_rpc(anvil, "eth_blockNumber"), 16)
    nonce = _fill_block(anvil, signer, nonce, [21_000])
    end = int(_rpc(anvil, "eth_blockNumber"), 16)
    _rpc(anvil, "evm_setAutomine", True)

    headers = {n: _rpc(anvil, "eth_getBlockByNumber", hex(n), False) for n in range(start, end + 1)}
    compared = []
    for n in range(start + 1, end + 1):
        if n == overridden:
            continue
        parent = ParentHeader.from_rpc(headers[n - 1])
        actual = int(headers[n]["baseFeePerGas"], 16)
        assert next_base_fee(parent, ETH) == actual, f"block {n}: parent {parent}"
        compared.append((parent, actual))
    kinds = {(p.gas_used > half) - (p.gas_used < half) for p, _ in compared}
    assert kinds == {-1, 0, 1}, "below, at and above target all compared"
    assert any(a == p.base_fee_per_gas + 1 for p, a in compared), "the +1 minimum increase seen"
