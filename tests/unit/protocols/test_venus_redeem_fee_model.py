"""venus.redeem_fee (VToken.redeemFresh's Comptroller.treasuryPercent cut) and the redeems that
pay it, by hand. The devnet test (tests/integration/test_venus_redeem_fee.py) pins them to the
real vTokens."""

from __future__ import annotations

import pytest

from tallyio.protocols.venus import (
    EXP_SCALE,
    JumpRateModel,
    MarketState,
    exchange_rate_stored,
    mul_scalar_truncate,
    redeem_fee,
    split_liquidation_incentive,
)
from tallyio.protocols.venus_liquidator import liquidator_seizure, redeem_fresh

LI = 11 * 10**17
HALF = 5 * 10**17
MAX_PERCENT = EXP_SCALE - 1  # _setTreasuryData requires percent < 1e18


def _market(cash: int = 10**22, supply: int = 5 * 10**13) -> MarketState:
    model = JumpRateModel(0, 0, 0, 8 * 10**17)
    return MarketState(cash, 10**21, 10**18, supply, EXP_SCALE, 1, 10**17, 2 * 10**26, model)


def test_zero_percent_takes_nothing() -> None:
    assert redeem_fee(123_456_789) == (0, 123_456_789)
    assert redeem_fee(0, 5 * 10**16) == (0, 0)


def test_fee_floors_and_the_receiver_keeps_the_rounding() -> None:
    assert redeem_fee(10**18, 5 * 10**16) == (5 * 10**16, 95 * 10**16)
    assert redeem_fee(19, 5 * 10**16) == (0, 19)  # 0.95 floors to 0: all to the receiver
    assert redeem_fee(20, 5 * 10**16) == (1, 19)
    assert redeem_fee(999, 10**15 + 1) == (0, 999)  # 0.999000...999 floors to 0
    assert redeem_fee(1_000, 10**15) == (1, 999)
    amount, percent = 123_456_789_012_345_678_901, 33_333_333_333_333_333
    fee, rest = redeem_fee(amount, percent)
    assert fee == amount * percent // EXP_SCALE and fee + rest == amount


def test_max_percent_leaves_the_receiver_one_unit_per_1e18() -> None:
    assert redeem_fee(10**18, MAX_PERCENT) == (10**18 - 1, 1)
    assert redeem_fee(10**17, MAX_PERCENT) == (10**17 - 1, 1)  # 0.1 floors away: +1 for us
    assert redeem_fee(1, MAX_PERCENT) == (0, 1)
    assert redeem_fee(7, EXP_SCALE) == (7, 0)


def test_a_percent_the_contract_cannot_apply_is_an_error() -> None:
    with pytest.raises(ValueError, match="treasuryPercent"):
        redeem_fee(10, EXP_SCALE + 1)  # subUInt underflows: the redeem reverts
    with pytest.raises(ValueError, match="treasuryPercent"):
        redeem_fee(10, -1)


def test_redeem_pays_less_but_moves_the_whole_amount_out() -> None:
    market, tokens, percent = _market(), 3_141_592_653, 7 * 10**16 + 3
    gross = mul_scalar_truncate(exchange_rate_stored(market), tokens)
    plain = redeem_fresh(market, tokens)
    feed = redeem_fresh(market, tokens, percent)
    assert plain is not None and feed is not None
    assert plain[1] == gross and feed[1] == gross - gross * percent // EXP_SCALE
    assert feed[0] == plain[0]  # the market after is the same: the fee leaves as cash too
    assert feed[0].cash == market.cash - gross


def test_liquidator_seizure_with_a_redeem_fee() -> None:
    market, seize, percent = _market(), 2_894_736_842, 4 * 10**16
    plain = liquidator_seizure(market, seize, LI, HALF)
    feed = liquidator_seizure(market, seize, LI, HALF, percent)
    assert plain is not None and feed is not None
    ours, theirs = split_liquidation_incentive(seize, LI, HALF)
    assert (feed.treasury_tokens, feed.liquidator_tokens) == (ours, theirs)
    assert feed.market == plain.market and plain.redeem_fees == 0
    assert feed.treasury_underlying == redeem_fee(plain.treasury_underlying, percent)[1]
    assert feed.redeemed == redeem_fee(plain.redeemed, percent)[1]
    both = plain.treasury_underlying + plain.redeemed
    assert feed.redeem_fees == both - feed.treasury_underlying - feed.redeemed > 0
