"""Aave V3.0 (`@aave/core-v3` 1.19.x) account and liquidation math, exact to the wei.

Mirrors GenericLogic.calculateUserAccountData, PoolLogic.executeGetUserAccountData,
ReserveLogic.getNormalizedIncome/Debt, StableDebtToken.balanceOf and LiquidationLogic
(executeLiquidationCall, _calculateDebt, _getConfigurationData,
_calculateAvailableCollateralToLiquidate) on Python ints. Prices are AaveOracle answers in the
market's base currency (USD with 8 decimals on the devnet); risk parameters are basis points.

Version: V3.0 rules - close factor 50%, 100% below HF 0.95. V3.3's $2,000 full-close and
$1,000 leftover rules are not in this bytecode and are not modelled here. A liquidation the
Pool would revert raises `LiquidationCallError` carrying Aave's error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from tallyio.protocols.aave_v3_math import (
    MAX_UINT256,
    PERCENTAGE_FACTOR,
    ReserveConfig,
    calculate_compounded_interest,
    calculate_linear_interest,
    decode_reserve_configuration,
    decode_user_configuration,
    percent_div,
    percent_mul,
    ray_div,
    ray_mul,
    wad_div,
)

ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
HEALTH_FACTOR_LIQUIDATION_THRESHOLD: Final = 10**18
CLOSE_FACTOR_HF_THRESHOLD: Final = 95 * 10**16
DEFAULT_LIQUIDATION_CLOSE_FACTOR: Final = 5_000
MAX_LIQUIDATION_CLOSE_FACTOR: Final = PERCENTAGE_FACTOR

# Aave's Errors.sol codes a liquidation can revert with.
RESERVE_INACTIVE: Final = "27"
RESERVE_PAUSED: Final = "29"
INVALID_BURN_AMOUNT: Final = "25"
HEALTH_FACTOR_NOT_BELOW_THRESHOLD: Final = "45"
COLLATERAL_CANNOT_BE_LIQUIDATED: Final = "46"
SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER: Final = "47"

__all__ = [
    "CLOSE_FACTOR_HF_THRESHOLD",
    "HEALTH_FACTOR_LIQUIDATION_THRESHOLD",
    "AccountData",
    "AvailableCollateral",
    "EModeCategory",
    "LiquidationCallError",
    "LiquidationResult",
    "ReserveConfig",
    "ReserveData",
    "UserAccount",
    "UserReserve",
    "calculate_available_borrows",
    "calculate_available_collateral_to_liquidate",
    "calculate_health_factor",
    "calculate_user_account_data",
    "close_factor",
    "decode_reserve_configuration",
    "decode_user_configuration",
    "execute_liquidation_call",
    "get_normalized_debt",
    "get_normalized_income",
    "stable_debt_balance_of",
    "stable_debt_of",
]


class LiquidationCallError(ValueError):
    """A liquidationCall the Pool reverts; `code` is Aave's Errors.sol string ("45", ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# -- state ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReserveData:
    """One reserve as the account math sees it: risk parameters, oracle price, index state."""

    asset: str
    id: int
    decimals: int
    price: int  # AaveOracle.getAssetPrice, base currency units
    ltv: int  # bps
    liquidation_threshold: int  # bps
    liquidation_bonus: int  # bps, 10500 = +5%
    liquidation_protocol_fee: int  # bps of the bonus
    emode_category: int
    liquidity_index: int  # ray, as stored at last_update_timestamp
    current_liquidity_rate: int  # ray per year
    variable_borrow_index: int  # ray
    current_variable_borrow_rate: int  # ray per year
    last_update_timestamp: int
    active: bool = True
    paused: bool = False

    @classmethod
    def from_pool(cls, asset: str, price: int, data: Sequence[int | str]) -> ReserveData:
        """From Pool.getReserveData's tuple (configuration, liquidityIndex, ..., id, ...)."""
        config = decode_reserve_configuration(int(data[0]))
        return cls(
            asset=asset,
            id=int(data[7]),
            decimals=config.decimals,
            price=price,
            ltv=config.ltv,
            liquidation_threshold=config.liquidation_threshold,
            liquidation_bonus=config.liquidation_bonus,
            liquidation_protocol_fee=config.liquidation_protocol_fee,
            emode_category=config.emode_category,
            liquidity_index=int(data[1]),
            current_liquidity_rate=int(data[2]),
            variable_borrow_index=int(data[3]),
            current_variable_borrow_rate=int(data[4]),
            last_update_timestamp=int(data[6]),
            active=config.active,
            paused=config.paused,
        )


