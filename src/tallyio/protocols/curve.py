"""Curve StableSwap plain pools: get_D, get_y, get_dy and exchange as pure integer math.

Model from the public specification; not checked against bytecode here (no Curve pool is
deployed on the devnet). Sources read: curvefi/curve-contract `StableSwap3Pool.vy` (the classic
3pool, `A_PRECISION` = 1) and curvefi/curve-factory `Plain3Basic.vy` (factory plain pools,
`A_PRECISION` = 100, `amp` stored as A * 100). Both generations share one formula once the
`a_precision` factor is threaded through; with `a_precision=1` it reduces exactly to the 3pool's.

Two ways to take the fee, both mirrored because they can differ by a wei:
- `get_dy` is the 3pool's view: converts to real units first, then takes the fee there.
- `exchange` is what every plain pool's swap pays (and what a factory pool's `get_dy` returns):
  takes the fee in normalised (xp) units, then converts.

Every place the contract reverts (uint underflow, division by zero, no convergence, an index out
of range) raises `CurveMathError`, so a quote that would revert never returns a number. One
documented deviation: when Newton's method has not converged after 255 rounds the 3pool returns
the last iterate while newer pools revert; a pool in that state is broken, so both raise here.

Units: `balances` in each coin's raw units; `rates[i]` = 10**(36 - decimals_i) for plain coins
(the 3pool's RATES, a factory pool's `rate_multipliers`); `fee` and `admin_fee` over 1e10.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

PRECISION = 10**18
FEE_DENOMINATOR = 10**10
MAX_ITERATIONS = 255
_GALLOP_LIMIT = 2**200  # no real pool pays out against an input this large

__all__ = [
    "FEE_DENOMINATOR",
    "PRECISION",
    "CurveMathError",
    "Exchange",
    "StablePool",
    "exchange",
    "get_D",
    "get_dx",
    "get_dy",
    "get_y",
    "xp_mem",
]


class CurveMathError(ArithmeticError):
    """The pool contract would revert here."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """What one `exchange(i, j, dx)` does: the coin paid out and the balances it leaves."""

    dy: int  # coin j paid to the caller, raw units
    dy_fee: int  # fee in xp (1e18-normalised) units, before the admin share is split off
    dy_admin_fee: int  # admin share of the fee, coin j raw units; leaves the pool's balances
    balances: tuple[int, ...]  # pool balances after the swap, raw units


def _check_pair(i: int, j: int, n: int) -> None:
    if i == j or not (0 <= i < n and 0 <= j < n):
        raise CurveMathError(f"coin indices i={i} j={j} invalid for {n} coins")


def xp_mem(balances: Sequence[int], rates: Sequence[int]) -> list[int]:
    """_xp_mem: balances normalised to 18 decimals, rate * balance / 1e18 rounded down."""
    return [rate * balance // PRECISION for rate, balance in zip(rates, balances, strict=True)]


def _d_step(d: int, xp: Sequence[int], s: int, ann: int, a_precision: int) -> int:
    """One Newton step of get_D, in the contract's order of operations."""
    n = len(xp)
    d_p = d
    for x in xp:
        if x == 0:
            raise CurveMathError("get_D: a zero balance (division by zero)")
        d_p = d_p * d // (x * n)
    numerator = (ann * s // a_precision + d_p * n) * d
    denominator = (ann - a_precision) * d // a_precision + (n + 1) * d_p
    return numerator // denominator


def get_D(xp: Sequence[int], amp: int, a_precision: int = 1) -> int:
    """get_D: the StableSwap invariant by Newton's method, stopping at |D - D_prev| <= 1.

    `amp` is what the pool's `_A()` returns: A for the 3pool (`a_precision=1`), A * 100 for
    pools with A_PRECISION = 100 (`a_precision=100`). Rounds down at every step like the contract.
    """
    if amp <= 0 or a_precision <= 0:
        raise CurveMathError(f"get_D: amp={amp} a_precision={a_precision}")
    s = sum(xp)
    if s == 0:
        return 0
    ann = amp * len(xp)
    if ann < a_precision:
        raise CurveMathError(f"get_D: Ann={ann} below A_PRECISION={a_precision} (underflow)")
    d = s
    for _ in range(MAX_ITERATIONS):
        d_prev = d
        d = _d_step(d, xp, s, ann, a_precision)
        if abs(d - d_prev) <= 1:
            return d
    raise CurveMathError(f"get_D did not converge for xp={list(xp)} amp={amp}")


def _y_terms(i: int, j: int, x: int, xp: Sequence[int], d: int) -> tuple[int, int]:
    """S_ (sum of the balances other than j, with x for i) and c before the A term."""
    n = len(xp)
    c = d
    s_ = 0
    for k, balance in enumerate(xp):
        if k == j:
            continue
        x_k = x if k == i else balance
        if x_k == 0:
            raise CurveMathError("get_y: a zero balance (division by zero)")
        s_ += x_k
        c = c * d // (x_k * n)
    return s_, c


def _solve_y(c: int, b: int, d: int) -> int:
    """Newton's method on y**2 + (b - D) * y = c, stopping at |y - y_prev| <= 1."""
    y = d
    for _ in range(MAX_ITERATIONS):
        y_prev = y
        denominator = 2 * y + b - d
        if denominator <= 0:
            raise CurveMathError("get_y: 2 * y + b - D underflows")
        y = (y * y + c) // denominator
        if abs(y - y_prev) <= 1:
            return y
    raise CurveMathError("get_y did not converge")


def get_y(i: int, j: int, x: int, xp: Sequence[int], amp: int, a_precision: int = 1) -> int:
    """get_y: the new balance of coin j (xp units) once coin i's balance is set to x.

    D is computed from `xp` (the balances before the trade), as the contract does.
    """
    _check_pair(i, j, len(xp))
    d = get_D(xp, amp, a_precision)
    n = len(xp)
    ann = amp * n
    s_, c = _y_terms(i, j, x, xp, d)
    c = c * d * a_precision // (ann * n)
    b = s_ + d * a_precision // ann
    return _solve_y(c, b, d)


def _dy_before_fee(
    i: int, j: int, dx: int, xp: Sequence[int], rates: Sequence[int], amp: int, a_precision: int
) -> int:
    """xp[j] - y - 1: the output in xp units before the fee; a negative value reverts."""
    if dx < 0:
        raise CurveMathError(f"dx={dx} is negative")
    x = xp[i] + dx * rates[i] // PRECISION
    y = get_y(i, j, x, xp, amp, a_precision)
    dy = xp[j] - y - 1
    if dy < 0:
        raise CurveMathError(f"xp[j] - y - 1 underflows (dx={dx} too small)")
    return dy


def get_dy(
    i: int,
    j: int,
    dx: int,
    balances: Sequence[int],
    rates: Sequence[int],
    amp: int,
    fee: int,
    a_precision: int = 1,
) -> int:
    """StableSwap3Pool.get_dy: dy = (xp[j] - y - 1) * 1e18 / rates[j], then dy - fee * dy / 1e10.

    The fee is taken after conversion to coin j's units; `exchange` takes it before, which can
    pay one wei more or less than this view says.
    """
    xp = xp_mem(balances, rates)
    dy = _dy_before_fee(i, j, dx, xp, rates, amp, a_precision) * PRECISION // rates[j]
    return dy - fee * dy // FEE_DENOMINATOR


def exchange(
    i: int,
    j: int,
    dx: int,
    balances: Sequence[int],
    rates: Sequence[int],
    amp: int,
    fee: int,
    admin_fee: int,
    a_precision: int = 1,
) -> Exchange:
    """exchange (3pool and factory plain pools), without the token transfers.

    dy_fee = (xp[j] - y - 1) * fee / 1e10 in xp units; dy = (dy_xp - dy_fee) * 1e18 / rates[j];
    the admin share dy_fee * admin_fee / 1e10 (converted to coin j) leaves the balances.
    Equals a factory plain pool's get_dy. Ignores fee-on-transfer coins (the 3pool's USDT path).
    """
    xp = xp_mem(balances, rates)
    dy_xp = _dy_before_fee(i, j, dx, xp, rates, amp, a_precision)
    dy_fee = dy_xp * fee // FEE_DENOMINATOR
    dy = (dy_xp - dy_fee) * PRECISION // rates[j]
    dy_admin_fee = dy_fee * admin_fee // FEE_DENOMINATOR * PRECISION // rates[j]
    new_j = balances[j] - dy - dy_admin_fee
    if new_j < 0:
        raise CurveMathError(f"balance of coin {j} underflows")
    new_balances = list(balances)
    new_balances[i] += dx
    new_balances[j] = new_j
    return Exchange(dy, dy_fee, dy_admin_fee, tuple(new_balances))


def _least(pays: Callable[[int], bool], guess: int) -> int:
    """The least n >= 1 with pays(n), given pays is monotone: gallop from guess, then bisect."""
    hi = max(guess, 1)
    step = 1
    while not pays(hi):
        hi += step
        step *= 2
        if hi > _GALLOP_LIMIT:
            raise CurveMathError("no input pays out that much")
    lo = hi - 1
    step = 1
    while lo > 0 and pays(lo):
        hi = lo
        lo = max(lo - step, 0)
        step *= 2
    while hi - lo > 1:  # pays(hi) and (lo == 0 or not pays(lo))
        mid = (lo + hi) // 2
        if pays(mid):
            hi = mid
        else:
            lo = mid
    return hi


def get_dx(
    i: int,
    j: int,
    dy: int,
    balances: Sequence[int],
    rates: Sequence[int],
    amp: int,
    fee: int,
    a_precision: int = 1,
    admin_fee: int = 0,
) -> int:
    """The least dx whose `exchange` pays at least dy of coin j.

    Classic plain pools have no on-chain get_dx. This starts from the closed-form estimate the
    StableSwap-NG views use (gross up dy for the fee, solve get_y for coin i) and corrects it
    by search against `exchange`, so exchange(get_dx(dy)).dy >= dy holds exactly. `admin_fee`
    matters only where the admin share would overdraw coin j (the swap then reverts).
    """
    _check_pair(i, j, len(balances))
    if not 0 <= fee < FEE_DENOMINATOR:
        raise ValueError(f"fee {fee} out of range")
    if dy <= 0:
        raise CurveMathError(f"dy={dy} must be positive")
    if dy >= balances[j]:
        raise CurveMathError(f"dy={dy} is not below the pool's balance {balances[j]}")
    xp = xp_mem(balances, rates)
    gross = (dy * rates[j] // PRECISION + 1) * FEE_DENOMINATOR // (FEE_DENOMINATOR - fee) + 1
    guess = 1
    if gross < xp[j]:
        x = get_y(j, i, xp[j] - gross, xp, amp, a_precision)
        guess = max((x - xp[i]) * PRECISION // rates[i], 1)

    def pays(dx: int) -> bool:
        try:
            out = exchange(i, j, dx, balances, rates, amp, fee, admin_fee, a_precision)
        except CurveMathError:
            return False
        return out.dy >= dy

    return _least(pays, guess)


@dataclass(frozen=True, slots=True)
class StablePool:
    """One plain StableSwap pool as its storage holds it; per-coin tuples in the pool's order."""

    address: str
    coins: tuple[str, ...]
    balances: tuple[int, ...]  # raw coin units, as `balances(i)` returns them
    rates: tuple[int, ...]  # 10**(36 - decimals): RATES / rate_multipliers
    amp: int  # `_A()`: A * a_precision (what `A_precise()` returns on factory pools)
    fee: int  # over 1e10 (4e6 = 0.04%)
    a_precision: int = 1  # 1 for the 3pool generation, 100 for factory / newer pools
    admin_fee: int = 5 * 10**9  # over 1e10; 50% on the 3pool and the factory plain pools

    def __post_init__(self) -> None:
        n = len(self.coins)
        if n < 2 or not n == len(self.balances) == len(self.rates):
            raise ValueError(f"pool {self.address}: per-coin tuples differ in length or n < 2")
        if min(self.balances) < 0 or min(self.rates) <= 0:
            raise ValueError(f"pool {self.address}: balances {self.balances} rates {self.rates}")
        if self.amp <= 0 or self.a_precision <= 0:
            raise ValueError(f"pool {self.address}: amp {self.amp} a_precision {self.a_precision}")
        if not (0 <= self.fee < FEE_DENOMINATOR and 0 <= self.admin_fee <= FEE_DENOMINATOR):
            raise ValueError(f"pool {self.address}: fee {self.fee} admin fee {self.admin_fee}")

    def index(self, coin: str) -> int:
        """Position of `coin` in the pool (addresses compared case-insensitively)."""
        lowered = [c.lower() for c in self.coins]
        if coin.lower() not in lowered:
            raise KeyError(f"{coin} is not in pool {self.address}")
        return lowered.index(coin.lower())

    def invariant(self) -> int:
        """get_D over the current balances (xp units)."""
        return get_D(xp_mem(self.balances, self.rates), self.amp, self.a_precision)

    def get_dy(self, i: int, j: int, dx: int) -> int:
        """The 3pool's `get_dy` view (fee after conversion)."""
        return get_dy(i, j, dx, self.balances, self.rates, self.amp, self.fee, self.a_precision)

    def exchange(self, i: int, j: int, dx: int) -> Exchange:
        """What `exchange(i, j, dx, 0)` pays and the balances it leaves."""
        return exchange(
            i,
            j,
            dx,
            self.balances,
            self.rates,
            self.amp,
            self.fee,
            self.admin_fee,
            self.a_precision,
        )

    def amount_out(self, i: int, j: int, dx: int) -> int:
        """Coin j received for dx of coin i: what `exchange` transfers, raw units."""
        return self.exchange(i, j, dx).dy

    def amount_in(self, i: int, j: int, dy: int) -> int:
        """The least dx of coin i for which `exchange` pays at least dy of coin j."""
        return get_dx(
            i,
            j,
            dy,
            self.balances,
            self.rates,
            self.amp,
            self.fee,
            self.a_precision,
            self.admin_fee,
        )

    def after_exchange(self, i: int, j: int, dx: int) -> StablePool:
        """This pool after `exchange(i, j, dx)`: a new value, this one unchanged."""
        return replace(self, balances=self.exchange(i, j, dx).balances)
