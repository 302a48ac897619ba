"""Uniswap V3: a pool's swap-relevant state and UniswapV3Pool.swap, exact to the wei.

`swap` walks the same steps as the pool: each stops at the next initialized tick, the edge
of the tickBitmap word it searched (256 tick spacings wide, even with nothing initialized
there) or the price limit. Every step rounds on its own, so those word-edge stops are kept:
dropping them moves results by a few wei. The libraries it runs on are in uniswap_v3_math.

Sign convention as UniswapV3Pool.swap: amount_specified > 0 is exact input, < 0 exact output;
the returned amount0/amount1 are what the pool receives (> 0) or pays out (< 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from tallyio.protocols.uniswap_v2 import (
    InsufficientLiquidity,
    PoolStateError,
    SwapError,
    token_side,
)
from tallyio.protocols.uniswap_v3_math import (
    FEE_DENOMINATOR,
    MAX_SQRT_RATIO,
    MAX_TICK,
    MAX_UINT128,
    MIN_SQRT_RATIO,
    MIN_TICK,
    add_delta,
    compute_swap_step,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    next_initialized_tick_within_one_word,
)

INT128_MIN, INT128_MAX = -(2**127), 2**127 - 1
INT256_LIMIT = 2**255

__all__ = ["SwapResult", "V3Pool", "default_price_limit", "swap"]


@dataclass(frozen=True, slots=True)
class V3Pool:
    """What a swap reads: slot0's price and tick, the active liquidity and every
    initialized tick with its liquidityNet. `fee` is in pips (hundredths of a bip).

    `ticks` must hold every initialized tick the swap can reach: one left out is stepped
    over as uninitialized, so a partial load quotes wrong past its edge. `tick` is slot0's,
    not one recomputed from the price: after crossing down onto a tick the pool keeps
    tick - 1, and the next swap's steps depend on it.
    """

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks: Mapping[int, int]  # initialized tick -> liquidityNet (kept as a read-only copy)
    initialized: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ticks = MappingProxyType(dict(self.ticks))
        object.__setattr__(self, "ticks", ticks)
        object.__setattr__(self, "initialized", tuple(sorted(ticks)))
        self._validate()

    def _validate(self) -> None:
        where = f"V3 pool {self.address}"
        if not 0 < self.fee < FEE_DENOMINATOR or self.tick_spacing <= 0:
            raise PoolStateError(f"{where}: fee {self.fee}, tick spacing {self.tick_spacing}")
        if not MIN_SQRT_RATIO <= self.sqrt_price_x96 < MAX_SQRT_RATIO:
            raise PoolStateError(f"{where}: sqrt price {self.sqrt_price_x96} out of range")
        if not MIN_TICK <= self.tick <= MAX_TICK:
            raise PoolStateError(f"{where}: tick {self.tick} out of range")
        if not 0 <= self.liquidity <= MAX_UINT128:
            raise PoolStateError(f"{where}: liquidity {self.liquidity}")
        for tick, net in self.ticks.items():
            if tick % self.tick_spacing or not MIN_TICK <= tick <= MAX_TICK:
                raise PoolStateError(f"{where}: tick {tick} not on spacing {self.tick_spacing}")
            if not INT128_MIN < net <= INT128_MAX:
                raise PoolStateError(f"{where}: tick {tick} has liquidityNet {net}")

    def is_token0(self, token: str) -> bool:
        """True for token0, False for token1; a token not in the pool is a caller bug."""
        return token_side(token, self.token0, self.token1, self.address)

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """Output of paying exactly `amount_in` of `token_in` (SwapRouter.exactInputSingle
        with no price limit). A pool too shallow to take all of it raises
        InsufficientLiquidity; `swap` shows the partial fill the pool would do."""
        if amount_in <= 0:
            raise SwapError(f"AS: amount in {amount_in}")
        zero_for_one = self.is_token0(token_in)
        result = swap(self, zero_for_one, amount_in, default_price_limit(zero_for_one))
        paid, got = result.sides(zero_for_one)
        if paid != amount_in:
            raise InsufficientLiquidity(f"{self.address} takes only {paid} of {amount_in}")
        return -got

    def amount_in(self, token_in: str, amount_out: int) -> int:
        """Input of `token_in` the pool takes to pay exactly `amount_out` of the other token
        (SwapRouter.exactOutputSingle with no price limit, which also refuses partial fills)."""
        if amount_out <= 0:
            raise SwapError(f"AS: amount out {amount_out}")
        zero_for_one = self.is_token0(token_in)
        result = swap(self, zero_for_one, -amount_out, default_price_limit(zero_for_one))
        paid, got = result.sides(zero_for_one)
        if -got != amount_out:
            raise InsufficientLiquidity(f"{self.address} pays only {-got} of {amount_out}")
        return paid

    def with_state(self, sqrt_price_x96: int, tick: int, liquidity: int) -> V3Pool:
        """The same pool at a new slot0 price and tick and active liquidity."""
        return replace(self, sqrt_price_x96=sqrt_price_x96, tick=tick, liquidity=liquidity)

    def after(self, result: SwapResult) -> V3Pool:
        """The pool once a swap computed on it has happened."""
        return self.with_state(result.sqrt_price_x96, result.tick, result.liquidity)


@dataclass(frozen=True, slots=True)
class SwapResult:
    """UniswapV3Pool.swap's outcome: the signed amounts and the state its Swap event reports."""

    amount0: int  # > 0 the pool receives token0, < 0 it pays token0 out
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int  # initialized ticks crossed
    steps: int  # computeSwapStep calls: stops at ticks, word edges and the price limit

    def sides(self, zero_for_one: bool) -> tuple[int, int]:
        """(amount of the input token, amount of the output token), signed as the pool's."""
        if zero_for_one:
            return self.amount0, self.amount1
        return self.amount1, self.amount0


