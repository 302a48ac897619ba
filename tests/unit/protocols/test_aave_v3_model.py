"""Aave V3.0 account and liquidation model: rounding vectors, e-mode, close factor, properties.

The wei-exact comparison against the real bytecode is tests/integration/test_exact_lending.py;
these pin the arithmetic itself (half-up rounding, floors, branch boundaries) without a chain.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols import aave_v3 as aave
from tallyio.protocols.aave_v3_math import (
    HALF_RAY,
    HALF_WAD,
    MAX_UINT256,
    RAY,
    SECONDS_PER_YEAR,
    WAD,
    AaveMathError,
    calculate_compounded_interest,
    calculate_linear_interest,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    ray_to_wad,
    wad_div,
    wad_mul,
    wad_to_ray,
)

WETH, USDC, DAI = "0xWETH", "0xUSDC", "0xDAI"
T0 = 1_700_000_000
uints = st.integers(min_value=0, max_value=2**120)
positive = st.integers(min_value=1, max_value=2**120)


def half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))  # floor(x + 1/2) for x >= 0


def reserve(asset: str, **changes: int | bool) -> aave.ReserveData:
    base = {
        WETH: aave.ReserveData(WETH, 0, 18, 2_000 * 10**8, 8000, 8250, 10500, 1000, 0,
                               RAY, 0, RAY, 0, T0),
        USDC: aave.ReserveData(USDC, 2, 6, 10**8, 7700, 8000, 10450, 1000, 1,
                               RAY, 0, RAY, 0, T0),
        DAI: aave.ReserveData(DAI, 3, 18, 10**8, 7500, 7700, 10500, 1000, 1,
                              RAY, 0, RAY, 0, T0),
    }[asset]  # fmt: skip
    return replace(base, **changes)


def market(**prices: int) -> dict[str, aave.ReserveData]:
    out = {a: reserve(a) for a in (WETH, USDC, DAI)}
    for asset, price in prices.items():
        key = {"weth": WETH, "usdc": USDC, "dai": DAI}[asset]
        out[key] = replace(out[key], price=price)
    return out


def borrower(weth: int = 10 * 10**18, usdc_debt: int = 15_800 * 10**6) -> aave.UserAccount:
    """The devnet's first seeded position: 10 WETH against 15,800 USDC (HF 1.044)."""
    return aave.UserAccount(
        (
            aave.UserReserve(WETH, scaled_a_token_balance=weth, using_as_collateral=True),
            aave.UserReserve(USDC, scaled_variable_debt=usdc_debt, borrowing=True),
        )
    )


STABLES = aave.EModeCategory(1, 9700, 9750, 10100)


# -- WadRayMath / PercentageMath -------------------------------------------------------------
def test_half_up_boundaries() -> None:
    assert ray_mul(1, HALF_RAY) == 1 and ray_mul(1, HALF_RAY - 1) == 0
    assert wad_mul(1, HALF_WAD) == 1 and wad_mul(1, HALF_WAD - 1) == 0
    assert ray_div(1, 2 * RAY) == 1 and ray_div(1, 2 * RAY + 2) == 0
    assert wad_div(1, 3) == 333_333_333_333_333_333
    assert percent_mul(1, 5000) == 1 and percent_mul(1, 4999) == 0
    assert percent_div(1, 3) == 3333 and percent_div(10_000, 10_500) == 9524
    assert ray_to_wad(1_500_000_000) == 2 and ray_to_wad(1_499_999_999) == 1
    assert wad_to_ray(7) == 7 * 10**9