@dataclass(frozen=True, slots=True)
class EModeCategory:
    """Pool.getEModeCategoryData; `price` is the oracle's price of `price_source` (0 if none)."""

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    price_source: str = ZERO_ADDRESS
    price: int = 0


@dataclass(frozen=True, slots=True)
class UserReserve:
    """A user's balances in one reserve and its two UserConfiguration bits."""

    asset: str
    scaled_a_token_balance: int = 0  # AToken.scaledBalanceOf
    scaled_variable_debt: int = 0  # VariableDebtToken.scaledBalanceOf
    stable_debt_principal: int = 0  # StableDebtToken.principalBalanceOf
    stable_rate: int = 0  # StableDebtToken.getUserStableRate (ray); 0 = the principal is the debt
    stable_last_updated: int = 0  # StableDebtToken.getUserLastUpdated
    using_as_collateral: bool = False
    borrowing: bool = False


@dataclass(frozen=True, slots=True)
class UserAccount:
    positions: tuple[UserReserve, ...]
    emode_category: int = 0  # Pool.getUserEMode


@dataclass(frozen=True, slots=True)
class AccountData:
    """Pool.getUserAccountData's six values, plus hasZeroLtvCollateral."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int
    has_zero_ltv_collateral: bool = False

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """In getUserAccountData's order."""
        return (
            self.total_collateral_base,
            self.total_debt_base,
            self.available_borrows_base,
            self.current_liquidation_threshold,
            self.ltv,
            self.health_factor,
        )


# -- ReserveLogic / StableDebtToken ---------------------------------------------------------
def get_normalized_income(reserve: ReserveData, timestamp: int) -> int:
    """ReserveLogic.getNormalizedIncome at `timestamp` (linear interest on the stored index)."""
    if reserve.last_update_timestamp == timestamp:
        return reserve.liquidity_index
    factor = calculate_linear_interest(
        reserve.current_liquidity_rate, reserve.last_update_timestamp, timestamp
    )
    return ray_mul(factor, reserve.liquidity_index)


def get_normalized_debt(reserve: ReserveData, timestamp: int) -> int:
    """ReserveLogic.getNormalizedDebt at `timestamp` (compounded interest on the stored index)."""
    if reserve.last_update_timestamp == timestamp:
        return reserve.variable_borrow_index
    factor = calculate_compounded_interest(
        reserve.current_variable_borrow_rate, reserve.last_update_timestamp, timestamp
    )
    return ray_mul(factor, reserve.variable_borrow_index)


def stable_debt_balance_of(
    principal: int, stable_rate: int, last_updated: int, timestamp: int
) -> int:
    """StableDebtToken.balanceOf: principal.rayMul(compounded interest since the user's update)."""
    if principal == 0:
        return 0
    return ray_mul(principal, calculate_compounded_interest(stable_rate, last_updated, timestamp))


def stable_debt_of(pos: UserReserve, timestamp: int) -> int:
    """The position's StableDebtToken.balanceOf at `timestamp`."""
    return stable_debt_balance_of(
        pos.stable_debt_principal, pos.stable_rate, pos.stable_last_updated, timestamp
    )


