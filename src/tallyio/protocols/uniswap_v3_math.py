"""Uniswap V3 core libraries, ported line by line: FullMath, TickMath, SqrtPriceMath,
SwapMath, LiquidityMath and the step boundaries of TickBitmap.

Every function rounds where its Solidity original rounds and raises `V3MathError` where the
original reverts (its require reason, or the check that fails), so a value returned here is
one the deployed bytecode computes. Amounts are Python ints in their Solidity ranges.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from tallyio.protocols.uniswap_v2 import SwapError

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 2**96
RESOLUTION = 96
MAX_UINT128 = 2**128 - 1
MAX_UINT160 = 2**160 - 1
MAX_UINT256 = 2**256 - 1
FEE_DENOMINATOR = 1_000_000  # fees are in hundredths of a bip ("pips")

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "V3MathError",
    "add_delta",
    "compute_swap_step",
    "div_rounding_up",
    "get_amount0_delta",
    "get_amount0_delta_signed",
    "get_amount1_delta",
    "get_amount1_delta_signed",
    "get_next_sqrt_price_from_amount0_rounding_up",
    "get_next_sqrt_price_from_amount1_rounding_down",
    "get_next_sqrt_price_from_input",
    "get_next_sqrt_price_from_output",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
    "next_initialized_tick_within_one_word",
]


class V3MathError(SwapError):
    """A require in the V3 core libraries failed; the swap reverts on chain."""


# -- FullMath / UnsafeMath ------------------------------------------------------------------
def mul_div(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDiv: floor(a * b / denominator) at full precision; reverts past uint256."""
    if denominator <= 0:
        raise V3MathError("FullMath.mulDiv: denominator is 0")
    result = a * b // denominator
    if result > MAX_UINT256:
        raise V3MathError("FullMath.mulDiv: result overflows uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDivRoundingUp: ceil(a * b / denominator); reverts past uint256."""
    result = mul_div(a, b, denominator)
    if a * b % denominator:
        if result >= MAX_UINT256:
            raise V3MathError("FullMath.mulDivRoundingUp: result overflows uint256")
        result += 1
    return result


def div_rounding_up(x: int, y: int) -> int:
    """UnsafeMath.divRoundingUp: ceil(x / y); the EVM's division by zero gives 0."""
    if y == 0:
        return 0
    return -(-x // y)


# -- TickMath -------------------------------------------------------------------------------
# TickMath's constants: 2**128 / sqrt(1.0001)**bit, for each bit of |tick| from 0x1 to 0x80000.
_RATIO_AT_BIT: tuple[tuple[int, int], ...] = (
    (0x1, 0xFFFCB933BD6FAD37AA2D162D1A594001),
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)
_FIRST_FACTOR = _RATIO_AT_BIT[0][1]
_LATER_FACTORS = _RATIO_AT_BIT[1:]


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """TickMath.getSqrtRatioAtTick: sqrt(1.0001**tick) as Q64.96, rounded up from Q128.128."""
    abs_tick = -tick if tick < 0 else tick
    if abs_tick > MAX_TICK:
        raise V3MathError(f"T: tick {tick} out of range")
    ratio = _FIRST_FACTOR if abs_tick & 1 else 1 << 128
    for bit, factor in _LATER_FACTORS:
        if abs_tick & bit:
            ratio = ratio * factor >> 128
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


_LOG_SQRT10001 = 255738958999603826347141  # log_sqrt(1.0001)(2) as Q128.128
_TICK_LOW_OFFSET = 3402992956809132418596140100660247210
_TICK_HI_OFFSET = 291339464771989622907027621153398088495


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """TickMath.getTickAtSqrtRatio: the greatest tick whose sqrt ratio is <= the price.

    The same fixed-point log2 the contract computes (msb, then 14 squarings), so the
    candidate ticks and the final comparison are the contract's.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise V3MathError(f"R: sqrt price {sqrt_price_x96} out of range")
    ratio = sqrt_price_x96 << 32
    msb = ratio.bit_length() - 1
    r = ratio >> (msb - 127) if msb >= 128 else ratio << (127 - msb)
    log_2 = (msb - 128) << 64
    for shift in range(63, 49, -1):
        r = (r * r) >> 127
        if r >> 128:  # r was in [2**127, 2**128), so its square's top bit is 0 or 1
            log_2 |= 1 << shift
            r >>= 1
    log_sqrt10001 = log_2 * _LOG_SQRT10001
    tick_low = (log_sqrt10001 - _TICK_LOW_OFFSET) >> 128
    tick_hi = (log_sqrt10001 + _TICK_HI_OFFSET) >> 128
    if tick_low == tick_hi:
        return tick_low
    return tick_hi if get_sqrt_ratio_at_tick(tick_hi) <= sqrt_price_x96 else tick_low


# -- SqrtPriceMath --------------------------------------------------------------------------
def get_next_sqrt_price_from_amount0_rounding_up(
    sqrt_px96: int, liquidity: int, amount: int, add: bool
) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp, including its overflow fallback
    (which rounds differently, so the uint256 overflow tests are reproduced exactly)."""
    if amount == 0:
        return sqrt_px96
    numerator1 = liquidity << RESOLUTION
    product = amount * sqrt_px96
    if add:
        if product <= MAX_UINT256 and numerator1 + product <= MAX_UINT256:
            return mul_div_rounding_up(numerator1, sqrt_px96, numerator1 + product)
        denominator = numerator1 // sqrt_px96 + amount
        if denominator > MAX_UINT256:
            raise V3MathError("LowGasSafeMath.add overflow")
        return div_rounding_up(numerator1, denominator)
    if product > MAX_UINT256 or numerator1 <= product:
        raise V3MathError("getNextSqrtPriceFromAmount0RoundingUp: denominator underflows")
    result = mul_div_rounding_up(numerator1, sqrt_px96, numerator1 - product)
    if result > MAX_UINT160:
        raise V3MathError("SafeCast.toUint160 overflow")
    return result


def get_next_sqrt_price_from_amount1_rounding_down(
    sqrt_px96: int, liquidity: int, amount: int, add: bool
) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown."""
    if add:
        quotient = mul_div(amount, Q96, liquidity)  # == (amount << 96) / liquidity
        result = sqrt_px96 + quotient
        if result > MAX_UINT160:
            raise V3MathError("SafeCast.toUint160 overflow")
        return result
    quotient = mul_div_rounding_up(amount, Q96, liquidity)
    if sqrt_px96 <= quotient:
        raise V3MathError("getNextSqrtPriceFromAmount1RoundingDown: price would reach 0")
    return sqrt_px96 - quotient


def get_next_sqrt_price_from_input(
    sqrt_px96: int, liquidity: int, amount_in: int, zero_for_one: bool
) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromInput: rounds so as not to pass the target price."""
    if sqrt_px96 <= 0 or liquidity <= 0:
        raise V3MathError("getNextSqrtPriceFromInput: zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_in, True)
    return get_next_sqrt_price_from_amount1_rounding_down(sqrt_px96, liquidity, amount_in, True)


def get_next_sqrt_price_from_output(
    sqrt_px96: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """SqrtPriceMath.getNextSqrtPriceFromOutput: rounds so as to pass the target price."""
    if sqrt_px96 <= 0 or liquidity <= 0:
        raise V3MathError("getNextSqrtPriceFromOutput: zero price or liquidity")
    if zero_for_one:
        return get_next_sqrt_price_from_amount1_rounding_down(
            sqrt_px96, liquidity, amount_out, False
        )
    return get_next_sqrt_price_from_amount0_rounding_up(sqrt_px96, liquidity, amount_out, False)


def get_amount0_delta(
    sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool
) -> int:
    """SqrtPriceMath.getAmount0Delta (unsigned): liquidity * (1/sqrtA - 1/sqrtB)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    if sqrt_ratio_a_x96 <= 0:
        raise V3MathError("getAmount0Delta: sqrt ratio is 0")
    numerator1 = liquidity << RESOLUTION
    numerator2 = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if round_up:
        return div_rounding_up(
            mul_div_rounding_up(numerator1, numerator2, sqrt_ratio_b_x96), sqrt_ratio_a_x96
        )
    return mul_div(numerator1, numerator2, sqrt_ratio_b_x96) // sqrt_ratio_a_x96


def get_amount1_delta(
    sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool
) -> int:
    """SqrtPriceMath.getAmount1Delta (unsigned): liquidity * (sqrtB - sqrtA)."""
    if sqrt_ratio_a_x96 > sqrt_ratio_b_x96:
        sqrt_ratio_a_x96, sqrt_ratio_b_x96 = sqrt_ratio_b_x96, sqrt_ratio_a_x96
    diff = sqrt_ratio_b_x96 - sqrt_ratio_a_x96
    if round_up:
        return mul_div_rounding_up(liquidity, diff, Q96)
    return mul_div(liquidity, diff, Q96)


def get_amount0_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """SqrtPriceMath.getAmount0Delta (int128 liquidity): owed rounds up, paid out rounds down."""
    if liquidity < 0:
        return -get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False)
    return get_amount0_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True)


def get_amount1_delta_signed(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int) -> int:
    """SqrtPriceMath.getAmount1Delta (int128 liquidity): owed rounds up, paid out rounds down."""
    if liquidity < 0:
        return -get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, -liquidity, False)
    return get_amount1_delta(sqrt_ratio_a_x96, sqrt_ratio_b_x96, liquidity, True)


# -- SwapMath -------------------------------------------------------------------------------
def compute_swap_step(
    sqrt_ratio_current_x96: int,
    sqrt_ratio_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> tuple[int, int, int, int]:
    """SwapMath.computeSwapStep -> (sqrt_ratio_next_x96, amount_in, amount_out, fee_amount).

    Exact input when amount_remaining >= 0, exact output otherwise, as in the contract.
    """
    zero_for_one = sqrt_ratio_current_x96 >= sqrt_ratio_target_x96
    exact_in = amount_remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        less_fee = mul_div(amount_remaining, FEE_DENOMINATOR - fee_pips, FEE_DENOMINATOR)
        amount_in = _amount_in(
            zero_for_one, sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity
        )
        if less_fee >= amount_in:
            sqrt_next = sqrt_ratio_target_x96
        else:
            sqrt_next = get_next_sqrt_price_from_input(
                sqrt_ratio_current_x96, liquidity, less_fee, zero_for_one
            )
    else:
        amount_out = _amount_out(
            zero_for_one, sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity
        )
        if -amount_remaining >= amount_out:
            sqrt_next = sqrt_ratio_target_x96
        else:
            sqrt_next = get_next_sqrt_price_from_output(
                sqrt_ratio_current_x96, liquidity, -amount_remaining, zero_for_one
            )
    reached = sqrt_ratio_target_x96 == sqrt_next
    if not (reached and exact_in):
        amount_in = _amount_in(zero_for_one, sqrt_ratio_current_x96, sqrt_next, liquidity)
    if not (reached and not exact_in):
        amount_out = _amount_out(zero_for_one, sqrt_ratio_current_x96, sqrt_next, liquidity)
    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining  # cap the output at what is still wanted
    if exact_in and not reached:
        fee_amount = amount_remaining - amount_in  # the rest of the input is fee
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, FEE_DENOMINATOR - fee_pips)
    return sqrt_next, amount_in, amount_out, fee_amount


def _amount_in(zero_for_one: bool, sqrt_current: int, sqrt_next: int, liquidity: int) -> int:
    """Input to move the price from current to next, rounded up: token0 when zeroForOne."""
    if zero_for_one:
        return get_amount0_delta(sqrt_next, sqrt_current, liquidity, True)
    return get_amount1_delta(sqrt_current, sqrt_next, liquidity, True)


def _amount_out(zero_for_one: bool, sqrt_current: int, sqrt_next: int, liquidity: int) -> int:
    """Output of moving the price from current to next, rounded down: token1 when zeroForOne."""
    if zero_for_one:
        return get_amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    return get_amount0_delta(sqrt_current, sqrt_next, liquidity, False)


# -- LiquidityMath --------------------------------------------------------------------------
def add_delta(x: int, y: int) -> int:
    """LiquidityMath.addDelta: uint128 plus int128, reverting LS below 0 and LA past uint128."""
    z = x + y
    if z < 0:
        raise V3MathError(f"LS: liquidity {x} {y:+}")
    if z > MAX_UINT128:
        raise V3MathError(f"LA: liquidity {x} {y:+}")
    return z


# -- TickBitmap -----------------------------------------------------------------------------
def next_initialized_tick_within_one_word(
    initialized: Sequence[int], tick: int, tick_spacing: int, lte: bool
) -> tuple[int, bool]:
    """TickBitmap.nextInitializedTickWithinOneWord over a sorted sequence of initialized ticks.

    Looks no further than the bitmap word (256 compressed ticks) holding the start, exactly
    like the contract: with nothing initialized there, the word's edge is returned with
    initialized=False, and the swap stops there for a step of its own.
    """
    compressed = tick // tick_spacing  # floor, as the contract's round toward -infinity
    if lte:
        word_start = (compressed >> 8) << 8
        i = bisect_right(initialized, compressed * tick_spacing) - 1
        if i >= 0 and initialized[i] >= word_start * tick_spacing:
            return initialized[i], True
        return word_start * tick_spacing, False
    nxt = compressed + 1
    word_end = ((nxt >> 8) << 8) + 255
    i = bisect_left(initialized, nxt * tick_spacing)
    if i < len(initialized) and initialized[i] <= word_end * tick_spacing:
        return initialized[i], True
    return word_end * tick_spacing, False
