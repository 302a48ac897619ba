"""Balancer's LogExpMath (solidity-utils): ln, exp and pow on signed 18-decimal fixed point.

Mirrors the library digit for digit. Solidity's signed `/` and `%` truncate toward zero while
Python's `//` and `%` floor, so every signed division and remainder goes through `_sdiv` and
`_smod`. Out-of-domain arguments raise `BalancerMathError` with the contract's BAL# code.
"""

from __future__ import annotations

ONE_18 = 10**18
ONE_20 = 10**20
ONE_36 = 10**36

MAX_NATURAL_EXPONENT = 130 * ONE_18
MIN_NATURAL_EXPONENT = -41 * ONE_18
LN_36_LOWER_BOUND = ONE_18 - 10**17
LN_36_UPPER_BOUND = ONE_18 + 10**17
MILD_EXPONENT_BOUND = 2**254 // ONE_20

# 18-decimal x_n; a0 and a1 are e^x0, e^x1 with no decimals.
X0, A0 = 128 * ONE_18, 38877084059945950922200000000000000000000000000000000000
X1, A1 = 64 * ONE_18, 6235149080811616882910000000
# 20-decimal (x_n, e^x_n) for x_n = 2^5 .. 2^-4; exp uses x2..x9, _ln uses x2..x11.
TERMS_20: tuple[tuple[int, int], ...] = (
    (3200000000000000000000, 7896296018268069516100000000000000),
    (1600000000000000000000, 888611052050787263676000000),
    (800000000000000000000, 298095798704172827474000),
    (400000000000000000000, 5459815003314423907810),
    (200000000000000000000, 738905609893065022723),
    (100000000000000000000, 271828182845904523536),
    (50000000000000000000, 164872127070012814685),
    (25000000000000000000, 128402541668774148407),
    (12500000000000000000, 113314845306682631683),
    (6250000000000000000, 106449445891785942956),
)
EXP_TERMS_20 = TERMS_20[:8]

# BalancerErrors codes raised by the math libraries.
X_OUT_OF_BOUNDS = 6
Y_OUT_OF_BOUNDS = 7
PRODUCT_OUT_OF_BOUNDS = 8
INVALID_EXPONENT = 9
OUT_OF_BOUNDS = 100


class BalancerMathError(ArithmeticError):
    """The contract would revert with `BAL#<code>`."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(f"BAL#{code:03d} {what}")
        self.code = code


def _sdiv(a: int, b: int) -> int:
    """Solidity int256 `a / b`: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _smod(a: int, b: int) -> int:
    """Solidity int256 `a % b`: takes the sign of `a`."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def pow(x: int, y: int) -> int:
    """LogExpMath.pow(uint256 x, uint256 y): x^y as exp(y * ln(x)), 18 decimals."""
    if y == 0:
        return ONE_18
    if x == 0:
        return 0
    if x >> 255 != 0:
        raise BalancerMathError(X_OUT_OF_BOUNDS, f"pow base {x}")
    if y >= MILD_EXPONENT_BOUND:
        raise BalancerMathError(Y_OUT_OF_BOUNDS, f"pow exponent {y}")
    if LN_36_LOWER_BOUND < x < LN_36_UPPER_BOUND:
        ln_36_x = _ln_36(x)
        # Two 18-decimal multiplications: the high and the (downscaled) low 18 decimals.
        logx_times_y = _sdiv(ln_36_x, ONE_18) * y + _sdiv(_smod(ln_36_x, ONE_18) * y, ONE_18)
    else:
        logx_times_y = _ln(x) * y
    logx_times_y = _sdiv(logx_times_y, ONE_18)
    if not MIN_NATURAL_EXPONENT <= logx_times_y <= MAX_NATURAL_EXPONENT:
        raise BalancerMathError(PRODUCT_OUT_OF_BOUNDS, f"pow {x}^{y}")
    return exp(logx_times_y)


def exp(x: int) -> int:
    """LogExpMath.exp(int256 x): e^x, 18 decimals; 12 Taylor terms on the remainder."""
    if not MIN_NATURAL_EXPONENT <= x <= MAX_NATURAL_EXPONENT:
        raise BalancerMathError(INVALID_EXPONENT, f"exp {x}")
    if x < 0:
        return _sdiv(ONE_18 * ONE_18, exp(-x))
    if x >= X0:
        x -= X0
        first_an = A0
    elif x >= X1:
        x -= X1
        first_an = A1
    else:
        first_an = 1
    x *= 100  # now 20 decimals; x >= 0 from here on, so // truncates like the contract
    product = ONE_20
    for x_n, a_n in EXP_TERMS_20:
        if x >= x_n:
            x -= x_n
            product = product * a_n // ONE_20
    series_sum = ONE_20 + x
    term = x
    for n in range(2, 13):
        term = term * x // ONE_20 // n
        series_sum += term
    return product * series_sum // ONE_20 * first_an // 100


def ln(a: int) -> int:
    """LogExpMath.ln(int256 a): natural log, 18 decimals; reverts for a <= 0."""
    if a <= 0:
        raise BalancerMathError(OUT_OF_BOUNDS, f"ln {a}")
    if LN_36_LOWER_BOUND < a < LN_36_UPPER_BOUND:
        return _sdiv(_ln_36(a), ONE_18)
    return _ln(a)


def _ln(a: int) -> int:
    """LogExpMath._ln: decomposition into x_n = ln(a_n), then 6 series terms, 20 decimals."""
    if a < ONE_18:
        return -_ln(ONE_18 * ONE_18 // a)
    # a >= 1e18 from here on: every intermediate is non-negative, so // truncates.
    total = 0
    if a >= A0 * ONE_18:
        a //= A0
        total += X0
    if a >= A1 * ONE_18:
        a //= A1
        total += X1
    total *= 100
    a *= 100
    for x_n, a_n in TERMS_20:
        if a >= a_n:
            a = a * ONE_20 // a_n
            total += x_n
    z = (a - ONE_20) * ONE_20 // (a + ONE_20)
    z_squared = z * z // ONE_20
    num = z
    series_sum = num
    for d in (3, 5, 7, 9, 11):
        num = num * z_squared // ONE_20
        series_sum += num // d
    return (total + series_sum * 2) // 100


def _ln_36(x: int) -> int:
    """LogExpMath._ln_36: ln of x near one (0.9..1.1), 36 decimals, 8 series terms."""
    x *= ONE_18
    z = _sdiv((x - ONE_36) * ONE_36, x + ONE_36)
    z_squared = z * z // ONE_36  # a square: never negative
    num = z
    series_sum = num
    for d in (3, 5, 7, 9, 11, 13, 15):
        num = _sdiv(num * z_squared, ONE_36)
        series_sum += _sdiv(num, d)
    return series_sum * 2
