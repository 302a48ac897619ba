"""The input that maximises a cycle's profit after the flash-loan fee, in exact integers.

Chains of constant-product pools have a closed form. One V2 hop with reserves (r, s) and fee
g = (BPS - fee_bps) / BPS pays g x s / (r + g x), a map x -> A x / (B + C x); composing two
such maps gives another (A' = g s A, B' = r B, C' = r C + g A, scaled by BPS to stay in
integers), so a whole V2 chain is one curve A x / (B + C x). Its profit less a proportional
loan fee f, A x / (B + C x) - (1 + f) x, peaks where A B / (B + C x)^2 = 1 + f:

    x* = (sqrt(A B / (1 + f)) - B) / C

The contract floors every hop, so the exact optimum sits within a few units of x*: the
neighbourhood is checked with the exact chain. Every other cycle (V3, Balancer, mixed) is
sized by a golden-section search on its exact quote, which is unimodal in the input.

Gas does not move the optimum (it is a constant per plan); callers subtract it after.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tallyio.protocols.uniswap_v2 import BPS, MAX_UINT112, get_amount_in

__all__ = [
    "NO_FEE",
    "LoanFee",
    "Sizing",
    "V2Leg",
    "compose_v2",
    "golden_max",
    "size_quote",
    "size_v2_chain",
    "v2_chain_out",
]

Quote = Callable[[int], int | None]
_INV_PHI = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True, slots=True)
class LoanFee:
    """A lender's fee on `amount`: amount * numerator / denominator, rounded as its contract
    does (Balancer mulUp and Uniswap V3 mulDivRoundingUp: "up"; Aave percentMul: "half_up")."""

    numerator: int = 0
    denominator: int = 1
    rounding: Literal["up", "half_up", "down"] = "up"

    def __call__(self, amount: int) -> int:
        product = amount * self.numerator
        if self.rounding == "up":
            return -(-product // self.denominator)
        if self.rounding == "half_up":
            return (product + self.denominator // 2) // self.denominator
        return product // self.denominator


NO_FEE = LoanFee()


@dataclass(frozen=True, slots=True)
class Sizing:
    """The chosen input, what the cycle pays back for it, and the profit after the loan fee."""

    amount_in: int
    amount_out: int
    profit: int  # amount_out - amount_in - loan fee


@dataclass(frozen=True, slots=True)
class V2Leg:
    reserve_in: int
    reserve_out: int
    fee_bps: int = 30


def v2_chain_out(amount_in: int, legs: Sequence[V2Leg]) -> int | None:
    """UniswapV2Library.getAmountsOut's last amount along the legs; None where a pair reverts
    (nothing in, or past uint112)."""
    amount = amount_in
    for leg in legs:
        if amount <= 0 or leg.reserve_in + amount > MAX_UINT112:
            return None
        with_fee = amount * (BPS - leg.fee_bps)
        amount = with_fee * leg.reserve_out // (leg.reserve_in * BPS + with_fee)
    return amount if amount > 0 else None


def compose_v2(legs: Sequence[V2Leg]) -> tuple[int, int, int]:
    """(A, B, C) of the chain's curve A x / (B + C x), without the floors."""
    a, b, c = 1, 1, 0
    for leg in legs:
        g = BPS - leg.fee_bps
        a, b, c = (
            g * leg.reserve_out * a,
            leg.reserve_in * BPS * b,
            leg.reserve_in * BPS * c + g * a,
        )
    return a, b, c


def _profit(quote: Quote, fee: LoanFee, amount: int) -> int | None:
    out = quote(amount) if amount > 0 else None
    return None if out is None else out - amount - fee(amount)


def _best_of(quote: Quote, fee: LoanFee, candidates: Sequence[int]) -> Sizing | None:
    best: Sizing | None = None
    for x in candidates:
        profit = _profit(quote, fee, x)
        if profit is not None and (best is None or profit > best.profit):
            best = Sizing(x, x + profit + fee(x), profit)
    return best