# -- GenericLogic ---------------------------------------------------------------------------
def calculate_health_factor(
    total_collateral_base: int, total_debt_base: int, avg_liquidation_threshold: int
) -> int:
    """GenericLogic's HF: collateral.percentMul(avgLT).wadDiv(debt); uint256 max without debt."""
    if total_debt_base == 0:
        return MAX_UINT256
    return wad_div(percent_mul(total_collateral_base, avg_liquidation_threshold), total_debt_base)


def calculate_available_borrows(total_collateral_base: int, total_debt_base: int, ltv: int) -> int:
    """GenericLogic.calculateAvailableBorrows."""
    available = percent_mul(total_collateral_base, ltv)
    return 0 if available < total_debt_base else available - total_debt_base


def _asset_price(reserve: ReserveData, account: UserAccount, emode: EModeCategory | None) -> int:
    if emode is not None and emode.price != 0 and account.emode_category == reserve.emode_category:
        return emode.price
    return reserve.price


def _emode_for(account: UserAccount, emode: EModeCategory | None) -> EModeCategory | None:
    if account.emode_category == 0:
        return None
    if emode is None or emode.id != account.emode_category:
        raise ValueError(f"user is in e-mode {account.emode_category}; pass that category")
    return emode


def _weights(reserve: ReserveData, emode: EModeCategory | None) -> tuple[int, int]:
    """(ltv, liquidation threshold) the account math weighs this reserve's collateral by."""
    if emode is not None and reserve.emode_category == emode.id:
        return emode.ltv, emode.liquidation_threshold
    return reserve.ltv, reserve.liquidation_threshold


def _debt_in_base(pos: UserReserve, reserve: ReserveData, price: int, timestamp: int) -> int:
    """GenericLogic._getUserDebtInBaseCurrency."""
    variable = pos.scaled_variable_debt
    if variable != 0:
        variable = ray_mul(variable, get_normalized_debt(reserve, timestamp))
    stable = stable_debt_of(pos, timestamp)
    return price * (variable + stable) // 10**reserve.decimals


def calculate_user_account_data(
    reserves: Mapping[str, ReserveData],
    account: UserAccount,
    timestamp: int,
    emode: EModeCategory | None = None,
) -> AccountData:
    """GenericLogic.calculateUserAccountData + calculateAvailableBorrows at `timestamp`."""
    category = _emode_for(account, emode)
    collateral = debt = weighted_ltv = weighted_lt = 0
    zero_ltv = False
    positions = [p for p in account.positions if p.using_as_collateral or p.borrowing]
    if not positions:
        return AccountData(0, 0, 0, 0, 0, MAX_UINT256, False)
    for pos in positions:
        reserve = reserves[pos.asset]
        price = _asset_price(reserve, account, category)
        if reserve.liquidation_threshold != 0 and pos.using_as_collateral:
            # GenericLogic._getUserBalanceInBaseCurrency
            income = get_normalized_income(reserve, timestamp)
            value = ray_mul(pos.scaled_a_token_balance, income) * price // 10**reserve.decimals
            collateral += value
            ltv, lt = _weights(reserve, category)
            if reserve.ltv != 0:
                weighted_ltv += value * ltv
            else:
                zero_ltv = True
            weighted_lt += value * lt
        if pos.borrowing:
            debt += _debt_in_base(pos, reserve, price, timestamp)
    avg_ltv = weighted_ltv // collateral if collateral else 0
    avg_lt = weighted_lt // collateral if collateral else 0
    return AccountData(
        total_collateral_base=collateral,
        total_debt_base=debt,
        available_borrows_base=calculate_available_borrows(collateral, debt, avg_ltv),
        current_liquidation_threshold=avg_lt,
        ltv=avg_ltv,
        health_factor=calculate_health_factor(collateral, debt, avg_lt),
        has_zero_ltv_collateral=zero_ltv,
    )


