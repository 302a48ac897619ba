"""Guarded parts: encoding as TallyExecutor reads it, round trips, and the fast encoder's bytes."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from tallyio.core.plan import (
    ACTION_ABI,
    EXECUTE_ARGS,
    AaveLiquidation,
    BalancerSwap,
    FlashLoan,
    FlashSource,
    Guarded,
    Plan,
    UniswapV2Swap,
    UniswapV3Swap,
    VenusLiquidation,
    decode_plan,
    encode_plan,
)
from tallyio.execution.calldata import fast_encode_plan

A = [to_checksum_address("0x" + f"{i:02x}" * 20) for i in range(1, 9)]
POOL_ID = bytes(range(32))
STEPS = (
    AaveLiquidation(A[0], A[1], A[2], A[3], 5_000 * 10**6),
    UniswapV2Swap(A[4], A[1], A[2], 0, 25),
    UniswapV3Swap(A[5], A[1], A[2], 7, 2**159),
    BalancerSwap(A[6], POOL_ID, A[1], A[2], 3),
    VenusLiquidation(A[7], A[2], A[3], A[4], 9),
)
LOAN = FlashLoan(FlashSource.BALANCER, A[7], A[2], 12_000 * 10**6)


def test_a_part_encodes_as_kind_5_with_its_steps_as_an_action_list() -> None:
    part = Guarded(STEPS[:2])
    plan = Plan((part, UniswapV2Swap(A[4], A[2], A[1], 1)), A[2], 1, LOAN)
    _, actions, *_ = decode(EXECUTE_ARGS, encode_plan(plan)[4:])
    kind, target, token_in, amount_in, data = actions[0]
    assert (kind, int(target, 16), int(token_in, 16), amount_in) == (5, 0, 0, 0)
    (inner,) = decode([f"{ACTION_ABI}[]"], data)  # runGuarded(Action[]) arguments, as they are
    assert [tuple(x) for x in inner] == [s.raw() for s in STEPS[:2]]
    assert decode_plan(encode_plan(plan)) == plan


def test_several_parts_round_trip_and_fast_encoding_is_the_same_bytes() -> None:
    parts = (Guarded(STEPS[:2]), Guarded(STEPS[2:4]), Guarded(STEPS[4:]))
    for plan in (Plan(parts, A[2], 10**6, LOAN), Plan((*parts, *STEPS), A[2], 0)):
        assert fast_encode_plan(plan) == encode_plan(plan)
        assert decode_plan(fast_encode_plan(plan)) == plan


_addresses = st.sampled_from(A)
_amounts = st.integers(0, 2**256 - 1)
_v2 = st.builds(UniswapV2Swap, _addresses, _addresses, _addresses, _amounts, st.integers(0, 9_999))
_aave = st.builds(AaveLiquidation, _addresses, _addresses, _addresses, _addresses, _amounts)
_steps = st.one_of(_v2, _aave)
_parts = st.lists(_steps, min_size=1, max_size=4).map(lambda s: Guarded(tuple(s)))


@given(
    actions=st.lists(st.one_of(_parts, _steps), min_size=1, max_size=5),
    minimum=_amounts,
    amount=st.integers(1, 2**256 - 1),
)
def test_fast_encoding_equals_encode_plan_for_any_mix(
    actions: list[Guarded | UniswapV2Swap | AaveLiquidation], minimum: int, amount: int
) -> None:
    plan = Plan(tuple(actions), A[2], minimum, FlashLoan(FlashSource.AAVE_V3, A[0], A[2], amount))
    assert fast_encode_plan(plan) == encode_plan(plan)
    assert decode_plan(encode_plan(plan)) == plan


def test_parts_hold_plain_steps_only() -> None:
    with pytest.raises(ValueError, match="no actions"):
        Guarded(())
    with pytest.raises(TypeError, match="plain step"):
        Guarded((Guarded(STEPS[:1]),))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Guarded(("swap",))  # type: ignore[arg-type]


def test_a_swap_on_the_locked_lender_is_refused_inside_a_part_too() -> None:
    vault_loan = FlashLoan(FlashSource.BALANCER, A[6], A[2], 10**9)
    with pytest.raises(ValueError, match="locked while lending"):
        Plan((Guarded((STEPS[3],)),), A[2], 0, vault_loan)


def test_decoding_refuses_a_part_with_fields_the_contract_ignores() -> None:
    kind, _, _, _, data = Guarded(STEPS[:1]).raw()
    with pytest.raises(ValueError, match="must be zero"):
        Guarded.from_raw(A[0], A[0], 0, data)
    assert kind == 5
