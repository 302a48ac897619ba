"""Uniswap V2 family: exact constant-product swap math, as UniswapV2Library and UniswapV2Pair.

One module serves every fork with the same curve (Uniswap, Sushi, Pancake, QuickSwap, ...):
the fee is a parameter in basis points, so Pancake's 25 bps is `fee_bps=25`. Scaling the
library's 997/1000 to 9970/10000 changes no floor, so the results are the library's to the wei.
A swap the contract would refuse raises a `SwapError` named after its revert reason; a quote
never returns a number the chain would not pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

BPS = 10_000
DEFAULT_FEE_BPS = 30
MAX_UINT112 = 2**112 - 1  # UniswapV2Pair keeps reserves in uint112

__all__ = [
    "BPS",
    "InsufficientInputAmount",
    "InsufficientLiquidity",
    "InsufficientOutputAmount",
    "PoolStateError",
    "ReserveOverflow",
    "SwapError",
    "V2Pool",
    "get_amount_in",
    "get_amount_out",
    "get_amounts_in",
    "get_amounts_out",
]


def token_side(token: str, token0: str, token1: str, pool: str) -> bool:
    """True when `token` is token0, False when token1 (any address case); else ValueError."""
    if token == token0:
        return True
    if token == token1:
        return False
    low = token.lower()
    if low == token0.lower():
        return True
    if low == token1.lower():
        return False
    raise ValueError(f"{token} is not a token of pool {pool}")


class SwapError(ValueError):
    """A swap the contract would revert; the message carries the contract's reason."""


class InsufficientInputAmount(SwapError):
    """UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT."""


class InsufficientOutputAmount(SwapError):
    """UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT."""


class InsufficientLiquidity(SwapError):
    """UniswapV2Library: INSUFFICIENT_LIQUIDITY (or the pair has less than is asked of it)."""


class ReserveOverflow(SwapError):
    """UniswapV2: OVERFLOW - a balance past uint112 after the swap."""


class PoolStateError(ValueError):
    """Pool state that cannot exist on chain (negative reserves, a fee of 100%, ...)."""