def test_reverts_where_the_assembly_reverts() -> None:
    with pytest.raises(AaveMathError):
        wad_mul(MAX_UINT256, 2)
    with pytest.raises(AaveMathError):
        ray_div(1, 0)
    with pytest.raises(AaveMathError):
        percent_div(1, 0)
    with pytest.raises(AaveMathError):
        ray_mul((MAX_UINT256 - HALF_RAY) // 3 + 1, 3)
    assert ray_mul((MAX_UINT256 - HALF_RAY) // 3, 3) >= 0


@given(uints, positive)
def test_ray_and_wad_round_half_up(a: int, b: int) -> None:
    assert ray_mul(a, b) == half_up(Fraction(a * b, RAY))
    assert wad_mul(a, b) == half_up(Fraction(a * b, WAD))
    assert ray_div(a, b) == int(Fraction(a * RAY + b // 2, b))
    assert wad_div(a, b) == int(Fraction(a * WAD + b // 2, b))


@given(uints, st.integers(min_value=1, max_value=10**4))
def test_percent_math_rounds_half_up(value: int, bps: int) -> None:
    assert percent_mul(value, bps) == half_up(Fraction(value * bps, 10**4))
    assert percent_div(value, bps) == (value * 10**4 + bps // 2) // bps


# -- MathUtils / ReserveLogic ----------------------------------------------------------------
def test_interest_vectors() -> None:
    rate = 5 * RAY // 100  # 5% a year
    assert calculate_linear_interest(rate, T0, T0 + SECONDS_PER_YEAR) == RAY + rate
    assert calculate_compounded_interest(rate, T0, T0) == RAY
    assert calculate_compounded_interest(rate, T0, T0 + 1) == RAY + rate // SECONDS_PER_YEAR
    year = calculate_compounded_interest(rate, T0, T0 + SECONDS_PER_YEAR)
    # 1 + x + x^2/2 + x^3/6 at x = 0.05 is 1.0512708; the per-second powers are floored
    # (x^3 / year^3 truncates to 3 wei), so the contract gets 1.0512657 - pinned here.
    assert year == 1_051_265_681_539_063_650_421_944_000
    with pytest.raises(AaveMathError):
        calculate_compounded_interest(rate, T0, T0 - 1)


@given(st.integers(0, 10 * RAY), st.integers(0, 10 * SECONDS_PER_YEAR), st.integers(0, 10**6))
def test_interest_grows_with_time(rate: int, elapsed: int, more: int) -> None:
    now, later = T0 + elapsed, T0 + elapsed + more
    assert calculate_compounded_interest(rate, T0, now) <= calculate_compounded_interest(
        rate, T0, later
    )
    assert calculate_linear_interest(rate, T0, now) <= calculate_compounded_interest(rate, T0, now)


def test_normalized_indexes_use_the_stored_index_in_the_update_block() -> None:
    r = reserve(
        USDC,
        liquidity_index=RAY + 7,
        variable_borrow_index=RAY + 9,
        current_liquidity_rate=RAY // 10,
        current_variable_borrow_rate=RAY // 5,
    )
    assert aave.get_normalized_income(r, T0) == RAY + 7
    assert aave.get_normalized_debt(r, T0) == RAY + 9
    later = T0 + 86_400
    assert aave.get_normalized_income(r, later) == ray_mul(
        calculate_linear_interest(RAY // 10, T0, later), RAY + 7
    )
    assert aave.get_normalized_debt(r, later) == ray_mul(
        calculate_compounded_interest(RAY // 5, T0, later), RAY + 9
    )


def test_stable_debt_balance() -> None:
    assert aave.stable_debt_balance_of(0, RAY, T0, T0 + 10**6) == 0
    assert aave.stable_debt_balance_of(1_000, RAY // 10, T0, T0) == 1_000
    grown = aave.stable_debt_balance_of(10**18, RAY // 10, T0, T0 + SECONDS_PER_YEAR)
    assert 1_105 * 10**15 < grown < 1_106 * 10**15  # ~10.5% compounded per second


# -- configuration words ---------------------------------------------------------------------
def test_decode_reserve_configuration() -> None:
    word = (8000 | 8250 << 16 | 10500 << 32 | 18 << 48 | 1 << 56 | 1 << 58 | 1 << 63
            | 1500 << 64 | 1000 << 152 | 1 << 168)  # fmt: skip
    config = aave.decode_reserve_configuration(word)
    assert (config.ltv, config.liquidation_threshold, config.liquidation_bonus) == (
        8000,
        8250,
        10500,
    )
    assert (config.decimals, config.reserve_factor, config.liquidation_protocol_fee) == (
        18,
        1500,
        1000,
    )
    assert config.active and config.borrowing_enabled and not config.frozen and not config.paused
    assert not config.stable_borrowing_enabled and config.emode_category == 1


def test_decode_user_configuration() -> None:
    word = 0b10_01_11  # reserve 0: both, reserve 1: borrowing, reserve 2: collateral
    assert aave.decode_user_configuration(word, 0) == (True, True)
    assert aave.decode_user_configuration(word, 1) == (True, False)
    assert aave.decode_user_configuration(word, 2) == (False, True)
    assert aave.decode_user_configuration(word, 3) == (False, False)


# -- GenericLogic ----------------------------------------------------------------------------
def test_seeded_position_account_data() -> None:
    data = aave.calculate_user_account_data(market(), borrower(), T0)
    assert data.total_collateral_base == 20_000 * 10**8
    assert data.total_debt_base == 15_800 * 10**8
    assert (data.current_liquidation_threshold, data.ltv) == (8250, 8000)
    assert data.available_borrows_base == 200 * 10**8
    assert data.health_factor == half_up(Fraction(16_500, 15_800) * WAD)


def test_empty_account_and_no_debt() -> None:
    empty = aave.calculate_user_account_data(market(), aave.UserAccount(()), T0)
    assert empty.as_tuple() == (0, 0, 0, 0, 0, MAX_UINT256)
    lender = aave.calculate_user_account_data(market(), borrower(usdc_debt=0), T0)
    assert lender.health_factor == MAX_UINT256  # the borrowing bit is set, but nothing is owed


def test_value_floors_per_asset() -> None:
    # 1 wei of WETH at $2,000 is 2e-7 base units: floored to zero, like the contract;
    # 1 wei of USDC (6 decimals) is 100 base units (8 decimals).
    data = aave.calculate_user_account_data(market(), borrower(weth=1, usdc_debt=1), T0)
    assert (data.total_collateral_base, data.total_debt_base) == (0, 100)
    assert data.current_liquidation_threshold == 0


def test_zero_ltv_collateral_counts_for_threshold_only() -> None:
    reserves = market()
    reserves[WETH] = replace(reserves[WETH], ltv=0)
    data = aave.calculate_user_account_data(reserves, borrower(), T0)
    assert data.has_zero_ltv_collateral and data.ltv == 0 and data.available_borrows_base == 0
    assert data.current_liquidation_threshold == 8250


def test_emode_overrides_thresholds_of_its_assets_only() -> None:
    account = aave.UserAccount(
        (
            aave.UserReserve(
                DAI, scaled_a_token_balance=100_000 * 10**18, using_as_collateral=True
            ),
            aave.UserReserve(WETH, scaled_a_token_balance=10**18, using_as_collateral=True),
            aave.UserReserve(USDC, scaled_variable_debt=94_000 * 10**6, borrowing=True),
        ),
        emode_category=1,
    )
    data = aave.calculate_user_account_data(market(), account, T0, STABLES)
    weighted = 100_000 * 9750 + 2_000 * 8250  # DAI at the category's 97.5%, WETH at its own
    assert data.current_liquidation_threshold == weighted // 102_000
    assert data.ltv == (100_000 * 9700 + 2_000 * 8000) // 102_000
    with pytest.raises(ValueError, match="e-mode"):
        aave.calculate_user_account_data(market(), account, T0)


def test_emode_price_source_prices_its_assets() -> None:
    account = aave.UserAccount(
        (
            aave.UserReserve(DAI, scaled_a_token_balance=1_000 * 10**18, using_as_collateral=True),
            aave.UserReserve(USDC, scaled_variable_debt=500 * 10**6, borrowing=True),
        ),
        emode_category=1,
    )
    depegged = market(dai=90 * 10**6)
    plain = aave.calculate_user_account_data(depegged, account, T0, STABLES)
    assert plain.total_collateral_base == 900 * 10**8
    sourced = replace(STABLES, price_source="0xORACLE", price=10**8)
    data = aave.calculate_user_account_data(depegged, account, T0, sourced)
    assert (data.total_collateral_base, data.total_debt_base) == (1_000 * 10**8, 500 * 10**8)


# -- LiquidationLogic ------------------------------------------------------------------------
def test_close_factor_boundary() -> None:
    assert aave.close_factor(aave.CLOSE_FACTOR_HF_THRESHOLD) == 10_000
    assert aave.close_factor(aave.CLOSE_FACTOR_HF_THRESHOLD + 1) == 5_000
    assert aave.close_factor(0) == 10_000 and aave.close_factor(MAX_UINT256) == 5_000


def test_collateral_to_liquidate_vector() -> None:
    # tests/integration/test_devnet_aave.py's liquidation: 5,000 USDC against WETH at $1,900.
    out = aave.calculate_available_collateral_to_liquidate(
        collateral_price=1_900 * 10**8, debt_price=10**8, collateral_decimals=18,
        debt_decimals=6, debt_to_cover=5_000 * 10**6, user_collateral_balance=10 * 10**18,
        liquidation_bonus=10_500, liquidation_protocol_fee=1_000,
    )  # fmt: skip
    base = 10**8 * 5_000 * 10**6 * 10**18 // (1_900 * 10**8 * 10**6)
    with_bonus = percent_mul(base, 10_500)
    fee = percent_mul(with_bonus - percent_div(with_bonus, 10_500), 1_000)
    assert out == aave.AvailableCollateral(with_bonus - fee, 5_000 * 10**6, fee)


def test_collateral_capped_by_the_balance() -> None:
    out = aave.calculate_available_collateral_to_liquidate(
        collateral_price=2_000 * 10**8, debt_price=10**8, collateral_decimals=18,
        debt_decimals=6, debt_to_cover=10_000 * 10**6, user_collateral_balance=10**18,
        liquidation_bonus=10_500, liquidation_protocol_fee=0,
    )  # fmt: skip
    assert out.collateral_amount == 10**18 and out.protocol_fee == 0
    assert out.debt_amount_needed == percent_div(2_000 * 10**6, 10_500)


def test_liquidation_reverts_like_the_pool() -> None:
    with pytest.raises(aave.LiquidationCallError) as err:
        aave.execute_liquidation_call(market(), borrower(), collateral_asset=WETH, debt_asset=USDC,
                                      debt_to_cover=1, timestamp=T0)  # fmt: skip
    assert err.value.code == "45"
    crashed = market(weth=1_500 * 10**8)
    with pytest.raises(aave.LiquidationCallError) as err:
        aave.execute_liquidation_call(crashed, borrower(), collateral_asset=DAI, debt_asset=USDC,
                                      debt_to_cover=1, timestamp=T0)  # fmt: skip
    assert err.value.code == "46"
    with pytest.raises(aave.LiquidationCallError) as err:
        aave.execute_liquidation_call(crashed, borrower(), collateral_asset=WETH, debt_asset=DAI,
                                      debt_to_cover=1, timestamp=T0)  # fmt: skip
    assert err.value.code == "47"


@pytest.mark.parametrize(("weth_price", "factor"), [(1_900, 5_000), (1_800, 10_000)])
def test_liquidation_caps_the_debt_by_the_close_factor(weth_price: int, factor: int) -> None:
    result = aave.execute_liquidation_call(
        market(weth=weth_price * 10**8), borrower(), collateral_asset=WETH, debt_asset=USDC,
        debt_to_cover=MAX_UINT256, timestamp=T0,
    )  # fmt: skip
    assert result.close_factor == factor
    assert result.debt_repaid == percent_mul(15_800 * 10**6, factor)
    assert result.debt_cleared == (factor == 10_000)
    assert result.health_factor < 10**18


def test_full_seizure_disables_the_collateral() -> None:
    result = aave.execute_liquidation_call(
        market(weth=1_000 * 10**8), borrower(), collateral_asset=WETH, debt_asset=USDC,
        debt_to_cover=MAX_UINT256, timestamp=T0,
    )  # fmt: skip
    assert result.collateral_cleared
    assert result.collateral_to_liquidator + result.protocol_fee == 10 * 10**18
    assert result.debt_repaid < 15_800 * 10**6


# -- properties ------------------------------------------------------------------------------
prices = st.integers(min_value=10**6, max_value=10**13)


@given(prices, prices, st.integers(1, 10**30), st.integers(1, 10**14))
def test_health_factor_monotone_in_prices(p1: int, p2: int, weth: int, debt: int) -> None:
    low, high = sorted((p1, p2))
    account = borrower(weth=weth, usdc_debt=debt)

    def hf(weth_price: int, usdc_price: int) -> int:
        reserves = market(weth=weth_price, usdc=usdc_price)
        return aave.calculate_user_account_data(reserves, account, T0).health_factor

    assert hf(low, 10**8) <= hf(high, 10**8)  # collateral up: HF up
    assert hf(2_000 * 10**8, low) >= hf(2_000 * 10**8, high)  # debt up: HF down


@settings(max_examples=200)
@given(st.integers(1, 10**13), st.integers(1, 10**13), prices, st.integers(10_001, 12_000))
def test_seized_collateral_monotone_in_repay(a: int, b: int, price: int, bonus: int) -> None:
    def seized(cover: int) -> tuple[int, int]:
        out = aave.calculate_available_collateral_to_liquidate(
            collateral_price=price, debt_price=10**8, collateral_decimals=18, debt_decimals=6,
            debt_to_cover=cover, user_collateral_balance=10**22, liquidation_bonus=bonus,
            liquidation_protocol_fee=1_000,
        )  # fmt: skip
        assert out.debt_amount_needed <= cover
        return out.collateral_amount + out.protocol_fee, out.debt_amount_needed

    small, large = sorted((a, b))
    assert seized(small) <= seized(large)


@given(st.integers(0, 2 * 10**18))
def test_close_factor_is_half_or_all(hf: int) -> None:
    expected = 10_000 if hf <= 95 * 10**16 else 5_000
    assert aave.close_factor(hf) == expected


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**130))
def test_overflow_guards_match_the_assembly(a: int, b: int) -> None:
    """`a > (MAX - HALF) / b` (the library's check) exactly when the model raises."""
    reverts = b != 0 and a > (MAX_UINT256 - HALF_RAY) // b
    try:
        ray_mul(a, b)
    except AaveMathError:
        assert reverts
    else:
        assert not reverts
    div_reverts = b == 0 or a > (MAX_UINT256 - b // 2) // RAY
    try:
        ray_div(a, b)
    except AaveMathError:
        assert div_reverts
    else:
        assert not div_reverts
