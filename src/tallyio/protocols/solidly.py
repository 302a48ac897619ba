"""Solidly-family V2 pools (Velodrome V2, Aerodrome): volatile x*y and stable x3y+y3x math.

Model from the public specification; not checked against bytecode here (no Solidly pool is
deployed on the devnet). Source read: `contracts/Pool.sol` of velodrome-finance/contracts and
aerodrome-finance/contracts: getAmountOut, _getAmountOut, _k, _f, _d, _get_y and the K check in
swap. The fee (basis points over 10_000, `PoolFactory.getFee(pool, stable)`) comes off the input
first; in a swap that fee is moved out to PoolFees, so it never joins the reserves.

Two revisions of `_get_y` exist. The one in aerodrome-finance/contracts and in the earlier
velodrome-finance/contracts Pool.sol checks `_k(x0, y + 1) > xy` when a Newton step rounds to
zero; `_k` scales by the pool's decimals again although x0 and y are already 1e18-normalised, so
for a token0 with fewer than 18 decimals that check passes at once and y + 1 is returned even
where _f(x0, y + 1) is still below xy. The later Velodrome revision checks `_f(x0, y + 1)`.
`k_in_get_y=True` (the default) mirrors the former, False the latter; which one a given pool
runs is a per-deployment fact for config. With 18 decimals on both sides they agree.

Decimals follow the contract: `decimals0` is 10**token0.decimals() (what `Pool.metadata()`
returns), not the count. Token sides are indices: 0 for token0, 1 for token1. Every place the
contract reverts raises `SolidlyMathError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

ONE = 10**18
FEE_DENOMINATOR = 10_000
MAX_ITERATIONS = 255

__all__ = [
    "FEE_DENOMINATOR",
    "SolidlyMathError",
    "SolidlyPool",
    "_d",
    "_f",
    "_get_amount_out",
    "_get_y",
    "_k",
    "get_amount_out",
    "swap_reserves",
]


class SolidlyMathError(ArithmeticError):
    """The pool contract would revert here."""


def _check_decimals(*scales: int) -> None:
    for scale in scales:
        if scale < 1 or 10 ** (len(str(scale)) - 1) != scale:
            raise ValueError(f"decimals scale {scale} is not a power of ten (pass 10**decimals)")


def _k(x: int, y: int, decimals0: int, decimals1: int, stable: bool) -> int:
    """Pool._k: x3y+y3x on 1e18-normalised amounts for stable pools, x*y for volatile ones."""
    if not stable:
        return x * y
    _x = x * ONE // decimals0
    _y = y * ONE // decimals1
    _a = _x * _y // ONE
    _b = _x * _x // ONE + _y * _y // ONE
    return _a * _b // ONE


def _f(x0: int, y: int) -> int:
    """Pool._f: x0 * y * (x0**2 + y**2), 1e18 fixed point, rounding down at each step."""
    _a = x0 * y // ONE
    _b = x0 * x0 // ONE + y * y // ONE
    return _a * _b // ONE


def _d(x0: int, y: int) -> int:
    """Pool._d: df/dy = 3 * x0 * y**2 + x0**3, 1e18 fixed point."""
    return 3 * x0 * (y * y // ONE) // ONE + x0 * x0 // ONE * x0 // ONE


def _derivative(x0: int, y: int) -> int:
    d = _d(x0, y)
    if d == 0:
        raise SolidlyMathError("_get_y: _d(x0, y) is zero (division by zero)")
    return d


def _step_up(x0: int, xy: int, y: int, k: int, scales: tuple[int, int] | None) -> tuple[int, bool]:
    """The k < xy branch: (next y, done). `scales` set: the `_k(x0, y + 1)` check."""
    dy = (xy - k) * ONE // _derivative(x0, y)
    if dy == 0:
        if k == xy:
            return y, True
        above = _f(x0, y + 1) if scales is None else _k(x0, y + 1, *scales, True)
        if above > xy:
            return y + 1, True
        dy = 1
    return y + dy, False


def _step_down(x0: int, xy: int, y: int, k: int) -> tuple[int, bool]:
    """The k >= xy branch: (next y, done)."""
    dy = (k - xy) * ONE // _derivative(x0, y)
    if dy == 0:
        if k == xy:
            return y, True
        if y == 0:
            raise SolidlyMathError("_get_y: y - 1 underflows")
        if _f(x0, y - 1) < xy:
            return y, True
        dy = 1
    if dy > y:
        raise SolidlyMathError("_get_y: y - dy underflows")
    return y - dy, False


def _get_y(
    x0: int, xy: int, y: int, decimals0: int, decimals1: int, k_in_get_y: bool = True
) -> int:
    """Pool._get_y: Newton's method for the least y with f(x0, y) >= xy, 255 rounds at most.

    `decimals0`/`decimals1` matter only for the `_k(x0, y + 1)` check of the Aerodrome revision.
    """
    scales = (decimals0, decimals1) if k_in_get_y else None
    for _ in range(MAX_ITERATIONS):
        k = _f(x0, y)
        if k < xy:
            y, done = _step_up(x0, xy, y, k, scales)
        else:
            y, done = _step_down(x0, xy, y, k)
        if done:
            return y
    raise SolidlyMathError("_get_y did not converge (!y)")


def _get_amount_out_stable(
    amount_in: int,
    token_in: int,
    reserve0: int,
    reserve1: int,
    decimals0: int,
    decimals1: int,
    k_in_get_y: bool,
) -> int:
    xy = _k(reserve0, reserve1, decimals0, decimals1, True)
    r0 = reserve0 * ONE // decimals0
    r1 = reserve1 * ONE // decimals1
    reserve_a, reserve_b = (r0, r1) if token_in == 0 else (r1, r0)
    amount_in = amount_in * ONE // (decimals0 if token_in == 0 else decimals1)
    y = reserve_b - _get_y(amount_in + reserve_a, xy, reserve_b, decimals0, decimals1, k_in_get_y)
    if y < 0:
        raise SolidlyMathError("reserveB - _get_y(...) underflows")
    return y * (decimals1 if token_in == 0 else decimals0) // ONE


def _get_amount_out(
    amount_in: int,
    token_in: int,
    reserve0: int,
    reserve1: int,
    decimals0: int,
    decimals1: int,
    stable: bool,
    k_in_get_y: bool = True,
) -> int:
    """Pool._getAmountOut: the output for an input the fee has already come off."""
    if token_in not in (0, 1):
        raise ValueError(f"token_in={token_in}: pass 0 (token0) or 1 (token1)")
    if min(amount_in, reserve0, reserve1) < 0:
        raise ValueError(f"negative amount or reserve: {amount_in}, {reserve0}, {reserve1}")
    if stable:
        _check_decimals(decimals0, decimals1)
        return _get_amount_out_stable(
            amount_in, token_in, reserve0, reserve1, decimals0, decimals1, k_in_get_y
        )
    reserve_a, reserve_b = (reserve0, reserve1) if token_in == 0 else (reserve1, reserve0)
    if reserve_a + amount_in == 0:
        raise SolidlyMathError("reserveA + amountIn is zero (division by zero)")
    return amount_in * reserve_b // (reserve_a + amount_in)


def get_amount_out(
    amount_in: int,
    token_in: int,
    reserve0: int,
    reserve1: int,
    decimals0: int,
    decimals1: int,
    stable: bool,
    fee: int,
    k_in_get_y: bool = True,
) -> int:
    """Pool.getAmountOut: amountIn -= amountIn * fee / 10000, then _getAmountOut; rounds down.

    `fee` in basis points (Velodrome/Aerodrome defaults: 5 stable, 30 volatile).
    """
    if not 0 <= fee <= FEE_DENOMINATOR:
        raise ValueError(f"fee {fee} bps out of range")
    amount_in -= amount_in * fee // FEE_DENOMINATOR
    return _get_amount_out(
        amount_in, token_in, reserve0, reserve1, decimals0, decimals1, stable, k_in_get_y
    )


def swap_reserves(
    amount_in: int,
    amount_out: int,
    token_in: int,
    reserve0: int,
    reserve1: int,
    decimals0: int,
    decimals1: int,
    stable: bool,
    fee: int,
) -> tuple[int, int]:
    """Pool.swap's bookkeeping: the reserves after `amount_in` in and `amount_out` out.

    The fee (amountIn * fee / 10000) is moved out to PoolFees, then the contract requires
    _k(balances) >= _k(reserves); the same reverts as the contract raise here.
    """
    reserve_in, reserve_out = (reserve0, reserve1) if token_in == 0 else (reserve1, reserve0)
    if amount_out <= 0 or amount_in <= 0:
        raise SolidlyMathError("InsufficientOutputAmount / InsufficientInputAmount")
    if amount_out >= reserve_out:
        raise SolidlyMathError("InsufficientLiquidity")
    balance_in = reserve_in + amount_in - amount_in * fee // FEE_DENOMINATOR
    balance_out = reserve_out - amount_out
    new0, new1 = (balance_in, balance_out) if token_in == 0 else (balance_out, balance_in)
    if _k(new0, new1, decimals0, decimals1, stable) < _k(
        reserve0, reserve1, decimals0, decimals1, stable
    ):
        raise SolidlyMathError("K")
    return new0, new1


@dataclass(frozen=True, slots=True)
class SolidlyPool:
    """One Velodrome/Aerodrome V2 pool as `getReserves()` and `metadata()` describe it."""

    address: str
    token0: str
    token1: str
    reserve0: int  # raw token0 units
    reserve1: int  # raw token1 units
    decimals0: int  # 10**token0.decimals(), as Pool.metadata() returns it
    decimals1: int  # 10**token1.decimals()
    stable: bool
    fee: int  # basis points, PoolFactory.getFee(pool, stable)
    k_in_get_y: bool = True  # the `_k(x0, y + 1)` revision of `_get_y` (see module docstring)

    def __post_init__(self) -> None:
        if self.reserve0 < 0 or self.reserve1 < 0:
            raise ValueError(f"pool {self.address}: reserves {self.reserve0}, {self.reserve1}")
        _check_decimals(self.decimals0, self.decimals1)
        if not 0 <= self.fee <= FEE_DENOMINATOR:
            raise ValueError(f"pool {self.address}: fee {self.fee} bps")

    def side(self, token: str) -> int:
        """0 if `token` is token0, 1 if token1 (addresses compared case-insensitively)."""
        lowered = token.lower()
        if lowered == self.token0.lower():
            return 0
        if lowered == self.token1.lower():
            return 1
        raise KeyError(f"{token} is not in pool {self.address}")

    def k(self) -> int:
        """_k over the current reserves."""
        return _k(self.reserve0, self.reserve1, self.decimals0, self.decimals1, self.stable)

    def amount_out(self, amount_in: int, token_in: str) -> int:
        """Pool.getAmountOut(amountIn, tokenIn), raw units of the other token."""
        return get_amount_out(
            amount_in,
            self.side(token_in),
            self.reserve0,
            self.reserve1,
            self.decimals0,
            self.decimals1,
            self.stable,
            self.fee,
            self.k_in_get_y,
        )

    def after_swap(self, amount_in: int, token_in: str) -> SolidlyPool:
        """This pool after swapping `amount_in` for exactly `amount_out(amount_in, token_in)`."""
        new0, new1 = swap_reserves(
            amount_in,
            self.amount_out(amount_in, token_in),
            self.side(token_in),
            self.reserve0,
            self.reserve1,
            self.decimals0,
            self.decimals1,
            self.stable,
            self.fee,
        )
        return replace(self, reserve0=new0, reserve1=new1)