# -- UniswapV2Library -----------------------------------------------------------------------
def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountOut; rounds down like the contract.

    The largest output the pair's K check accepts for `amount_in` paid in.
    """
    if amount_in <= 0:
        raise InsufficientInputAmount(f"UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT ({amount_in})")
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity(
            f"UniswapV2Library: INSUFFICIENT_LIQUIDITY ({reserve_in}, {reserve_out})"
        )
    amount_in_with_fee = amount_in * (BPS - fee_bps)
    return amount_in_with_fee * reserve_out // (reserve_in * BPS + amount_in_with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int, fee_bps: int = 30) -> int:
    """UniswapV2Library.getAmountIn: the floored quotient plus one, like the contract.

    Asking for the whole reserve (or more) reverts in the library (SafeMath underflow or a
    division by zero); that is `InsufficientLiquidity` here.
    """
    if amount_out <= 0:
        raise InsufficientOutputAmount(
            f"UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT ({amount_out})"
        )
    if reserve_in <= 0 or reserve_out <= 0:
        raise InsufficientLiquidity(
            f"UniswapV2Library: INSUFFICIENT_LIQUIDITY ({reserve_in}, {reserve_out})"
        )
    if amount_out >= reserve_out:
        raise InsufficientLiquidity(f"amount out {amount_out} >= reserve {reserve_out}")
    numerator = reserve_in * amount_out * BPS
    denominator = (reserve_out - amount_out) * (BPS - fee_bps)
    return numerator // denominator + 1


def get_amounts_out(
    amount_in: int, reserves_path: Sequence[tuple[int, int]], fees: Sequence[int]
) -> list[int]:
    """UniswapV2Library.getAmountsOut over one (reserve_in, reserve_out) and fee per hop.

    Returns [amount_in, after hop 1, ..., final amount out], like the contract.
    """
    _check_path(reserves_path, fees)
    amounts = [amount_in]
    for (reserve_in, reserve_out), fee_bps in zip(reserves_path, fees, strict=True):
        amounts.append(get_amount_out(amounts[-1], reserve_in, reserve_out, fee_bps))
    return amounts


def get_amounts_in(
    amount_out: int, reserves_path: Sequence[tuple[int, int]], fees: Sequence[int]
) -> list[int]:
    """UniswapV2Library.getAmountsIn: hops walked backwards from the output; same order as out."""
    _check_path(reserves_path, fees)
    amounts = [amount_out]
    for (reserve_in, reserve_out), fee_bps in zip(
        reversed(reserves_path), reversed(fees), strict=True
    ):
        amounts.append(get_amount_in(amounts[-1], reserve_in, reserve_out, fee_bps))
    amounts.reverse()
    return amounts


def _check_path(reserves_path: Sequence[tuple[int, int]], fees: Sequence[int]) -> None:
    if not reserves_path:
        raise SwapError("UniswapV2Library: INVALID_PATH (no hops)")
    if len(fees) != len(reserves_path):
        raise ValueError(f"{len(reserves_path)} hops but {len(fees)} fees")


# -- pair state -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class V2Pool:
    """One pair's state: token0 < token1 by address, reserves as getReserves() returns them."""

    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_bps: int = DEFAULT_FEE_BPS

    def __post_init__(self) -> None:
        for name, reserve in (("reserve0", self.reserve0), ("reserve1", self.reserve1)):
            if not 0 <= reserve <= MAX_UINT112:
                raise PoolStateError(f"pool {self.address} has {name}={reserve}")
        if not 0 <= self.fee_bps < BPS:
            raise PoolStateError(f"pool {self.address} has fee_bps={self.fee_bps}")
        if self.token0.lower() == self.token1.lower():
            raise PoolStateError(f"pool {self.address} pairs {self.token0} with itself")

    def is_token0(self, token: str) -> bool:
        """True for token0, False for token1; a token not in the pool is a caller bug."""
        return token_side(token, self.token0, self.token1, self.address)

    def reserves(self, token_in: str) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a swap paying `token_in`."""
        if self.is_token0(token_in):
            return self.reserve0, self.reserve1
        return self.reserve1, self.reserve0

    def amount_out(self, token_in: str, amount_in: int) -> int:
        """Output of paying `amount_in` of `token_in`: getAmountOut plus the pair's uint112 cap."""
        reserve_in, reserve_out = self.reserves(token_in)
        if reserve_in + amount_in > MAX_UINT112:
            raise ReserveOverflow(f"UniswapV2: OVERFLOW ({reserve_in} + {amount_in})")
        return get_amount_out(amount_in, reserve_in, reserve_out, self.fee_bps)

    def amount_in(self, token_in: str, amount_out: int) -> int:
        """Input of `token_in` that getAmountIn asks for to receive `amount_out` of the other."""
        reserve_in, reserve_out = self.reserves(token_in)
        amount_in = get_amount_in(amount_out, reserve_in, reserve_out, self.fee_bps)
        if reserve_in + amount_in > MAX_UINT112:
            raise ReserveOverflow(f"UniswapV2: OVERFLOW ({reserve_in} + {amount_in})")
        return amount_in

    def with_reserves(self, reserve0: int, reserve1: int) -> V2Pool:
        """The same pair at new reserves (after a Sync)."""
        return replace(self, reserve0=reserve0, reserve1=reserve1)

    def after_swap(self, token_in: str, amount_in: int, amount_out: int) -> V2Pool:
        """The pair once `amount_in` of `token_in` came in and `amount_out` of the other left."""
        if self.is_token0(token_in):
            return self.with_reserves(self.reserve0 + amount_in, self.reserve1 - amount_out)
        return self.with_reserves(self.reserve0 - amount_out, self.reserve1 + amount_in)
