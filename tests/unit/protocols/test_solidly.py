"""Solidly V2 (Velodrome/Aerodrome) model: hand-checked vectors and swap properties.

No Solidly bytecode is on the devnet, so these pin the model to the public Pool.sol instead.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols.solidly import (
    SolidlyMathError,
    SolidlyPool,
    _d,
    _f,
    _get_y,
    _k,
    get_amount_out,
    swap_reserves,
)

E18 = 10**18
PROPS = settings(max_examples=80, deadline=None)


def uniswap_v2_get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut with the 0.3% fee, written out as the reference."""
    amount_in_with_fee = amount_in * 997
    return amount_in_with_fee * reserve_out // (reserve_in * 1000 + amount_in_with_fee)


def pool(reserve0: int, reserve1: int, decimals0: int, decimals1: int, stable: bool) -> SolidlyPool:
    return SolidlyPool(
        address="0xpool",
        token0="0x0000000000000000000000000000000000000001",
        token1="0x0000000000000000000000000000000000000002",
        reserve0=reserve0,
        reserve1=reserve1,
        decimals0=decimals0,
        decimals1=decimals1,
        stable=stable,
        fee=5 if stable else 30,
    )


T0 = "0x0000000000000000000000000000000000000001"
T1 = "0x0000000000000000000000000000000000000002"


# -- Hand-checked vectors ---------------------------------------------------------------------
def test_volatile_hand_vector() -> None:
    # 10 in, 0.3% off first: 9.97 in; 9.97 * 1000 / 1009.97 = 9.871580343970612988...
    out = get_amount_out(10 * E18, 0, 1000 * E18, 1000 * E18, E18, E18, False, 30)
    assert out == 9_871_580_343_970_612_988
    assert out == uniswap_v2_get_amount_out(10 * E18, 1000 * E18, 1000 * E18)


def test_stable_invariant_pieces() -> None:
    # x3y + y3x at x = y = 1 is 2; d/dy (x^3 y + y^3 x) = x^3 + 3 x y^2 = 4.
    assert _f(E18, E18) == 2 * E18
    assert _d(E18, E18) == 4 * E18
    # _k normalises each side by its decimals first: 1 USDC (6) and 1 DAI (18) is x = y = 1.
    assert _k(10**6, E18, 10**6, E18, True) == 2 * E18
    assert _k(3, 7, E18, E18, False) == 21  # volatile: plain x * y


def test_stable_balanced_pool_pays_input_less_fee() -> None:
    # At balance the stable curve's price is 1 and nearly flat: out ~ in * (1 - 0.05%).
    balanced = pool(10**6 * E18, 10**6 * E18, E18, E18, True)
    out = balanced.amount_out(E18, T0)
    assert 9995 * 10**14 - 10**6 < out < 9995 * 10**14
    # far flatter than the volatile curve for the same trade (0.3% fee, ~9% impact)
    assert get_amount_out(100 * E18, 0, 1000 * E18, 1000 * E18, E18, E18, True, 5) > (
        get_amount_out(100 * E18, 0, 1000 * E18, 1000 * E18, E18, E18, False, 5)
    )


def test_stable_normalises_mixed_decimals() -> None:
    usdc_dai = pool(10**6 * 10**6, 10**6 * E18, 10**6, E18, True)
    dai_per_usdc = usdc_dai.amount_out(10**6, T0)
    usdc_per_dai = usdc_dai.amount_out(E18, T1)
    assert 9995 * 10**14 - 10**6 < dai_per_usdc < 9995 * 10**14
    assert usdc_per_dai == 999_499  # 0.9995 USDC less dust, rounded down to 6 decimals


def test_get_y_revisions_differ_where_the_older_one_checks_k() -> None:
    # k < xy, the Newton step rounds to 0 and _f(x0, y + 1) is still below xy. The Aerodrome
    # (and earlier Velodrome) revision asks _k(x0, y + 1), which for a 6-decimal token0
    # re-scales x0 by 1e12 and passes, so it returns y + 1; the later revision keeps stepping
    # to the least y with _f >= xy.
    x0, y, xy = 647_804_867_124_654_903, 647_985_886_638_775_680, 352_411_051_825_458_459
    assert _f(x0, y) < xy and (xy - _f(x0, y)) * E18 // _d(x0, y) == 0 and _f(x0, y + 1) < xy
    assert _get_y(x0, xy, y, 10**6, E18, k_in_get_y=True) == y + 1
    assert _get_y(x0, xy, y, 10**6, E18, k_in_get_y=False) == y + 2
    assert _f(x0, y + 2) >= xy
    # with 18 decimals on both sides _k is _f and the revisions agree
    assert _get_y(x0, xy, y, E18, E18, True) == _get_y(x0, xy, y, E18, E18, False) == y + 2


