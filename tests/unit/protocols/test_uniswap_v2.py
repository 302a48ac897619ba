"""Uniswap V2 math: hand-checked vectors, the pair's K check, and properties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallyio.protocols.uniswap_v2 import (
    BPS,
    MAX_UINT112,
    InsufficientInputAmount,
    InsufficientLiquidity,
    InsufficientOutputAmount,
    PoolStateError,
    ReserveOverflow,
    SwapError,
    V2Pool,
    get_amount_in,
    get_amount_out,
    get_amounts_in,
    get_amounts_out,
)

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
reserves = st.integers(min_value=1, max_value=MAX_UINT112)
amounts = st.integers(min_value=1, max_value=2**112)
fees = st.sampled_from([0, 5, 25, 30, 100, 1000])


def pair_accepts(amount_in: int, amount_out: int, r_in: int, r_out: int, fee_bps: int) -> bool:
    """UniswapV2Pair.swap's K check (fee scaled to bps) after `amount_in` came in."""
    if amount_out >= r_out:
        return False
    adjusted_in = (r_in + amount_in) * BPS - amount_in * fee_bps
    return adjusted_in * (r_out - amount_out) * BPS >= r_in * r_out * BPS * BPS


# -- hand-checked vectors -------------------------------------------------------------------
def test_get_amount_out_vectors() -> None:
    # 1000 * 9970 * 1e6 / (1e6 * 10000 + 9_970_000) = 996.0069...
    assert get_amount_out(1_000, 10**6, 10**6) == 996
    # 10_000 in: 30 bps -> 9871.58..., Pancake's 25 bps -> 9876.47...
    assert get_amount_out(10_000, 10**6, 10**6) == 9_871
    assert get_amount_out(10_000, 10**6, 10**6, fee_bps=25) == 9_876
    # 1 WETH into 100 WETH / 200k USDC: 1e18 * 9970 * 2e11 / (1e22 * 1e4 + 9.97e21) = 1974.316...
    assert get_amount_out(10**18, 100 * 10**18, 200_000 * 10**6) == 1_974_316_068
    assert get_amount_out(1, 10**6, 10**6) == 0  # dust rounds to nothing, as on chain


def test_get_amount_in_vectors_include_the_plus_one() -> None:
    # 1e6 * 996 * 1e4 / (999_004 * 9970) = 999.99... -> 999 + 1
    assert get_amount_in(996, 10**6, 10**6) == 1_000
    # 997 * 1000 * 1e4 / (1000 * 9970) = 1000 exactly: the library still adds one
    assert get_amount_in(1_000, 997, 2_000) == 1_001
    assert get_amount_out(1_000, 997, 2_000) == 1_000  # 1000 in would already have paid it
    assert get_amount_in(9_876, 10**6, 10**6, fee_bps=25) == 10_000


def test_library_errors_mirror_the_requires() -> None:
    with pytest.raises(InsufficientInputAmount):
        get_amount_out(0, 10, 10)
    with pytest.raises(InsufficientLiquidity):
        get_amount_out(1, 0, 10)
    with pytest.raises(InsufficientOutputAmount):
        get_amount_in(0, 10, 10)
    with pytest.raises(InsufficientLiquidity):
        get_amount_in(1, 10, 0)
    with pytest.raises(InsufficientLiquidity):
        get_amount_in(10, 10, 10)  # the whole reserve out
    with pytest.raises(SwapError):
        get_amounts_out(1, [], [])
    assert issubclass(InsufficientLiquidity, ValueError)


def test_get_amounts_out_and_in_chain_hops() -> None:
    path = [(10**6, 2 * 10**6), (5 * 10**6, 10**6)]
    amounts = get_amounts_out(10_000, path, [30, 25])
    first = get_amount_out(10_000, *path[0])
    assert amounts == [10_000, first, get_amount_out(first, *path[1], fee_bps=25)]
    back = get_amounts_in(amounts[-1], path, [30, 25])
    assert back[-1] == amounts[-1]
    assert back[1] == get_amount_in(amounts[-1], *path[1], fee_bps=25)
    assert back[0] == get_amount_in(back[1], *path[0])
    with pytest.raises(ValueError, match="fees"):
        get_amounts_out(1, path, [30])