def size_v2_chain(
    legs: Sequence[V2Leg], fee: LoanFee = NO_FEE, max_in: int = MAX_UINT112, scan: int = 33
) -> Sizing | None:
    """The closed-form optimum of a V2 chain, refined with the exact chain; None when no input
    in [1, max_in] returns more than it costs.

    The floors make the exact profit jagged near the top: it lies within T units below the
    smooth one (T bounds the floors' losses, see _floor_slack), so the exact optimum is where
    the smooth profit is within T of its peak. There the gap is k C d^2 / (B + C x) at distance
    d (k = 1 + f), which gives the half-width scanned. Deep pools make that window wide and
    flat (a few units of profit across it): wider than `scan` points, x* +- 2 is taken.
    """
    a, b, c = compose_v2(legs)
    # profitable at the margin iff A / B > 1 + f
    if c == 0 or a * fee.denominator <= b * (fee.denominator + fee.numerator):
        return None
    root = math.isqrt(a * b * fee.denominator // (fee.denominator + fee.numerator))
    x = min(max(1, (root - b) // c), max_in)
    slack = _floor_slack(legs)
    half = (slack + math.isqrt(slack * slack + 4 * slack * (root // c + 1))) // 2 + 2
    if 2 * half + 1 > scan:
        half = 2
    lo, hi = max(1, x - half), min(max_in, x + half)
    window = range(lo, hi + 1)
    candidates = window if half > 2 else [*window, *(_trim(v, legs) for v in window)]
    best = _best_of(lambda v: v2_chain_out(v, legs), fee, candidates)
    return best if best is not None and best.profit > 0 else None


def _trim(amount_in: int, legs: Sequence[V2Leg]) -> int:
    """The least input (by getAmountIn, walked back) that still buys what `amount_in` buys:
    with a coarse token in the middle (6 decimals between 18s) one of its units is worth ~1e8
    of the input, which a window of a few units cannot find but this recovers."""
    out = v2_chain_out(amount_in, legs)
    if out is None:
        return amount_in
    need = out
    for leg in reversed(legs):
        if need >= leg.reserve_out:
            return amount_in
        need = get_amount_in(need, leg.reserve_in, leg.reserve_out, leg.fee_bps)
    return need if 0 < need < amount_in else amount_in


def _floor_slack(legs: Sequence[V2Leg]) -> int:
    """Units of profit the floors (one per hop, each carried on by the later hops' steepest
    marginal rate, g s / r) and the fee's rounding can take off the smooth curve, plus 3."""
    slack, carried = 3.0, 1.0
    for leg in reversed(legs):
        slack += carried
        carried *= max(1.0, (BPS - leg.fee_bps) * leg.reserve_out / (BPS * leg.reserve_in))
    return math.ceil(slack) + 1


def golden_max(f: Callable[[int], int | None], lo: int, hi: int, *, rel: int = 10**9) -> int:
    """An input in [lo, hi] maximising a unimodal `f` (None counts as -infinity, e.g. where the
    pool reverts) by golden-section search on the integers, stopping once the bracket is
    narrower than 3 units or 1/`rel` of its lower end, then scanning what is left up to 8
    points. `rel` bounds the loss: near the top the profit is flat to second order."""

    def value(x: int) -> float | int:
        v = f(x)
        return -math.inf if v is None else v

    a, b = lo, hi
    c = b - int((b - a) * _INV_PHI)
    d = a + int((b - a) * _INV_PHI)
    fc, fd = value(c), value(d)
    while b - a > max(3, a // rel):
        if fc >= fd:  # the top is left of d
            b, d, fd = d, c, fc
            c = b - int((b - a) * _INV_PHI)
            fc = value(c)
        else:
            a, c, fc = c, d, fd
            d = a + int((b - a) * _INV_PHI)
            fd = value(d)
    step = max(1, (b - a) // 8)
    return max(range(a, b + 1, step), key=value)


def size_quote(
    quote: Quote,
    fee: LoanFee = NO_FEE,
    max_in: int = MAX_UINT112,
    *,
    guess: int = 0,
    spread: int = 16,
    rel: int = 10**9,
) -> Sizing | None:
    """The best input for any cycle given its exact quote (unimodal), in [1, max_in]; `guess`
    (a float estimate of the optimum, 0 if none) narrows the bracket to [guess/spread,
    spread guess], searched to 1/`rel` (see golden_max). None when nothing pays."""
    if max_in < 1:
        return None
    lo, hi = 1, max_in
    if guess > 0:
        lo, hi = max(1, guess // spread), min(max_in, guess * spread)
    x = golden_max(lambda v: _profit(quote, fee, v), lo, hi, rel=rel)
    best = _best_of(quote, fee, (x,))
    if guess > 0 and best is not None and x in (lo, hi) and (lo, hi) != (1, max_in):
        # the guess was off: bracket the whole range
        return size_quote(quote, fee, max_in, rel=rel)
    return best if best is not None and best.profit > 0 else None