def test_swap_bookkeeping_moves_the_fee_out() -> None:
    p = pool(1000 * E18, 1000 * E18, E18, E18, False)
    out = p.amount_out(10 * E18, T0)
    after = p.after_swap(10 * E18, T0)
    assert after.reserve0 == 1000 * E18 + 10 * E18 - 3 * 10**16  # 0.3% went to PoolFees
    assert after.reserve1 == 1000 * E18 - out
    assert after.k() >= p.k()
    assert p.reserve0 == 1000 * E18  # unchanged: frozen values


def test_swap_reverts_raise() -> None:
    reserves = (1000 * E18, 1000 * E18, E18, E18, False, 30)
    out = get_amount_out(10 * E18, 0, *reserves[:5], 30)
    with pytest.raises(SolidlyMathError, match="K"):
        swap_reserves(10 * E18, out + 10**9, 0, *reserves)
    with pytest.raises(SolidlyMathError, match="InsufficientLiquidity"):
        swap_reserves(10**30, 1000 * E18, 0, *reserves)
    with pytest.raises(SolidlyMathError):
        swap_reserves(10 * E18, 0, 0, *reserves)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="power of ten"):
        pool(1, 1, 6, 18, True)  # counts, not 10**decimals
    with pytest.raises(ValueError):
        pool(-1, 1, E18, E18, False)
    with pytest.raises(KeyError):
        pool(1, 1, E18, E18, False).side("0xdead")
    with pytest.raises(ValueError):
        get_amount_out(1, 2, 1, 1, E18, E18, False, 30)
    with pytest.raises(SolidlyMathError):
        get_amount_out(0, 0, 0, 1, E18, E18, False, 30)
    assert pool(1, 1, E18, E18, False).side(T1.upper().replace("0X", "0x")) == 1


# -- Properties -------------------------------------------------------------------------------
scales = st.sampled_from([10**6, 10**8, E18])


@st.composite
def pools(draw: st.DrawFn, stable: bool) -> SolidlyPool:
    """A pool whose normalised reserves are within a factor of 4 of each other."""
    d0, d1 = draw(scales), draw(scales)
    units = draw(st.integers(min_value=10**3, max_value=10**10))
    ratio = draw(st.integers(min_value=25, max_value=400))
    return pool(units * d0, units * d1 * ratio // 100, d0, d1, stable)


sides = st.sampled_from([(T0, 0), (T1, 1)])
ppm = st.integers(min_value=1, max_value=500_000)


def _amount(p: SolidlyPool, side: int, fraction_ppm: int) -> int:
    reserve = p.reserve0 if side == 0 else p.reserve1
    return max(reserve * fraction_ppm // 10**6, 1)


@PROPS
@given(st.booleans().flatmap(pools), sides, ppm)
def test_swap_keeps_k_and_pays_less_than_the_reserve(
    p: SolidlyPool, side: tuple[str, int], fraction: int
) -> None:
    token, index = side
    amount_in = _amount(p, index, fraction)
    out = p.amount_out(amount_in, token)
    assert 0 <= out < (p.reserve1 if index == 0 else p.reserve0)
    if out > 0:
        assert p.after_swap(amount_in, token).k() >= p.k()  # the contract's K check passes


@PROPS
@given(st.booleans().flatmap(pools), sides, ppm, ppm)
def test_amount_out_is_monotone(p: SolidlyPool, side: tuple[str, int], a: int, b: int) -> None:
    token, index = side
    small, large = sorted((_amount(p, index, a), _amount(p, index, b)))
    assert p.amount_out(small, token) <= p.amount_out(large, token)


@PROPS
@given(
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=10**3, max_value=10**30),
    st.integers(min_value=10**3, max_value=10**30),
)
def test_volatile_is_uniswap_v2_with_the_fee_off_the_input(k: int, r_in: int, r_out: int) -> None:
    # For inputs that are multiples of 1000 the 0.3% fee divides exactly and the two agree;
    # otherwise Solidly rounds the fee down, so it pays the same or a little more.
    assert get_amount_out(1000 * k, 0, r_in, r_out, E18, E18, False, 30) == (
        uniswap_v2_get_amount_out(1000 * k, r_in, r_out)
    )
    odd = 1000 * k + 7
    solidly = get_amount_out(odd, 0, r_in, r_out, E18, E18, False, 30)
    assert solidly >= uniswap_v2_get_amount_out(odd, r_in, r_out)


@PROPS
@given(pools(True), sides, ppm)
def test_stable_revisions_agree_with_18_decimals(
    p: SolidlyPool, side: tuple[str, int], fraction: int
) -> None:
    token, index = side
    amount_in = _amount(p, index, fraction)
    older = p.amount_out(amount_in, token)
    later = replace(p, k_in_get_y=False)
    if p.decimals0 == p.decimals1 == E18:
        assert later.amount_out(amount_in, token) == older
    else:  # the revisions can differ by one normalised unit of y, a raw unit at most
        assert abs(later.amount_out(amount_in, token) - older) <= 1
