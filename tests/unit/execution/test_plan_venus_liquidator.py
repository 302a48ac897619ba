"""plan.py: a VenusLiquidation through Venus's Liquidator is a third data word; without one the
action encodes exactly the two-word direct call the executor has always taken."""

from __future__ import annotations

from eth_abi import decode, encode

from tallyio.core.plan import (
    ZERO_ADDRESS,
    Plan,
    UniswapV2Swap,
    VenusLiquidation,
    decode_plan,
    encode_plan,
)
from tallyio.execution.calldata import fast_encode_plan

USDC = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
WETH = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PAIR = "0x5cFE9a2F0aB9638d87141669EFbAfCd18f317800"
BORROWER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
V_USDC = "0x63fea6E447F120B8Faf85B53cdaD8348e645D80E"
V_WETH = "0x5133BBdfCCa3Eb4F739D599ee4eC45cBCD0E16c5"
LIQUIDATOR = "0x0870793286aaDA55D39CE7f82fb2766e8004cF43"


def test_direct_action_keeps_two_words() -> None:
    action = VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH, 7)
    data = action.raw()[4]
    assert action.liquidator == ZERO_ADDRESS
    assert data == encode(["address", "address"], [BORROWER, V_WETH])


def test_liquidator_is_the_third_word() -> None:
    action = VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH, 7, LIQUIDATOR.lower())
    assert action.liquidator == LIQUIDATOR  # checksummed like every address field
    data = action.raw()[4]
    assert len(data) == 96
    assert decode(["address", "address", "address"], data)[2] == LIQUIDATOR.lower()


def test_both_forms_round_trip_through_the_calldata() -> None:
    sell = UniswapV2Swap(PAIR, WETH, USDC)
    for liquidator in (ZERO_ADDRESS, LIQUIDATOR):
        plan = Plan(
            (VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH, 0, liquidator), sell), USDC, 1
        )
        assert decode_plan(encode_plan(plan)) == plan


def test_fast_encoder_writes_the_same_bytes() -> None:
    sell = UniswapV2Swap(PAIR, WETH, USDC)
    for liquidator in (ZERO_ADDRESS, LIQUIDATOR):
        plan = Plan(
            (VenusLiquidation(V_USDC, USDC, BORROWER, V_WETH, 5, liquidator), sell), USDC, 1
        )
        assert fast_encode_plan(plan) == encode_plan(plan)