# -- LiquidationLogic -----------------------------------------------------------------------
def close_factor(health_factor: int) -> int:
    """LiquidationLogic._calculateDebt's close factor (bps): 50%, or 100% at HF <= 0.95."""
    if health_factor > CLOSE_FACTOR_HF_THRESHOLD:
        return DEFAULT_LIQUIDATION_CLOSE_FACTOR
    return MAX_LIQUIDATION_CLOSE_FACTOR


@dataclass(frozen=True, slots=True)
class AvailableCollateral:
    """_calculateAvailableCollateralToLiquidate's three results."""

    collateral_amount: int  # to the liquidator (protocol fee already taken out)
    debt_amount_needed: int
    protocol_fee: int


def calculate_available_collateral_to_liquidate(
    *,
    collateral_price: int,
    debt_price: int,
    collateral_decimals: int,
    debt_decimals: int,
    debt_to_cover: int,
    user_collateral_balance: int,
    liquidation_bonus: int,
    liquidation_protocol_fee: int,
) -> AvailableCollateral:
    """LiquidationLogic._calculateAvailableCollateralToLiquidate, floors and half-ups in order."""
    collateral_unit, debt_unit = 10**collateral_decimals, 10**debt_decimals
    base_collateral = (debt_price * debt_to_cover * collateral_unit) // (
        collateral_price * debt_unit
    )
    max_collateral = percent_mul(base_collateral, liquidation_bonus)
    if max_collateral > user_collateral_balance:
        amount = user_collateral_balance
        debt_needed = percent_div(
            (collateral_price * amount * debt_unit) // (debt_price * collateral_unit),
            liquidation_bonus,
        )
    else:
        amount, debt_needed = max_collateral, debt_to_cover
    if liquidation_protocol_fee == 0:
        return AvailableCollateral(amount, debt_needed, 0)
    bonus_collateral = amount - percent_div(amount, liquidation_bonus)
    fee = percent_mul(bonus_collateral, liquidation_protocol_fee)
    return AvailableCollateral(amount - fee, debt_needed, fee)


@dataclass(frozen=True, slots=True)
class LiquidationResult:
    """What executeLiquidationCall moves (amounts in each asset's base units)."""

    debt_repaid: int  # actualDebtToLiquidate: what the liquidator pays
    collateral_to_liquidator: int  # underlying (or aTokens with receiveAToken)
    protocol_fee: int  # collateral sent to the treasury as aTokens
    health_factor: int  # the borrower's HF before the liquidation
    close_factor: int  # bps applied to the borrower's total debt in the debt asset
    debt_cleared: bool  # the borrower's debt in the debt asset is now zero
    collateral_cleared: bool  # the collateral asset stops being collateral


def _position(account: UserAccount, asset: str) -> UserReserve:
    for pos in account.positions:
        if pos.asset == asset:
            return pos
    return UserReserve(asset)


def _validate(
    collateral: ReserveData, debt: ReserveData, pos: UserReserve, hf: int, total_debt: int
) -> None:
    """ValidationLogic.validateLiquidationCall (no PriceOracleSentinel on this market)."""
    if not (collateral.active and debt.active):
        raise LiquidationCallError(RESERVE_INACTIVE, "reserve inactive")
    if collateral.paused or debt.paused:
        raise LiquidationCallError(RESERVE_PAUSED, "reserve paused")
    if hf >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise LiquidationCallError(HEALTH_FACTOR_NOT_BELOW_THRESHOLD, f"health factor {hf}")
    if collateral.liquidation_threshold == 0 or not pos.using_as_collateral:
        raise LiquidationCallError(COLLATERAL_CANNOT_BE_LIQUIDATED, "not collateral")
    if total_debt == 0:
        raise LiquidationCallError(SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER, "no debt")


def _configuration(
    collateral: ReserveData, debt: ReserveData, emode: EModeCategory | None
) -> tuple[int, int, int]:
    """_getConfigurationData: (collateral price, debt price, liquidation bonus)."""
    bonus, collateral_price, debt_price = collateral.liquidation_bonus, collateral.price, debt.price
    if emode is not None:
        if collateral.emode_category == emode.id:
            bonus = emode.liquidation_bonus
            if emode.price_source != ZERO_ADDRESS:
                collateral_price = emode.price
        if emode.price_source != ZERO_ADDRESS:
            debt_price = emode.price
    return collateral_price, debt_price, bonus


