"""Compound V3 (Comet) model: hand-checked vectors, Comet's own quoteCollateral vectors, and
properties of the liquidation check and absorb.

No Comet bytecode is on the devnet, so these pin the model to the public Comet.sol instead.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols.compound_v3 import (
    BASE_INDEX_SCALE,
    AssetInfo,
    CometAccount,
    CometError,
    CometMarket,
    CometPrices,
    absorb,
    accrued_interest_indices,
    is_borrow_collateralized,
    is_liquidatable,
    present_value,
    present_value_borrow,
    present_value_supply,
    principal_value,
    principal_value_borrow,
    principal_value_supply,
    quote_collateral,
    repay_and_supply_amount,
    signed_mul_price,
)

E18 = 10**18
E8 = 10**8
USDC = 10**6
PROPS = settings(max_examples=100, deadline=None)


def asset(offset: int, name: str, decimals: int, bcf: float, lcf: float, lf: float) -> AssetInfo:
    def factor(x: float) -> int:
        return round(x * 10**4) * 10**14  # Comet keeps 4 decimals of each factor

    return AssetInfo(
        offset=offset,
        asset=name,
        price_feed=f"{name}-feed",
        scale=10**decimals,
        borrow_collateral_factor=factor(bcf),
        liquidate_collateral_factor=factor(lcf),
        liquidation_factor=factor(lf),
        supply_cap=10**30,
    )


WETH = asset(0, "WETH", 18, 0.825, 0.85, 0.9)
WBTC = asset(1, "WBTC", 8, 0.70, 0.77, 0.95)
MARKET = CometMarket(
    address="0xc3d688B66703497DAA19211EEdff47f25384cdc3",
    base_token="USDC",
    base_scale=USDC,
    store_front_price_factor=6 * 10**17,
    assets=(WETH, WBTC),
)
PRICES = CometPrices(base=E8, assets=(2000 * E8, 60_000 * E8))


def borrower(debt_usdc: int, weth: int = E18, wbtc: int = 0) -> CometAccount:
    return CometAccount("0xborrower", principal=-debt_usdc, collateral=(weth, wbtc))


# -- Principal and present value ---------------------------------------------------------------
def test_present_value_uses_the_index_for_the_sign() -> None:
    supply_index, borrow_index = 105 * 10**13, 110 * 10**13  # 1.05 and 1.10
    assert present_value(100 * USDC, supply_index, borrow_index) == 105 * USDC
    assert present_value(-100 * USDC, supply_index, borrow_index) == -110 * USDC
    # both round the magnitude down: a debt of 1 wei principal at 1.5 is 1 wei, not 2
    assert present_value_borrow(15 * 10**14, 1) == 1
    assert present_value(-1, BASE_INDEX_SCALE, 15 * 10**14) == -1
    # back to principal: supply rounds down, borrow rounds up
    assert principal_value_supply(15 * 10**14, 1) == 0
    assert principal_value_borrow(15 * 10**14, 1) == 1
    assert principal_value(-110 * USDC, supply_index, borrow_index) == -100 * USDC


def test_signed_price_math_truncates_toward_zero() -> None:
    assert signed_mul_price(-1, 1, 2) == 0  # Solidity int division, not floor (-1)
    assert signed_mul_price(-3, 1, 2) == -1
    assert signed_mul_price(3, 1, 2) == 1


def test_accrued_interest_indices() -> None:
    # 1e9 per second (about 3.2% a year) for 1000 s: index * 1e12 / 1e18 = 1e9 more.
    assert accrued_interest_indices(BASE_INDEX_SCALE, BASE_INDEX_SCALE, 10**9, 2 * 10**9, 1000) == (
        BASE_INDEX_SCALE + 10**9,
        BASE_INDEX_SCALE + 2 * 10**9,
    )
    assert accrued_interest_indices(7, 9, 10**9, 10**9, 0) == (7, 9)


def test_repay_and_supply_amount() -> None:
    assert repay_and_supply_amount(-100, -40) == (60, 0)
    assert repay_and_supply_amount(-100, 30) == (100, 30)
    assert repay_and_supply_amount(20, 50) == (0, 30)
    assert repay_and_supply_amount(50, 20) == (0, 0)


@PROPS
@given(st.integers(1, 2**100), st.integers(BASE_INDEX_SCALE, 10 * BASE_INDEX_SCALE))
def test_principal_round_trips(principal: int, index: int) -> None:
    # presentValue rounds down, so a supply principal can come back one short; the borrow
    # principal's round-up brings it back exactly (the index never falls below 1e15).
    back = principal_value_supply(index, present_value_supply(index, principal))
    assert principal - 1 <= back <= principal
    assert principal_value_borrow(index, present_value_borrow(index, principal)) == principal


# -- isLiquidatable ----------------------------------------------------------------------------
def test_liquidation_boundary_by_hand() -> None:
    # 1 WETH at $2000 with a liquidate CF of 0.85 backs exactly $1700 of debt.
    assert not is_liquidatable(borrower(1700 * USDC), MARKET, PRICES)
    assert is_liquidatable(borrower(1700 * USDC + 1), MARKET, PRICES)
    # the borrow CF 0.825 is stricter: $1650
    assert is_borrow_collateralized(borrower(1650 * USDC), MARKET, PRICES)
    assert not is_borrow_collateralized(borrower(1650 * USDC + 1), MARKET, PRICES)
    # a supplier is never liquidatable; a borrower with no collateral always is
    supplier = CometAccount("0xs", principal=5 * USDC, collateral=(0, 0))
    assert not is_liquidatable(supplier, MARKET, PRICES)
    assert is_liquidatable(borrower(1, weth=0), MARKET, PRICES)


def test_liquidation_sums_assets_rounding_each_down() -> None:
    # 0.5 WETH ($1000 * 0.85 = $850) + 0.01 WBTC ($600 * 0.77 = $462) = $1312
    account = borrower(1312 * USDC, weth=E18 // 2, wbtc=10**6)
    assert not is_liquidatable(account, MARKET, PRICES)
    assert is_liquidatable(replace(account, principal=-(1312 * USDC + 1)), MARKET, PRICES)
    assert account.assets_in == 0b11
    assert borrower(1, weth=0, wbtc=1).assets_in == 0b10


def test_liquidation_follows_the_borrow_index() -> None:
    # a principal of 1650 grows to 1716 at a borrow index of 1.04: now liquidatable
    indexed = replace(MARKET, base_borrow_index=104 * 10**13)
    assert not is_liquidatable(borrower(1650 * USDC), MARKET, PRICES)
    assert is_liquidatable(borrower(1650 * USDC), indexed, PRICES)


@PROPS
@given(
    st.integers(1, 10**7),  # debt in whole USDC
    st.integers(0, 10**3 * E18),  # WETH
    st.integers(0, 10**3 * 10**8),  # WBTC
    st.integers(1, 10**6),  # WETH price, whole dollars
    st.integers(1, 10**6),  # price drop, whole dollars
)
def test_liquidatable_flips_once_as_price_falls(
    debt: int, weth: int, wbtc: int, price: int, drop: int
) -> None:
    account = borrower(debt * USDC, weth=weth, wbtc=wbtc)
    high = CometPrices(E8, (price * E8 + drop * E8, 60_000 * E8))
    low = CometPrices(E8, (price * E8, 60_000 * E8))
    if is_liquidatable(account, MARKET, high):
        assert is_liquidatable(account, MARKET, low)
    # more debt never makes an account safer
    if is_liquidatable(account, MARKET, low):
        assert is_liquidatable(replace(account, principal=account.principal - 1), MARKET, low)
    # borrow-collateralized (stricter factor) implies not liquidatable
    if is_borrow_collateralized(account, MARKET, low):
        assert not is_liquidatable(account, MARKET, low)


# -- quoteCollateral ---------------------------------------------------------------------------
def test_quote_collateral_vectors_from_comets_tests() -> None:
    # Comet's own quoteCollateral unit test: USDC base at $1, COMP (18 decimals) at $200,
    # storeFrontPriceFactor 0.5, liquidationFactor 0.6: discount 0.5 * 0.4 = 20%, price $160,
    # so 200 USDC buys 1.25 COMP.
    comp = asset(0, "COMP", 18, 0.5, 0.55, 0.6)
    market = CometMarket("0xcomet", "USDC", USDC, 5 * 10**17, (comp,))
    prices = CometPrices(E8, (200 * E8,))
    assert quote_collateral(comp, 200 * USDC, market, prices) == 125 * 10**16
    # storeFrontPriceFactor 0.8, liquidationFactor 0.75: 0.8 * 0.25 = 20% again
    market = replace(market, store_front_price_factor=8 * 10**17)
    comp = replace(comp, liquidation_factor=75 * 10**16)
    assert quote_collateral(comp, 200 * USDC, market, prices) == 125 * 10**16
    # no discount (liquidationFactor 1): 200 USDC buys exactly 1 COMP
    comp = replace(comp, liquidation_factor=E18)
    assert quote_collateral(comp, 200 * USDC, market, prices) == E18
    assert quote_collateral(comp, 0, market, prices) == 0


def test_quote_collateral_by_hand() -> None:
    # WETH: discount 0.6 * (1 - 0.9) = 6%, price $1880; 1880 USDC buys exactly 1 WETH
    assert quote_collateral(WETH, 1880 * USDC, MARKET, PRICES) == E18
    # WBTC (8 decimals): discount 0.6 * 0.05 = 3%, price $58,200; 582 USDC buys 0.01 WBTC
    assert quote_collateral(WBTC, 582 * USDC, MARKET, PRICES) == 10**6
    assert MARKET.asset_info("weth") is WETH
    with pytest.raises(CometError, match="BadAsset"):
        MARKET.asset_info("DAI")


@PROPS
@given(st.integers(0, 10**15), st.integers(1, 10**7))
def test_quote_is_monotone_and_discounted(base_amount: int, price: int) -> None:
    prices = CometPrices(E8, (price * E8, 60_000 * E8))
    quoted = quote_collateral(WETH, base_amount, MARKET, prices)
    assert quoted <= quote_collateral(WETH, base_amount + 1, MARKET, prices)
    # the buyer gets at least the undiscounted amount (rounded down)
    assert quoted >= base_amount * E18 // (price * USDC)


# -- absorb ------------------------------------------------------------------------------------
def test_absorb_by_hand_debt_fully_covered() -> None:
    # 1800 USDC debt, 1 WETH at $2000: liquidatable (0.85 * 2000 = 1700 < 1800).
    # Seized value $2000 * liquidationFactor 0.9 = $1800 credits 1800 USDC: balance back to 0.
    result = absorb(borrower(1800 * USDC), MARKET, PRICES)
    assert result.seized == (E18, 0)
    assert result.seized_value == (2000 * E8, 0)
    assert result.delta_value == 1800 * E8
    assert result.delta_balance == 1800 * USDC
    assert (result.old_balance, result.new_balance) == (-1800 * USDC, 0)
    assert (result.new_principal, result.repay_amount, result.supply_amount) == (0, 1800 * USDC, 0)
    assert result.base_paid_out == 1800 * USDC
    assert result.value_of_base_paid_out == 1800 * E8


def test_absorb_credits_surplus_and_floors_shortfall() -> None:
    # 1750 USDC debt against 1 WETH: $1800 credited, the $50 surplus becomes a supply.
    surplus = absorb(borrower(1750 * USDC), MARKET, PRICES)
    assert surplus.new_balance == 50 * USDC
    assert (surplus.repay_amount, surplus.supply_amount) == (1750 * USDC, 50 * USDC)
    # 2500 USDC debt: $1800 of credit leaves $700 the reserves absorb; the balance is floored
    shortfall = absorb(borrower(2500 * USDC), MARKET, PRICES)
    assert shortfall.new_balance == 0
    assert shortfall.base_paid_out == 2500 * USDC
    with pytest.raises(CometError, match="NotLiquidatable"):
        absorb(borrower(1700 * USDC), MARKET, PRICES)


@PROPS
@given(
    st.integers(1, 10**7),
    st.integers(0, 10**3 * E18),
    st.integers(0, 10**3 * 10**8),
    st.integers(1, 10**5),
    st.integers(BASE_INDEX_SCALE, 2 * BASE_INDEX_SCALE),
)
def test_absorb_accounting(debt: int, weth: int, wbtc: int, price: int, borrow_index: int) -> None:
    account = borrower(debt * USDC, weth=weth, wbtc=wbtc)
    market = replace(MARKET, base_borrow_index=borrow_index)
    prices = CometPrices(E8, (price * E8, 60_000 * E8))
    if not is_liquidatable(account, market, prices):
        return
    result = absorb(account, market, prices)
    assert result.new_balance >= 0
    assert result.base_paid_out == result.new_balance - result.old_balance > 0
    # the account ends with no debt and no collateral
    assert result.new_principal >= 0
    assert result.seized == account.collateral
    assert result.repay_amount == -account.principal
    # the credit never exceeds the collateral's value
    assert result.delta_value <= sum(result.seized_value)
