"""Balancer V2: exact weighted-pool swap math and the vault's flash-loan fee.

Mirrors the bytecode of the 20230206 WeightedPool (v3) and the 20210418 Vault to the wei:
FixedPoint (solidity-utils), WeightedMath._calcOutGivenIn/_calcInGivenOut and
BaseMinimalSwapInfoPool.onSwap (upscale, swap fee, math, downscale). v3 pools take no protocol
fee per swap (it accrues through invariant growth and is minted on joins and exits), so a swap
moves exactly the amounts computed here. Every check the contract makes raises
`BalancerMathError` with its BAL# code, so a quote that would revert never returns a number.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tallyio.protocols import balancer_logexp as logexp
from tallyio.protocols.balancer_logexp import BalancerMathError

ONE = 10**18
TWO = 2 * ONE
FOUR = 4 * ONE
MAX_POW_RELATIVE_ERROR = 10_000  # 1e-14
MAX_IN_RATIO = 3 * 10**17
MAX_OUT_RATIO = 3 * 10**17
_UINT256 = 2**256

# BalancerErrors codes.
ADD_OVERFLOW = 0
SUB_OVERFLOW = 1
MUL_OVERFLOW = 3
ZERO_DIVISION = 4
DIV_INTERNAL = 5
MAX_IN_RATIO_ERROR = 304
MAX_OUT_RATIO_ERROR = 305
ZERO_INVARIANT = 311


# -- FixedPoint ----------------------------------------------------------------------------
def add(a: int, b: int) -> int:
    """FixedPoint.add: checked uint256 addition."""
    c = a + b
    if c >= _UINT256:
        raise BalancerMathError(ADD_OVERFLOW, f"{a} + {b}")
    return c


def sub(a: int, b: int) -> int:
    """FixedPoint.sub: checked subtraction, reverts below zero."""
    if b > a:
        raise BalancerMathError(SUB_OVERFLOW, f"{a} - {b}")
    return a - b


def mul_down(a: int, b: int) -> int:
    """FixedPoint.mulDown: a * b / 1e18, rounded down."""
    product = a * b
    if product >= _UINT256:
        raise BalancerMathError(MUL_OVERFLOW, f"{a} * {b}")
    return product // ONE


def mul_up(a: int, b: int) -> int:
    """FixedPoint.mulUp: a * b / 1e18, rounded up ((product - 1) / ONE + 1, or 0)."""
    product = a * b
    if product >= _UINT256:
        raise BalancerMathError(MUL_OVERFLOW, f"{a} * {b}")
    return 0 if product == 0 else (product - 1) // ONE + 1


def div_down(a: int, b: int) -> int:
    """FixedPoint.divDown: a * 1e18 / b, rounded down."""
    if b == 0:
        raise BalancerMathError(ZERO_DIVISION, f"{a} / 0")
    inflated = a * ONE
    if inflated >= _UINT256:
        raise BalancerMathError(DIV_INTERNAL, f"{a} * 1e18")
    return inflated // b


def div_up(a: int, b: int) -> int:
    """FixedPoint.divUp: a * 1e18 / b, rounded up ((inflated - 1) / b + 1, or 0)."""
    if b == 0:
        raise BalancerMathError(ZERO_DIVISION, f"{a} / 0")
    inflated = a * ONE
    if inflated >= _UINT256:
        raise BalancerMathError(DIV_INTERNAL, f"{a} * 1e18")
    return 0 if inflated == 0 else (inflated - 1) // b + 1


def pow_down(x: int, y: int) -> int:
    """FixedPoint.powDown: x^y rounded down; exact paths for y = 1, 2, 4, else LogExpMath less
    its maximum relative error (floored at 0)."""
    if y == ONE:
        return x
    if y == TWO:
        return mul_down(x, x)
    if y == FOUR:
        square = mul_down(x, x)
        return mul_down(square, square)
    raw = logexp.pow(x, y)
    max_error = add(mul_up(raw, MAX_POW_RELATIVE_ERROR), 1)
    return 0 if raw < max_error else raw - max_error


def pow_up(x: int, y: int) -> int:
    """FixedPoint.powUp: x^y rounded up; exact paths for y = 1, 2, 4, else LogExpMath plus
    its maximum relative error."""
    if y == ONE:
        return x
    if y == TWO:
        return mul_up(x, x)
    if y == FOUR:
        square = mul_up(x, x)
        return mul_up(square, square)
    raw = logexp.pow(x, y)
    return add(raw, add(mul_up(raw, MAX_POW_RELATIVE_ERROR), 1))


def complement(x: int) -> int:
    """FixedPoint.complement: 1 - x, or 0 when x >= 1."""
    return ONE - x if x < ONE else 0


# -- WeightedMath --------------------------------------------------------------------------
def calculate_invariant(normalized_weights: tuple[int, ...], balances: tuple[int, ...]) -> int:
    """WeightedMath._calculateInvariant on upscaled balances: prod(b_i ^ w_i), rounded down."""
    invariant = ONE
    for weight, balance in zip(normalized_weights, balances, strict=True):
        invariant = mul_down(invariant, pow_down(balance, weight))
    if invariant == 0:
        raise BalancerMathError(ZERO_INVARIANT, f"balances {balances}")
    return invariant


def calc_out_given_in(
    balance_in: int, weight_in: int, balance_out: int, weight_out: int, amount_in: int
) -> int:
    """WeightedMath._calcOutGivenIn on upscaled amounts (fee already taken); rounds down.

    aO = bO * (1 - (bI / (bI + aI)) ^ (wI / wO)); reverts (BAL#304) past 30% of bI.
    """
    if amount_in > mul_down(balance_in, MAX_IN_RATIO):
        raise BalancerMathError(MAX_IN_RATIO_ERROR, f"amount in {amount_in} of {balance_in}")
    base = div_up(balance_in, add(balance_in, amount_in))
    power = pow_up(base, div_down(weight_in, weight_out))
    return mul_down(balance_out, complement(power))


def calc_in_given_out(
    balance_in: int, weight_in: int, balance_out: int, weight_out: int, amount_out: int
) -> int:
    """WeightedMath._calcInGivenOut on upscaled amounts (fee not yet added); rounds up.

    aI = bI * ((bO / (bO - aO)) ^ (wO / wI) - 1); reverts (BAL#305) past 30% of bO.
    """
    if amount_out > mul_down(balance_out, MAX_OUT_RATIO):
        raise BalancerMathError(MAX_OUT_RATIO_ERROR, f"amount out {amount_out} of {balance_out}")
    base = div_up(balance_out, sub(balance_out, amount_out))
    power = pow_up(base, div_up(weight_out, weight_in))
    return mul_up(balance_in, sub(power, ONE))


# -- BasePool scaling and fees -------------------------------------------------------------
def scaling_factor(decimals: int) -> int:
    """BasePool._computeScalingFactor: 1e18 * 10^(18 - decimals) (no rate provider)."""
    if not 0 <= decimals <= 18:
        raise BalancerMathError(SUB_OVERFLOW, f"token decimals {decimals}")
    return ONE * 10 ** (18 - decimals)


def subtract_swap_fee_amount(amount: int, swap_fee: int) -> int:
    """BasePool._subtractSwapFeeAmount: amount less mulUp(amount, fee)."""
    return sub(amount, mul_up(amount, swap_fee))


def add_swap_fee_amount(amount: int, swap_fee: int) -> int:
    """BasePool._addSwapFeeAmount: divUp(amount, complement(fee))."""
    return div_up(amount, complement(swap_fee))


def on_swap_given_in(
    amount_in: int,
    balances: tuple[int, int],
    weights: tuple[int, int],
    scaling: tuple[int, int],
    swap_fee: int,
) -> int:
    """BaseMinimalSwapInfoPool.onSwap, GIVEN_IN; pairs are (token in, token out), raw units.

    Fee off the raw amount (rounded up), upscale, _calcOutGivenIn, downscale rounding down.
    """
    upscaled_in = mul_down(subtract_swap_fee_amount(amount_in, swap_fee), scaling[0])
    out = calc_out_given_in(
        mul_down(balances[0], scaling[0]),
        weights[0],
        mul_down(balances[1], scaling[1]),
        weights[1],
        upscaled_in,
    )
    return div_down(out, scaling[1])


def on_swap_given_out(
    amount_out: int,
    balances: tuple[int, int],
    weights: tuple[int, int],
    scaling: tuple[int, int],
    swap_fee: int,
) -> int:
    """BaseMinimalSwapInfoPool.onSwap, GIVEN_OUT; pairs are (token in, token out), raw units.

    Upscale, _calcInGivenOut, downscale rounding up, then add the fee (rounded up).
    """
    amount_in = calc_in_given_out(
        mul_down(balances[0], scaling[0]),
        weights[0],
        mul_down(balances[1], scaling[1]),
        weights[1],
        mul_down(amount_out, scaling[1]),
    )
    return add_swap_fee_amount(div_up(amount_in, scaling[0]), swap_fee)


def flash_loan_fee(amount: int, fee_percentage: int) -> int:
    """Vault Fees._calculateFlashLoanFeeAmount: FixedPoint.mulUp(amount, percentage)."""
    return mul_up(amount, fee_percentage)


# -- pool value ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WeightedPool:
    """One weighted pool as the vault and the pool see it; all per-token tuples in the vault's
    (address-sorted) token order."""

    pool_id: str  # 0x-prefixed bytes32
    address: str
    tokens: tuple[str, ...]
    balances: tuple[int, ...]  # raw token units, as Vault.getPoolTokens returns them
    weights: tuple[int, ...]  # normalized, 1e18-scaled, summing to 1e18
    scaling_factors: tuple[int, ...]  # 1e18 * 10^(18 - decimals)
    swap_fee: int  # 1e18-scaled

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if not n == len(self.balances) == len(self.weights) == len(self.scaling_factors):
            raise ValueError(f"pool {self.address}: per-token tuples differ in length")
        if min(self.balances, default=0) < 0 or sum(self.weights) != ONE:
            raise ValueError(
                f"pool {self.address}: balances {self.balances} weights {self.weights}"
            )
        if not 0 <= self.swap_fee < ONE:
            raise ValueError(f"pool {self.address}: swap fee {self.swap_fee}")

    def index(self, token: str) -> int:
        """Position of `token` in the pool (addresses compared case-insensitively)."""
        if token in self.tokens:
            return self.tokens.index(token)
        lowered = [t.lower() for t in self.tokens]
        if token.lower() in lowered:
            return lowered.index(token.lower())
        raise KeyError(f"{token} is not in pool {self.address}")

    def _pair(self, token_in: str, token_out: str, amount: int) -> tuple[int, int]:
        i, o = self.index(token_in), self.index(token_out)
        if i == o or amount < 0:
            raise ValueError(f"swap of {amount} {token_in} for {token_out}")
        return i, o

    def amount_out(self, token_in: str, token_out: str, amount_in: int) -> int:
        """Tokens out for exactly `amount_in` in (a GIVEN_IN swap), raw units."""
        i, o = self._pair(token_in, token_out, amount_in)
        return on_swap_given_in(
            amount_in,
            (self.balances[i], self.balances[o]),
            (self.weights[i], self.weights[o]),
            (self.scaling_factors[i], self.scaling_factors[o]),
            self.swap_fee,
        )

    def amount_in(self, token_in: str, token_out: str, amount_out: int) -> int:
        """Tokens in for exactly `amount_out` out (a GIVEN_OUT swap), raw units."""
        i, o = self._pair(token_in, token_out, amount_out)
        return on_swap_given_out(
            amount_out,
            (self.balances[i], self.balances[o]),
            (self.weights[i], self.weights[o]),
            (self.scaling_factors[i], self.scaling_factors[o]),
            self.swap_fee,
        )

    def invariant(self) -> int:
        """WeightedPool.getInvariant: the invariant of the upscaled balances (rounded down)."""
        upscaled = tuple(map(mul_down, self.balances, self.scaling_factors))
        return calculate_invariant(self.weights, upscaled)

    def after_swap(
        self, token_in: str, token_out: str, amount_in: int, amount_out: int
    ) -> WeightedPool:
        """The pool once the vault has settled a swap: in added, out removed."""
        i, o = self._pair(token_in, token_out, min(amount_in, amount_out))
        balances = list(self.balances)
        balances[i] += amount_in
        balances[o] = sub(balances[o], amount_out)
        return replace(self, balances=tuple(balances))
