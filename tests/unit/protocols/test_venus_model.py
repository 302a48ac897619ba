"""Venus core-pool model: Exp truncation, JumpRateModel, accrual, account liquidity, seizing.

The wei-exact comparison against the real bytecode is tests/integration/test_exact_lending.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallyio.protocols import venus

E18 = 10**18
BLOCKS_PER_YEAR = 70_080_000
STABLE_RATES = venus.JumpRateModel.from_yearly(0, 5 * 10**16, 109 * 10**16, 80 * 10**16,
                                               BLOCKS_PER_YEAR)  # fmt: skip
WETH_PRICE = venus.chainlink_underlying_price(2_000 * 10**8, 8, 18)
USDC_PRICE = venus.chainlink_underlying_price(10**8, 8, 6)
WETH_RATE = 2 * 10**26  # initial exchange rate: 0.02 WETH per vWETH (8 decimals)


def weth(balance: int = 5 * 10**10, price: int = WETH_PRICE) -> venus.AccountAsset:
    """500 vWETH = 10 WETH at the initial rate (venus_borrower_0's collateral)."""
    return venus.AccountAsset("vWETH", balance, 0, WETH_RATE, price, 80 * 10**16,
                              825 * 10**15, 11 * 10**17)  # fmt: skip


def usdc(borrow: int = 15_900 * 10**6, price: int = USDC_PRICE) -> venus.AccountAsset:
    return venus.AccountAsset("vUSDC", 0, borrow, 2 * 10**14, price, 825 * 10**15,
                              85 * 10**16, 11 * 10**17)  # fmt: skip


def market(**changes: int) -> venus.MarketState:
    base = venus.MarketState(
        cash=4_000_000 * 10**6, total_borrows=1_000_000 * 10**6, total_reserves=1_234,
        total_supply=25 * 10**15, borrow_index=E18, accrual_block_number=100,
        reserve_factor=10 * 10**16, initial_exchange_rate=2 * 10**14, rate_model=STABLE_RATES,
    )  # fmt: skip
    return replace(base, **changes)


# -- ExponentialNoError ----------------------------------------------------------------------
def test_exp_math_truncates() -> None:
    assert venus.mul_exp(3 * E18 // 2, 3 * E18 // 2) == 225 * 10**16
    assert venus.mul_exp(1, E18 - 1) == 0
    assert venus.div_exp(E18, 3 * E18) == 333_333_333_333_333_333
    assert venus.mul_scalar_truncate(E18 // 2, 3) == 1
    assert venus.mul_scalar_truncate_add_uint(E18 // 2, 3, 10) == 11
    assert venus.truncate(2 * E18 - 1) == 1
    assert venus.get_exp(1, 3) == 333_333_333_333_333_333
    with pytest.raises(ZeroDivisionError):
        venus.div_exp(1, 0)


def test_chainlink_prices_scale_by_decimals() -> None:
    assert WETH_PRICE == 2_000 * E18
    assert USDC_PRICE == 10**30
    assert venus.chainlink_underlying_price(60_000 * 10**8, 8, 8) == 60_000 * 10**28


# -- JumpRateModel ---------------------------------------------------------------------------
def test_rate_model_from_yearly_floors() -> None:
    assert STABLE_RATES.multiplier_per_block == 5 * 10**16 // BLOCKS_PER_YEAR == 713_470_319
    assert STABLE_RATES.base_rate_per_block == 0


def test_borrow_rate_kinks() -> None:
    m = STABLE_RATES
    assert m.utilization_rate(100, 0, 0) == 0
    assert m.utilization_rate(20, 80, 0) == 8 * 10**17
    at_kink = m.get_borrow_rate(20, 80, 0)
    assert at_kink == 8 * 10**17 * m.multiplier_per_block // E18
    above = m.get_borrow_rate(10, 90, 0)
    assert above == 10**17 * m.jump_multiplier_per_block // E18 + at_kink
    assert m.get_supply_rate(20, 80, 0, 10**17) == 8 * 10**17 * (at_kink * 9 // 10) // E18


# -- VToken ----------------------------------------------------------------------------------
def test_accrue_interest_vector() -> None:
    m = market()
    assert venus.accrue_interest(m, 100) is m
    rate = STABLE_RATES.get_borrow_rate(m.cash, m.total_borrows, m.total_reserves)
    later = venus.accrue_interest(m, 110)
    interest = rate * 10 * m.total_borrows // E18
    assert later.total_borrows == m.total_borrows + interest
    assert later.total_reserves == 1_234 + 10**17 * interest // E18
    assert later.borrow_index == E18 + rate * 10
    assert later.accrual_block_number == 110 and later.cash == m.cash
    with pytest.raises(ValueError, match="before"):
        venus.accrue_interest(m, 99)


def test_accrue_sweeps_reserves_when_the_delta_is_reached() -> None:
    m = market(reduce_reserves_block_delta=5, reduce_reserves_block_number=100)
    swept = venus.accrue_interest(m, 105)
    assert swept.total_reserves == 0 and swept.reduce_reserves_block_number == 105
    unswept = venus.accrue_interest(replace(m, reduce_reserves_block_delta=venus.NEVER), 105)
    assert swept.cash == m.cash - unswept.total_reserves
    assert swept.total_borrows == unswept.total_borrows
    assert venus.exchange_rate_stored(swept) == venus.exchange_rate_stored(unswept)


def test_rate_above_the_maximum_reverts() -> None:
    absurd = replace(market(), rate_model=venus.JumpRateModel(10**13, 0, 0, E18))
    with pytest.raises(ValueError, match="absurdly"):
        venus.accrue_interest(absurd, 101)


def test_exchange_rate_and_borrow_balance() -> None:
    assert venus.exchange_rate_stored(market(total_supply=0)) == 2 * 10**14
    m = market()
    expected = (m.cash + m.total_borrows - m.total_reserves) * E18 // m.total_supply
    assert venus.exchange_rate_stored(m) == expected
    assert venus.borrow_balance_stored(0, 0, 5 * E18) == 0
    assert venus.borrow_balance_stored(15_900 * 10**6, E18, 1_000_000_000_045_419_510) == (
        15_900 * 10**6
    )
    assert venus.borrow_balance_stored(3, 2 * E18, 3 * E18) == 4


# -- ComptrollerLens -------------------------------------------------------------------------
def test_seeded_borrower_liquidity() -> None:
    """venus_borrower_0: 10 WETH at 82.5% is $16,500 against $15,900 of USDC."""
    result = venus.get_hypothetical_account_liquidity([weth(), usdc()])
    assert (result.sum_collateral, result.sum_borrow_plus_effects) == (16_500 * E18, 15_900 * E18)
    assert venus.get_account_liquidity([weth(), usdc()]) == (600 * E18, 0)
    assert venus.get_borrowing_power([weth(), usdc()]) == (100 * E18, 0)  # 80% CF: $16,000


def test_borrowing_power_uses_bounded_prices() -> None:
    bounded = replace(weth(), bounded_collateral_price=1_900 * E18)
    assert venus.get_borrowing_power([bounded, usdc()]) == (0, 700 * E18)
    assert venus.get_account_liquidity([bounded, usdc()]) == (600 * E18, 0)


def test_hypothetical_redeem_and_borrow() -> None:
    result = venus.get_hypothetical_account_liquidity(
        [weth(), usdc()], venus.WeightFunction.USE_COLLATERAL_FACTOR,
        vtoken_modify="vWETH", redeem_tokens=5 * 10**9, borrow_amount=10**18,
    )  # fmt: skip
    # redeeming 1 WETH costs $1,600 of power; borrowing 1 WETH adds $2,000 of debt
    assert result.shortfall == 3_500 * E18


def test_empty_markets_are_skipped_and_zero_prices_rejected() -> None:
    idle = replace(weth(balance=0), price=0)
    assert venus.get_account_liquidity([idle, usdc(borrow=0)]) == (0, 0)
    with pytest.raises(venus.ComptrollerError) as err:
        venus.get_account_liquidity([replace(weth(), price=0)])
    assert err.value.code == venus.PRICE_ERROR


def test_seize_tokens_vector() -> None:
    # tests/integration/test_devnet_venus.py: USDC repaid, WETH seized at $1,850
    repay, price = 3_975 * 10**6, 1_850 * E18
    numerator = 11 * 10**17 * USDC_PRICE // E18
    denominator = price * WETH_RATE // E18
    expected = (numerator * E18 // denominator) * repay // E18
    assert venus.liquidate_calculate_seize_tokens(repay, 11 * 10**17, USDC_PRICE, price,
                                                  WETH_RATE) == expected  # fmt: skip


def test_max_close_floors() -> None:
    assert venus.max_close(15_900 * 10**6 + 1, 5 * 10**17) == 7_950 * 10**6
    assert venus.max_close(1, 5 * 10**17) == 0


def _liquidate(assets: list[venus.AccountAsset], repay: int) -> venus.SeizeResult:
    return venus.liquidate_borrow(assets, vtoken_borrowed="vUSDC", collateral=assets[0],
                                  repay_amount=repay, close_factor=5 * 10**17)  # fmt: skip


def test_liquidation_checks_in_the_markets_order() -> None:
    crashed = [weth(price=1_900 * E18), usdc()]
    with pytest.raises(venus.LiquidationRejected) as err:
        _liquidate([weth(), usdc()], 1)
    assert err.value.code == venus.INSUFFICIENT_SHORTFALL
    with pytest.raises(venus.LiquidationRejected) as err:
        _liquidate(crashed, 7_950 * 10**6 + 1)
    assert err.value.code == venus.TOO_MUCH_REPAY
    outside = replace(crashed[0], vtoken="vDAI")
    with pytest.raises(venus.LiquidationRejected) as err:
        venus.liquidate_borrow(crashed, vtoken_borrowed="vUSDC", collateral=outside,
                               repay_amount=10**6, close_factor=5 * 10**17)  # fmt: skip
    assert err.value.code == venus.MARKET_NOT_COLLATERAL
    done = _liquidate(crashed, 7_950 * 10**6)
    assert done.repay_amount == 7_950 * 10**6 and done.shortfall == 225 * E18
    assert done.seize_tokens == venus.liquidate_calculate_seize_tokens(
        7_950 * 10**6, 11 * 10**17, USDC_PRICE, 1_900 * E18, WETH_RATE
    )


def test_seizing_more_than_the_balance_reverts() -> None:
    thin = [weth(balance=10**9, price=1_000 * E18), usdc(borrow=1_000 * 10**6)]
    with pytest.raises(venus.LiquidationRejected) as err:
        venus.liquidate_borrow(thin, vtoken_borrowed="vUSDC", collateral=thin[0],
                               repay_amount=500 * 10**6, close_factor=5 * 10**17)  # fmt: skip
    assert err.value.code == "LIQUIDATE_SEIZE_TOO_MUCH"


# -- properties ------------------------------------------------------------------------------
prices = st.integers(min_value=10**15, max_value=10**24)


@given(prices, prices, st.integers(1, 10**14), st.integers(1, 10**14))
def test_liquidity_monotone_in_prices(p1: int, p2: int, balance: int, debt: int) -> None:
    low, high = sorted((p1, p2))

    def net(collateral_price: int, debt_price: int) -> int:
        liq, short = venus.get_account_liquidity(
            [weth(balance, collateral_price), usdc(debt, debt_price * 10**12)]
        )
        return liq - short

    assert net(low, 10**18) <= net(high, 10**18)
    assert net(2_000 * E18, low) >= net(2_000 * E18, high)


@given(st.integers(0, 10**20), st.integers(0, 10**20), prices, st.integers(E18, 2 * E18))
def test_seize_monotone_in_repay_and_incentive(a: int, b: int, price: int, li: int) -> None:
    small, large = sorted((a, b))

    def seize(repay: int, incentive: int) -> int:
        return venus.liquidate_calculate_seize_tokens(repay, incentive, USDC_PRICE, price,
                                                      WETH_RATE)  # fmt: skip

    assert seize(small, li) <= seize(large, li)
    assert seize(large, E18) <= seize(large, li)


@given(st.integers(0, 10**30), st.integers(0, E18))
def test_max_close_never_exceeds_the_borrow(borrow: int, close_factor: int) -> None:
    cap = venus.max_close(borrow, close_factor)
    assert 0 <= cap <= borrow
    assert venus.max_close(borrow, E18) == borrow
