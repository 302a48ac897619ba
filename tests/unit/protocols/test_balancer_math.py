"""Balancer V2 weighted math: LogExpMath, FixedPoint, WeightedMath and the pool's onSwap path.

The devnet test (tests/integration/test_exact_balancer.py) pins these to the bytecode; here they
are held to the real numbers (60-digit Decimal) within the error bounds the contracts promise,
to the rounding rules, to the revert codes, and to golden swaps recorded from the devnet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tallyio.protocols import balancer_logexp as logexp
from tallyio.protocols.balancer import (
    FOUR,
    ONE,
    TWO,
    BalancerMathError,
    WeightedPool,
    calc_in_given_out,
    calc_out_given_in,
    calculate_invariant,
    complement,
    div_down,
    div_up,
    flash_loan_fee,
    mul_down,
    mul_up,
    pow_down,
    pow_up,
    scaling_factor,
    sub,
)
from tallyio.protocols.balancer_logexp import _sdiv, _smod

D18 = Decimal(10) ** 18
WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
DAI = "0x" + "33" * 20


def real(x: int) -> Decimal:
    return Decimal(x) / D18


def exact_pow(x: int, y: int) -> Decimal:
    """x^y in 18-decimal units, to 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (real(x) ** real(y)) * D18


def raises_code(code: int) -> pytest.RaisesExc[BalancerMathError]:
    return pytest.raises(BalancerMathError, match=f"BAL#{code:03d}")


# -- Solidity signed division ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "q", "r"),
    [(7, 2, 3, 1), (-7, 2, -3, -1), (7, -2, -3, 1), (-7, -2, 3, -1), (0, 5, 0, 0), (-6, 3, -2, 0)],
)
def test_signed_division_truncates_toward_zero(a: int, b: int, q: int, r: int) -> None:
    assert (_sdiv(a, b), _smod(a, b)) == (q, r)
    assert _sdiv(a, b) * b + _smod(a, b) == a


# -- LogExpMath -----------------------------------------------------------------------------
def test_logexp_identities() -> None:
    assert logexp.exp(0) == ONE
    assert logexp.ln(ONE) == 0
    assert logexp.pow(ONE, 123 * ONE) == ONE
    assert logexp.pow(5 * ONE, 0) == ONE  # 0^0 and x^0 are one
    assert logexp.pow(0, ONE) == 0