def default_price_limit(zero_for_one: bool) -> int:
    """The limit SwapRouter uses when given 0: just inside the price range."""
    return MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1


def swap(
    pool: V3Pool, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int
) -> SwapResult:
    """UniswapV3Pool.swap on `pool`: the same steps, rounding and reverts (AS, SPL, LS/LA...)."""
    _check_swap(pool, zero_for_one, amount_specified, sqrt_price_limit_x96)
    exact_input = amount_specified > 0
    remaining, calculated = amount_specified, 0
    sqrt_price, tick, liquidity = pool.sqrt_price_x96, pool.tick, pool.liquidity
    crossed = steps = 0
    while remaining != 0 and sqrt_price != sqrt_price_limit_x96:
        start = sqrt_price
        tick_next, initialized = next_initialized_tick_within_one_word(
            pool.initialized, tick, pool.tick_spacing, zero_for_one
        )
        tick_next = MIN_TICK if tick_next < MIN_TICK else min(tick_next, MAX_TICK)
        sqrt_next = get_sqrt_ratio_at_tick(tick_next)
        target = _step_target(sqrt_next, sqrt_price_limit_x96, zero_for_one)
        sqrt_price, step_in, step_out, fee_amount = compute_swap_step(
            start, target, liquidity, remaining, pool.fee
        )
        steps += 1
        if exact_input:
            remaining -= step_in + fee_amount
            calculated -= step_out
        else:
            remaining += step_out
            calculated += step_in + fee_amount
        if sqrt_price == sqrt_next:  # reached the tick: cross it if initialized
            if initialized:
                liquidity = _cross(pool, tick_next, liquidity, zero_for_one)
                crossed += 1
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_price != start:
            tick = get_tick_at_sqrt_ratio(sqrt_price)
    specified = amount_specified - remaining
    amount0, amount1 = (
        (specified, calculated) if zero_for_one == exact_input else (calculated, specified)
    )
    return SwapResult(amount0, amount1, sqrt_price, tick, liquidity, crossed, steps)


def _check_swap(pool: V3Pool, zero_for_one: bool, amount_specified: int, limit: int) -> None:
    if amount_specified == 0:
        raise SwapError("AS: amount specified is 0")
    if not -INT256_LIMIT < amount_specified < INT256_LIMIT:
        raise SwapError(f"amount specified {amount_specified} is not an int256")
    if zero_for_one:
        fits = MIN_SQRT_RATIO < limit < pool.sqrt_price_x96
    else:
        fits = pool.sqrt_price_x96 < limit < MAX_SQRT_RATIO
    if not fits:
        raise SwapError(f"SPL: limit {limit} vs price {pool.sqrt_price_x96}")


def _step_target(sqrt_next: int, limit: int, zero_for_one: bool) -> int:
    """The step's target: the next tick's price, unless the price limit comes first."""
    if zero_for_one:
        return limit if sqrt_next < limit else sqrt_next
    return limit if sqrt_next > limit else sqrt_next


def _cross(pool: V3Pool, tick: int, liquidity: int, zero_for_one: bool) -> int:
    """Tick.cross: liquidityNet applies left to right, negated when moving down."""
    net = pool.ticks[tick]
    return add_delta(liquidity, -net if zero_for_one else net)