# -- properties -----------------------------------------------------------------------------
@given(amounts, reserves, reserves, fees)
def test_amount_out_is_the_largest_the_pair_accepts(a: int, r_in: int, r_out: int, f: int) -> None:
    out = get_amount_out(a, r_in, r_out, f)
    exact = Fraction(a * (BPS - f) * r_out, r_in * BPS + a * (BPS - f))
    assert out == exact.numerator // exact.denominator
    assert 0 <= out < r_out
    assert out == 0 or pair_accepts(a, out, r_in, r_out, f)
    assert not pair_accepts(a, out + 1, r_in, r_out, f)


@given(amounts, amounts, reserves, reserves, fees)
def test_amount_out_is_monotonic(a: int, b: int, r_in: int, r_out: int, f: int) -> None:
    lo, hi = sorted((a, b))
    assert get_amount_out(lo, r_in, r_out, f) <= get_amount_out(hi, r_in, r_out, f)
    assert get_amount_out(a, r_in, r_out, 30) <= get_amount_out(a, r_in, r_out, 25)


@given(st.data(), reserves, reserves, fees)
def test_round_trips(data: st.DataObject, r_in: int, r_out: int, f: int) -> None:
    want = data.draw(st.integers(min_value=1, max_value=max(1, r_out - 1)))
    if want >= r_out:
        return
    paid = get_amount_in(want, r_in, r_out, f)
    assert get_amount_out(paid, r_in, r_out, f) >= want  # the quoted input buys the output
    assert pair_accepts(paid, want, r_in, r_out, f)
    if paid > 2:  # paid is floor(exact) + 1, so two less can never be enough
        assert get_amount_out(paid - 2, r_in, r_out, f) < want
    got = get_amount_out(paid, r_in, r_out, f)
    assert get_amount_in(got, r_in, r_out, f) <= paid + 1  # at most the library's +1 above


# -- V2Pool ---------------------------------------------------------------------------------
def test_pool_quotes_both_directions_and_moves() -> None:
    pool = V2Pool("0xpair", A, B, 10**6, 2 * 10**6)
    assert pool.amount_out(A, 1_000) == get_amount_out(1_000, 10**6, 2 * 10**6)
    assert pool.amount_out(B, 1_000) == get_amount_out(1_000, 2 * 10**6, 10**6)
    assert pool.amount_out(A.upper().replace("0X", "0x"), 1_000) == pool.amount_out(A, 1_000)
    assert pool.amount_in(A, 500) == get_amount_in(500, 10**6, 2 * 10**6)
    out = pool.amount_out(A, 1_000)
    moved = pool.after_swap(A, 1_000, out)
    assert (moved.reserve0, moved.reserve1) == (10**6 + 1_000, 2 * 10**6 - out)
    assert pool.with_reserves(5, 6) == V2Pool("0xpair", A, B, 5, 6)
    assert pool.reserve0 == 10**6  # values, never mutated
    pancake = V2Pool("0xcake", A, B, 10**6, 10**6, fee_bps=25)
    assert pancake.amount_out(A, 10_000) == 9_876
    with pytest.raises(ValueError, match="not a token"):
        pool.amount_out("0x" + "cc" * 20, 1)


def test_pool_refuses_impossible_state_and_uint112_overflow() -> None:
    with pytest.raises(PoolStateError):
        V2Pool("0xp", A, B, -1, 1)
    with pytest.raises(PoolStateError):
        V2Pool("0xp", A, B, 1, MAX_UINT112 + 1)
    with pytest.raises(PoolStateError):
        V2Pool("0xp", A, B, 1, 1, fee_bps=BPS)
    with pytest.raises(PoolStateError):
        V2Pool("0xp", A, A.upper(), 1, 1)
    pool = V2Pool("0xp", A, B, MAX_UINT112 - 10, 10**6)
    with pytest.raises(ReserveOverflow):
        pool.amount_out(A, 11)
    assert pool.amount_out(A, 10) >= 0
