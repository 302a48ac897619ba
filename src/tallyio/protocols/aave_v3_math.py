"""Aave V3's pure libraries: WadRayMath, PercentageMath, MathUtils and the configuration words.

Every function rounds half up exactly as the library's assembly does (add half the divisor,
then floor), and raises `AaveMathError` where the assembly reverts on overflow or a zero
divisor. The assembly's guard `a > (MAX - half) / b` is, on integers, `a * b + half > MAX`:
the product is formed once and checked instead of dividing first. Interest follows MathUtils:
linear for supply, the three-term binomial expansion of (1 + rate / year) ** seconds for
variable and stable debt. The configuration bitmaps (ReserveConfiguration, UserConfiguration)
decode with the bit positions of core-v3 1.19.x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

WAD: Final = 10**18
HALF_WAD: Final = WAD // 2
RAY: Final = 10**27
HALF_RAY: Final = RAY // 2
WAD_RAY_RATIO: Final = 10**9
PERCENTAGE_FACTOR: Final = 10**4
HALF_PERCENTAGE_FACTOR: Final = PERCENTAGE_FACTOR // 2
SECONDS_PER_YEAR: Final = 365 * 24 * 3600
MAX_UINT256: Final = 2**256 - 1

__all__ = [
    "HALF_RAY",
    "HALF_WAD",
    "MAX_UINT256",
    "PERCENTAGE_FACTOR",
    "RAY",
    "SECONDS_PER_YEAR",
    "WAD",
    "AaveMathError",
    "ReserveConfig",
    "calculate_compounded_interest",
    "calculate_linear_interest",
    "decode_reserve_configuration",
    "decode_user_configuration",
    "percent_div",
    "percent_mul",
    "ray_div",
    "ray_mul",
    "ray_to_wad",
    "wad_div",
    "wad_mul",
    "wad_to_ray",
]


class AaveMathError(ArithmeticError):
    """An input on which the Aave math library reverts (overflow, division by zero)."""


# -- WadRayMath -----------------------------------------------------------------------------
def wad_mul(a: int, b: int) -> int:
    """WadRayMath.wadMul: (a * b + WAD / 2) / WAD, half up."""
    product = a * b
    if product > MAX_UINT256 - HALF_WAD:
        raise AaveMathError(f"wadMul overflow: {a} * {b}")
    return (product + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    """WadRayMath.wadDiv: (a * WAD + b / 2) / b, half up."""
    scaled = a * WAD + b // 2
    if b == 0 or scaled > MAX_UINT256:
        raise AaveMathError(f"wadDiv revert: {a} / {b}")
    return scaled // b


def ray_mul(a: int, b: int) -> int:
    """WadRayMath.rayMul: (a * b + RAY / 2) / RAY, half up."""
    product = a * b
    if product > MAX_UINT256 - HALF_RAY:
        raise AaveMathError(f"rayMul overflow: {a} * {b}")
    return (product + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    """WadRayMath.rayDiv: (a * RAY + b / 2) / b, half up."""
    scaled = a * RAY + b // 2
    if b == 0 or scaled > MAX_UINT256:
        raise AaveMathError(f"rayDiv revert: {a} / {b}")
    return scaled // b


def ray_to_wad(a: int) -> int:
    """WadRayMath.rayToWad: a / 1e9, half up."""
    quotient, remainder = divmod(a, WAD_RAY_RATIO)
    return quotient + (1 if remainder >= WAD_RAY_RATIO // 2 else 0)


def wad_to_ray(a: int) -> int:
    """WadRayMath.wadToRay: a * 1e9, reverting past uint256."""
    b = a * WAD_RAY_RATIO
    if b > MAX_UINT256:
        raise AaveMathError(f"wadToRay overflow: {a}")
    return b


# -- PercentageMath -------------------------------------------------------------------------
def percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul (basis points): (value * pct + 0.5e4) / 1e4, half up."""
    product = value * percentage
    if product > MAX_UINT256 - HALF_PERCENTAGE_FACTOR:
        raise AaveMathError(f"percentMul overflow: {value} * {percentage}")
    return (product + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    """PercentageMath.percentDiv (basis points): (value * 1e4 + pct / 2) / pct, half up."""
    scaled = value * PERCENTAGE_FACTOR + percentage // 2
    if percentage == 0 or scaled > MAX_UINT256:
        raise AaveMathError(f"percentDiv revert: {value} / {percentage}")
    return scaled // percentage


# -- MathUtils ------------------------------------------------------------------------------
def calculate_linear_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """MathUtils.calculateLinearInterest: RAY + rate * elapsed / year (floor), in ray."""
    elapsed = current_timestamp - last_update_timestamp
    if elapsed < 0:
        raise AaveMathError(f"timestamp {current_timestamp} before {last_update_timestamp}")
    return RAY + rate * elapsed // SECONDS_PER_YEAR


def calculate_compounded_interest(
    rate: int, last_update_timestamp: int, current_timestamp: int
) -> int:
    """MathUtils.calculateCompoundedInterest: 1 + x + x^2/2 + x^3/6 with each floor in order."""
    exp = current_timestamp - last_update_timestamp
    if exp < 0:
        raise AaveMathError(f"timestamp {current_timestamp} before {last_update_timestamp}")
    if exp == 0:
        return RAY
    exp_minus_one = exp - 1
    exp_minus_two = exp - 2 if exp > 2 else 0
    base_power_two = ray_mul(rate, rate) // (SECONDS_PER_YEAR * SECONDS_PER_YEAR)
    base_power_three = ray_mul(base_power_two, rate) // SECONDS_PER_YEAR
    second_term = exp * exp_minus_one * base_power_two // 2
    third_term = exp * exp_minus_one * exp_minus_two * base_power_three // 6
    return RAY + rate * exp // SECONDS_PER_YEAR + second_term + third_term


# -- ReserveConfiguration / UserConfiguration ----------------------------------------------
@dataclass(frozen=True, slots=True)
class ReserveConfig:
    """ReserveConfigurationMap, decoded (the fields account and liquidation math reads)."""

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    active: bool
    frozen: bool
    borrowing_enabled: bool
    stable_borrowing_enabled: bool
    paused: bool
    reserve_factor: int
    liquidation_protocol_fee: int
    emode_category: int


def _bits(word: int, start: int, width: int) -> int:
    return (word >> start) & ((1 << width) - 1)


def decode_reserve_configuration(word: int) -> ReserveConfig:
    """ReserveConfiguration getters over the packed uint256 (bit positions as in 1.19.x)."""
    return ReserveConfig(
        ltv=_bits(word, 0, 16),
        liquidation_threshold=_bits(word, 16, 16),
        liquidation_bonus=_bits(word, 32, 16),
        decimals=_bits(word, 48, 8),
        active=bool(_bits(word, 56, 1)),
        frozen=bool(_bits(word, 57, 1)),
        borrowing_enabled=bool(_bits(word, 58, 1)),
        stable_borrowing_enabled=bool(_bits(word, 59, 1)),
        paused=bool(_bits(word, 60, 1)),
        reserve_factor=_bits(word, 64, 16),
        liquidation_protocol_fee=_bits(word, 152, 16),
        emode_category=_bits(word, 168, 8),
    )


def decode_user_configuration(word: int, reserve_id: int) -> tuple[bool, bool]:
    """UserConfiguration.isBorrowing / isUsingAsCollateral for one reserve id: (borrowing, coll)."""
    return bool((word >> (reserve_id * 2)) & 1), bool((word >> (reserve_id * 2 + 1)) & 1)