def exact(f: str, x: int) -> Decimal:
    """exp or ln of an 18-decimal number, in 18-decimal units, to 60 digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        return getattr(real(x), f)() * D18


@pytest.mark.parametrize("x", [ONE, -ONE, 10 * ONE, ONE // 2, 130 * ONE, -41 * ONE, 7, -7])
def test_exp_matches_e_to_the_x(x: int) -> None:
    want = exact("exp", x)
    assert abs(logexp.exp(x) - want) <= max(want / 10**17, Decimal(1))


@pytest.mark.parametrize(
    "a", [2 * ONE, ONE // 2, 10**36, 1, ONE + 10**16, ONE - 10**16, 3 * 10**17, 10**50]
)
def test_ln_matches_natural_log(a: int) -> None:
    assert abs(logexp.ln(a) - exact("ln", a)) <= 1


@settings(max_examples=300, deadline=None)
@given(st.integers(-41 * ONE, 130 * ONE))
def test_exp_is_accurate_across_its_domain(x: int) -> None:
    want = exact("exp", x)
    assert abs(logexp.exp(x) - want) <= want / 10**17 + 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**200))
def test_ln_is_accurate_across_its_domain(a: int) -> None:
    assert abs(logexp.ln(a) - exact("ln", a)) <= 2  # truncations of 1 wei, twice below one


def test_logexp_reverts_outside_its_domain() -> None:
    with raises_code(logexp.INVALID_EXPONENT):
        logexp.exp(130 * ONE + 1)
    with raises_code(logexp.INVALID_EXPONENT):
        logexp.exp(-41 * ONE - 1)
    with raises_code(logexp.OUT_OF_BOUNDS):
        logexp.ln(0)
    with raises_code(logexp.X_OUT_OF_BOUNDS):
        logexp.pow(2**255, ONE)
    with raises_code(logexp.Y_OUT_OF_BOUNDS):
        logexp.pow(2 * ONE, logexp.MILD_EXPONENT_BOUND)
    with raises_code(logexp.PRODUCT_OUT_OF_BOUNDS):
        logexp.pow(10**36, 10 * ONE)  # (1e18)^10 = e^414


@settings(max_examples=300, deadline=None)
@given(st.integers(-41 * ONE, 130 * ONE))
def test_exp_of_ln_round_trips(x: int) -> None:
    y = logexp.exp(x)
    assume(y > 10**6)  # below that, 1 wei is a large relative step
    back = logexp.ln(y)
    assert abs(back - x) <= 10**18 // y + 10


@settings(max_examples=300, deadline=None)
@given(st.integers(10**15, 10**24), st.integers(10**16, 8 * ONE))
def test_pow_down_and_pow_up_bracket_the_true_power(x: int, y: int) -> None:
    truth = exact_pow(x, y)
    assume(Decimal(10**9) < truth < Decimal(10**40))
    assert pow_down(x, y) <= truth <= pow_up(x, y)
    assert pow_up(x, y) - pow_down(x, y) <= truth / 10**13 + 4


@pytest.mark.parametrize("x", [1, 7 * 10**17, ONE, 123_456_789 * 10**12, 3 * 10**27])
def test_pow_takes_the_exact_paths_for_one_two_and_four(x: int) -> None:
    assert pow_down(x, ONE) == pow_up(x, ONE) == x
    assert (pow_down(x, TWO), pow_up(x, TWO)) == (mul_down(x, x), mul_up(x, x))
    assert pow_down(x, FOUR) == mul_down(mul_down(x, x), mul_down(x, x))
    assert pow_up(x, FOUR) == mul_up(mul_up(x, x), mul_up(x, x))


def test_pow_down_floors_at_zero_and_pow_up_adds_the_error() -> None:
    raw = logexp.pow(2 * ONE, ONE // 2)
    max_error = mul_up(raw, 10_000) + 1
    assert (pow_down(2 * ONE, ONE // 2), pow_up(2 * ONE, ONE // 2)) == (
        raw - max_error,
        raw + max_error,
    )
    assert logexp.pow(10**12, 2_967 * 10**15) == 1  # (1e-6)^2.967 = e^-40.99: one wei
    assert pow_down(10**12, 2_967 * 10**15) == 0  # less an error of two: floored at zero


# -- FixedPoint -----------------------------------------------------------------------------
@given(st.integers(0, 2**128), st.integers(0, 2**120))
def test_fixed_point_rounding(a: int, b: int) -> None:
    assert mul_down(a, b) == a * b // ONE
    assert mul_up(a, b) == -(-a * b // ONE)
    if b:
        assert div_down(a, b) == a * ONE // b
        assert div_up(a, b) == -(-a * ONE // b)


def test_fixed_point_reverts_like_the_contract() -> None:
    with raises_code(3):
        mul_down(2**200, 2**60)
    with raises_code(4):
        div_up(1, 0)
    with raises_code(5):
        div_down(2**250, 3)
    with raises_code(1):
        sub(1, 2)
    assert (complement(ONE // 4), complement(ONE), complement(2 * ONE)) == (3 * ONE // 4, 0, 0)


def test_flash_loan_fee_is_mul_up() -> None:
    assert flash_loan_fee(0, 10**15) == 0
    assert flash_loan_fee(10**18, 0) == 0
    assert flash_loan_fee(1, 1) == 1  # 1e-36 rounds up to one unit
    assert flash_loan_fee(1_000_000, 10**15) == 1_000
    assert flash_loan_fee(1_000_001, 10**15) == 1_001


# -- WeightedMath ---------------------------------------------------------------------------
BAL_IN = 4_000 * ONE
BAL_OUT = 2_000_000 * ONE
W80, W20 = 8 * 10**17, 2 * 10**17
amounts = st.integers(1, BAL_IN * 3 // 10)


@settings(max_examples=200, deadline=None)
@given(amounts, amounts)
def test_out_given_in_grows_with_the_amount_in(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    out_lo = calc_out_given_in(BAL_IN, W80, BAL_OUT, W20, lo)
    out_hi = calc_out_given_in(BAL_IN, W80, BAL_OUT, W20, hi)
    assert 0 <= out_lo <= out_hi < BAL_OUT


@settings(max_examples=200, deadline=None)
@given(
    amounts,
    st.sampled_from([(W80, W20), (W20, W80), (ONE // 2, ONE // 2), (35 * 10**16, 8 * 10**16)]),
)
def test_in_given_out_inverts_out_given_in(amount_in: int, weights: tuple[int, int]) -> None:
    w_in, w_out = weights
    out = calc_out_given_in(BAL_IN, w_in, BAL_OUT, w_out, amount_in)
    assume(10**6 < out <= mul_down(BAL_OUT, 3 * 10**17))
    back = calc_in_given_out(BAL_IN, w_in, BAL_OUT, w_out, out)
    # Rounding favours the pool both ways, by at most the pow error (1e-14) and a few wei.
    assert abs(back - amount_in) <= amount_in // 10**12 + BAL_IN // 10**12


@pytest.mark.parametrize("w", [W80, W20])
def test_out_given_in_matches_the_formula(w: int) -> None:
    amount_in = 100 * ONE
    truth = Decimal(BAL_OUT) * (
        1 - (real(BAL_IN) / real(BAL_IN + amount_in)) ** (real(w) / real(ONE - w))
    )
    got = calc_out_given_in(BAL_IN, w, BAL_OUT, ONE - w, amount_in)
    assert got <= truth
    assert truth - got <= BAL_OUT / 10**13  # powUp's 1e-14 on the power, times balance out


def test_ratio_limits_revert_just_past_thirty_percent() -> None:
    limit_in, limit_out = mul_down(BAL_IN, 3 * 10**17), mul_down(BAL_OUT, 3 * 10**17)
    assert calc_out_given_in(BAL_IN, W80, BAL_OUT, W20, limit_in) > 0
    with raises_code(304):
        calc_out_given_in(BAL_IN, W80, BAL_OUT, W20, limit_in + 1)
    assert calc_in_given_out(BAL_IN, W80, BAL_OUT, W20, limit_out) > 0
    with raises_code(305):
        calc_in_given_out(BAL_IN, W80, BAL_OUT, W20, limit_out + 1)


def test_invariant_of_an_equal_weight_pool_is_the_geometric_mean() -> None:
    assert calculate_invariant((ONE // 2, ONE // 2), (4 * ONE, 9 * ONE)) == pytest.approx(
        6 * ONE, rel=1e-13
    )
    with raises_code(311):
        calculate_invariant((ONE // 2, ONE // 2), (0, 9 * ONE))


# -- the pool -------------------------------------------------------------------------------
def pool_80_20(balances: tuple[int, int] = (4_000 * ONE, 2_000_000 * 10**6)) -> WeightedPool:
    return WeightedPool(
        pool_id="0x" + "ab" * 32,
        address="0x" + "cd" * 20,
        tokens=(WETH, USDC),
        balances=balances,
        weights=(W80, W20),
        scaling_factors=(scaling_factor(18), scaling_factor(6)),
        swap_fee=3 * 10**15,
    )


def test_scaling_factor_normalizes_to_18_decimals() -> None:
    assert (scaling_factor(18), scaling_factor(6), scaling_factor(8)) == (ONE, 10**30, 10**28)
    with pytest.raises(BalancerMathError):
        scaling_factor(19)


def test_pool_quotes_take_the_fee_and_round_against_the_trader() -> None:
    pool = pool_80_20()
    out = pool.amount_out(WETH, USDC, ONE)  # 1 WETH at ~2000 USDC, less 0.3% and the slippage
    assert 1_990_000_000 < out < 1_994_000_000
    assert pool.amount_in(WETH, USDC, out) >= ONE - ONE // 10**9
    assert pool.amount_out(USDC, WETH, 1) == 0  # the fee rounds up to the whole unit
    assert pool.amount_in(USDC, WETH, 1) == 2  # 1 wei of WETH: one unit, rounded up, plus fee


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 150 * ONE))
def test_a_round_trip_never_profits_the_trader(amount: int) -> None:
    pool = pool_80_20()
    out = pool.amount_out(WETH, USDC, amount)
    after = pool.after_swap(WETH, USDC, amount, out)
    back = after.amount_out(USDC, WETH, out)
    assert back <= amount


def test_pool_checks_its_shape_and_tokens() -> None:
    pool = pool_80_20()
    assert pool.index(USDC.upper().replace("0X", "0x")) == 1
    with pytest.raises(KeyError):
        pool.amount_out(DAI, USDC, ONE)
    with pytest.raises(ValueError, match="swap of"):
        pool.amount_out(WETH, WETH, ONE)
    with pytest.raises(ValueError, match="swap of"):
        pool.amount_in(WETH, USDC, -1)
    with pytest.raises(ValueError, match="length"):
        WeightedPool("0x", "0x", (WETH,), (1, 2), (ONE,), (ONE,), 0)
    with pytest.raises(ValueError, match="weights"):
        WeightedPool("0x", "0x", (WETH, USDC), (1, 2), (W80, W80), (ONE, ONE), 0)
    with pytest.raises(BalancerMathError):
        pool.after_swap(USDC, WETH, 1, 10**30)  # more out than the pool holds


def test_after_swap_moves_the_balances() -> None:
    pool = pool_80_20()
    after = pool.after_swap(USDC, WETH, 5, 7)
    assert after.balances == (pool.balances[0] - 7, pool.balances[1] + 5)
    assert pool.balances == (4_000 * ONE, 2_000_000 * 10**6)  # a new value, the old one kept


# -- golden swaps, recorded from the devnet's WeightedPool v3 bytecode ------------------------
GIVEN_IN, GIVEN_OUT = 0, 1
DECIMALS = {"WETH": 18, "USDC": 6, "WBTC": 8, "DAI": 18}


@dataclass(frozen=True, slots=True)
class Golden:
    symbols: tuple[str, ...]
    weights: tuple[int, ...]
    swap_fee: int
    balances: tuple[int, ...]
    swap: tuple[int, int, int, int]  # token in, token out, kind, given amount
    outcome: tuple[int, int, int]  # amount in, amount out (the Swap event), getInvariant after


GOLDEN = (
    Golden(
        ("WETH", "USDC"),
        (800000000000000000, 200000000000000000),
        3000000000000000,
        (4000000000000000000000, 2000000000000),
        (0, 1, GIVEN_IN, 10000000000000000123),
        (10000000000000000123, 19816365575, 13862979833618828658070),
    ),
    Golden(
        ("WETH", "USDC"),
        (800000000000000000, 200000000000000000),
        3000000000000000,
        (4010000000000000000123, 1980183634425),
        (1, 0, GIVEN_OUT, 3300000000000000007),
        (6551397003, 3300000000000000007, 13863007262267906440992),
    ),
    Golden(
        ("WETH", "WBTC", "DAI"),
        (400000000000000000, 400000000000000000, 200000000000000000),
        1000000000000000,
        (1200000000000000000000, 4000000000, 1200000000000000000000000),
        (2, 1, GIVEN_IN, 12345678901234567890123),
        (12345678901234567890123, 20398451, 1225557321209879895158),
    ),
    Golden(
        ("WETH", "WBTC", "DAI"),
        (400000000000000000, 400000000000000000, 200000000000000000),
        1000000000000000,
        (1200000000000000000000, 3979601549, 1212345678901234567890123),
        (1, 0, GIVEN_OUT, 277000000000000000001),
        (1195507133, 277000000000000000001, 1225670586589176771632),
    ),
    Golden(
        ("WETH", "WBTC", "DAI", "USDC"),
        (420000000000000000, 350000000000000000, 80000000000000000, 150000000000000000),
        1234567890123456,
        (1050000000000000000000, 2916666666, 400000000000000000000000, 750000000000),
        (2, 0, GIVEN_IN, 9876543210987654321),
        (9876543210987654321, 4932102564887400, 1291319992302969144273),
    ),
    Golden(
        ("WETH", "WBTC", "DAI", "USDC"),
        (420000000000000000, 350000000000000000, 80000000000000000, 150000000000000000),
        1234567890123456,
        (1049995067897435112600, 2916666666, 400009876543210987654321, 750000000000),
        (1, 2, GIVEN_OUT, 23456000000000000000005),
        (40615044, 23456000000000000000005, 1291327655764936143657),
    ),
    Golden(
        ("WETH", "WBTC", "DAI", "USDC"),
        (420000000000000000, 350000000000000000, 80000000000000000, 150000000000000000),
        1234567890123456,
        (1049995067897435112600, 2957281710, 376553876543210987654316, 750000000000),
        (3, 1, GIVEN_IN, 1),
        (1, 0, 1291327655765194409297),
    ),
)


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: f"{'/'.join(c.symbols)}-{c.swap[:3]}")
def test_golden_swaps_from_the_bytecode(case: Golden) -> None:
    pool = WeightedPool(
        pool_id="0x" + "00" * 32,
        address="0x" + "00" * 20,
        tokens=case.symbols,  # any distinct names do; the math only needs positions
        balances=case.balances,
        weights=case.weights,
        scaling_factors=tuple(scaling_factor(DECIMALS[s]) for s in case.symbols),
        swap_fee=case.swap_fee,
    )
    i, o, kind, amount = case.swap
    amount_in, amount_out, invariant_after = case.outcome
    t_in, t_out = case.symbols[i], case.symbols[o]
    if kind == GIVEN_IN:
        assert pool.amount_out(t_in, t_out, amount) == amount_out
    else:
        assert pool.amount_in(t_in, t_out, amount) == amount_in
    assert pool.after_swap(t_in, t_out, amount_in, amount_out).invariant() == invariant_after
