"""protocols.venus.split_liquidation_incentive and protocols.venus_liquidator, by hand.

The devnet test (tests/integration/test_venus_liquidator.py) pins them to the real Liquidator;
these pin the arithmetic and the edges without a node."""

from __future__ import annotations

from dataclasses import replace

from tallyio.protocols.venus import (
    EXP_SCALE,
    JumpRateModel,
    MarketState,
    exchange_rate_stored,
    split_liquidation_incentive,
)
from tallyio.protocols.venus_liquidator import liquidator_seizure, redeem_fresh

LI = 11 * 10**17  # 1.1: a 10% bonus
HALF = 5 * 10**17


def _market(cash: int, supply: int) -> MarketState:
    model = JumpRateModel(0, 0, 0, 8 * 10**17)
    return MarketState(cash, 10**21, 10**18, supply, EXP_SCALE, 1, 10**17, 2 * 10**26, model)


def _with_cash(market: MarketState, cash: int) -> MarketState:
    """The same exchange rate with less cash: the rest lent out."""
    return replace(market, cash=cash, total_borrows=market.total_borrows + market.cash - cash)


def test_split_matches_a_liquidation_seen_on_the_devnet() -> None:
    # LiquidateBorrowedTokens: 1,000 USDC repaid at ETH 1,900 seized 2,894,736,842 vWETH.
    assert split_liquidation_incentive(2_894_736_842, LI, HALF) == (131_578_947, 2_763_157_895)


def test_split_edges() -> None:
    assert split_liquidation_incentive(10**9, LI, 0) == (0, 10**9)
    ours, theirs = split_liquidation_incentive(10**9, LI, EXP_SCALE)  # the whole bonus
    assert ours == 10**9 // 11 and theirs == 10**9 - ours
    assert split_liquidation_incentive(10**9, EXP_SCALE, HALF) == (0, 10**9)  # no bonus


def test_redeem_moves_cash_and_supply_or_refuses() -> None:
    market = _market(cash=10**22, supply=5 * 10**13)
    after, paid = redeem_fresh(market, 10**10) or (market, -1)
    assert paid == exchange_rate_stored(market) * 10**10 // EXP_SCALE
    assert (after.cash, after.total_supply) == (market.cash - paid, market.total_supply - 10**10)
    assert redeem_fresh(_with_cash(market, paid - 1), 10**10) is None


def test_caller_redeems_at_the_rate_after_the_treasury() -> None:
    market = _market(cash=10**22, supply=5 * 10**13)
    got = liquidator_seizure(market, 2_894_736_842, LI, HALF)
    assert got is not None
    assert (got.treasury_tokens, got.liquidator_tokens) == (131_578_947, 2_763_157_895)
    rate = exchange_rate_stored(got.market)
    assert got.redeemed == rate * 2_763_157_895 // EXP_SCALE
    assert got.treasury_underlying == exchange_rate_stored(market) * 131_578_947 // EXP_SCALE


def test_the_treasury_redeems_first_from_the_same_cash() -> None:
    market = _market(cash=10**22, supply=5 * 10**13)
    got = liquidator_seizure(market, 2_894_736_842, LI, HALF)
    assert got is not None
    both = got.treasury_underlying + got.redeemed
    assert liquidator_seizure(_with_cash(market, both), 2_894_736_842, LI, HALF) is not None
    # Enough cash for our redeem alone is not enough: the Liquidator's comes out first.
    assert liquidator_seizure(_with_cash(market, got.redeemed), 2_894_736_842, LI, HALF) is None