def _protocol_fee_paid(fee: int, scaled_left: int, index: int) -> int:
    """executeLiquidationCall's cap of the fee at what the borrower still holds (in aTokens)."""
    if fee == 0:
        return 0
    if ray_div(fee, index) > scaled_left:
        fee = ray_mul(scaled_left, index)
    if ray_div(fee, index) > scaled_left:
        raise LiquidationCallError("panic", "treasury transfer exceeds the balance")
    return fee


def _check_debt_burn(amount: int, variable_debt: int, index: int) -> None:
    """_burnDebtTokens: the variable part is burnt first, and a burn must not round to zero."""
    burned = amount if variable_debt >= amount else variable_debt
    if (variable_debt >= amount or variable_debt != 0) and ray_div(burned, index) == 0:
        raise LiquidationCallError(INVALID_BURN_AMOUNT, "debt burn rounds to zero")


def _collateral_left(scaled: int, amount: int, index: int, burn: bool) -> int:
    """The borrower's scaled aTokens after the seizure (a burn may not round to zero)."""
    moved = ray_div(amount, index)
    if burn and moved == 0:
        raise LiquidationCallError(INVALID_BURN_AMOUNT, "collateral burn rounds to zero")
    if moved > scaled:
        raise LiquidationCallError("panic", "seizure exceeds the borrower's aTokens")
    return scaled - moved


def execute_liquidation_call(
    reserves: Mapping[str, ReserveData],
    account: UserAccount,
    *,
    collateral_asset: str,
    debt_asset: str,
    debt_to_cover: int,
    timestamp: int,
    emode: EModeCategory | None = None,
    receive_a_token: bool = False,
) -> LiquidationResult:
    """LiquidationLogic.executeLiquidationCall in a block at `timestamp`; raises on revert."""
    burn = not receive_a_token
    collateral, debt = reserves[collateral_asset], reserves[debt_asset]
    hf = calculate_user_account_data(reserves, account, timestamp, emode).health_factor
    debt_pos, coll_pos = _position(account, debt_asset), _position(account, collateral_asset)
    debt_index = get_normalized_debt(debt, timestamp)
    variable_debt = ray_mul(debt_pos.scaled_variable_debt, debt_index)
    total_debt = stable_debt_of(debt_pos, timestamp) + variable_debt
    factor = close_factor(hf)
    to_liquidate = min(debt_to_cover, percent_mul(total_debt, factor))
    _validate(collateral, debt, coll_pos, hf, total_debt)
    collateral_price, debt_price, bonus = _configuration(
        collateral, debt, _emode_for(account, emode)
    )
    income = get_normalized_income(collateral, timestamp)
    balance = ray_mul(coll_pos.scaled_a_token_balance, income)
    out = calculate_available_collateral_to_liquidate(
        collateral_price=collateral_price,
        debt_price=debt_price,
        collateral_decimals=collateral.decimals,
        debt_decimals=debt.decimals,
        debt_to_cover=to_liquidate,
        user_collateral_balance=balance,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=collateral.liquidation_protocol_fee,
    )
    _check_debt_burn(out.debt_amount_needed, variable_debt, debt_index)
    left = _collateral_left(coll_pos.scaled_a_token_balance, out.collateral_amount, income, burn)
    return LiquidationResult(
        debt_repaid=out.debt_amount_needed,
        collateral_to_liquidator=out.collateral_amount,
        protocol_fee=_protocol_fee_paid(out.protocol_fee, left, income),
        health_factor=hf,
        close_factor=factor,
        debt_cleared=out.debt_amount_needed == total_debt,
        collateral_cleared=out.collateral_amount + out.protocol_fee == balance,
    )
