"""Venus core pool (Compound v2 family, venus-protocol 10.x) account and liquidation math, exact.

Mirrors ExponentialNoError (Exp mantissas scaled by 1e18, every product truncated), the legacy
JumpRateModel, VToken.accrueInterest / exchangeRateStored / borrowBalanceStored and
redeemFresh's fee (Comptroller.treasuryPercent of the redeemed underlying),
ComptrollerLens._calculateAccountPosition (getAccountLiquidity weighs collateral by each
market's liquidation threshold at the spot price; getBorrowingPower by its collateral factor at
the DeviationBoundedOracle's prices), ComptrollerLens._calculateSeizeTokens and the checks of
PolicyFacet.liquidateBorrowAllowed and VToken.liquidateBorrowFresh.

Prices are ResilientOracle.getUnderlyingPrice answers: USD per smallest unit of the underlying,
scaled by 1e18 * 1e18 / 10**decimals. An error answer raises `ComptrollerError` (PRICE_ERROR);
a liquidation the market rejects raises `LiquidationRejected` with Venus's Comptroller error
code, or the revert reason when the transaction would revert instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Final

EXP_SCALE: Final = 10**18
BORROW_RATE_MAX_MANTISSA: Final = 5 * 10**12  # VTokenStorageBase: 0.0005e16 per block
NEVER: Final = 2**256 - 1

# Comptroller ErrorReporter.Error values a liquidation check returns.
INSUFFICIENT_SHORTFALL: Final = 3
PRICE_ERROR: Final = 13
MARKET_NOT_COLLATERAL: Final = 19
TOO_MUCH_REPAY: Final = 17

__all__ = [
    "EXP_SCALE",
    "INSUFFICIENT_SHORTFALL",
    "MARKET_NOT_COLLATERAL",
    "NEVER",
    "PRICE_ERROR",
    "TOO_MUCH_REPAY",
    "AccountAsset",
    "AccountLiquidity",
    "ComptrollerError",
    "JumpRateModel",
    "LiquidationRejected",
    "MarketState",
    "SeizeResult",
    "WeightFunction",
    "accrue_interest",
    "borrow_balance_stored",
    "chainlink_underlying_price",
    "div_exp",
    "exchange_rate_stored",
    "get_account_liquidity",
    "get_borrowing_power",
    "get_exp",
    "get_hypothetical_account_liquidity",
    "liquidate_borrow",
    "liquidate_calculate_seize_tokens",
    "max_close",
    "mul_exp",
    "mul_scalar_truncate",
    "mul_scalar_truncate_add_uint",
    "redeem_fee",
    "split_liquidation_incentive",
    "truncate",
]


class WeightFunction(IntEnum):
    """IFacetBase.WeightFunction."""

    USE_COLLATERAL_FACTOR = 0
    USE_LIQUIDATION_THRESHOLD = 1


class ComptrollerError(ValueError):
    """An answer the contracts give as an error: a Comptroller Error code or a revert reason."""

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class LiquidationRejected(ComptrollerError):
    """A liquidateBorrow the market refuses (a Failure code, or a revert)."""


# -- ExponentialNoError ---------------------------------------------------------------------
def truncate(exp: int) -> int:
    """ExponentialNoError.truncate: an Exp mantissa down to a whole number."""
    return exp // EXP_SCALE


def mul_exp(a: int, b: int) -> int:
    """mul_(Exp, Exp): a * b / 1e18, truncated."""
    return a * b // EXP_SCALE


def div_exp(a: int, b: int) -> int:
    """div_(Exp, Exp): a * 1e18 / b, truncated."""
    if b == 0:
        raise ZeroDivisionError("divide by zero")
    return a * EXP_SCALE // b


def mul_scalar_truncate(a: int, scalar: int) -> int:
    """mul_ScalarTruncate(Exp a, scalar): truncate(a * scalar)."""
    return a * scalar // EXP_SCALE


def mul_scalar_truncate_add_uint(a: int, scalar: int, addend: int) -> int:
    """mul_ScalarTruncateAddUInt: truncate(a * scalar) + addend."""
    return a * scalar // EXP_SCALE + addend


def get_exp(num: int, denom: int) -> int:
    """CarefulMath/Exponential.getExp: the Exp num / denom, truncated."""
    if denom == 0:
        raise ZeroDivisionError("divide by zero")
    return num * EXP_SCALE // denom


# -- JumpRateModel --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JumpRateModel:
    """The legacy (0.5.16) JumpRateModel's per-block parameters, 1e18-scaled."""

    base_rate_per_block: int
    multiplier_per_block: int
    jump_multiplier_per_block: int
    kink: int

    @classmethod
    def from_yearly(
        cls, base: int, multiplier: int, jump_multiplier: int, kink: int, blocks_per_year: int
    ) -> JumpRateModel:
        """The constructor: yearly rates floored to per-block rates."""
        return cls(
            base // blocks_per_year,
            multiplier // blocks_per_year,
            jump_multiplier // blocks_per_year,
            kink,
        )

    def utilization_rate(self, cash: int, borrows: int, reserves: int) -> int:
        """borrows * 1e18 / (cash + borrows - reserves); 0 without borrows."""
        if borrows == 0:
            return 0
        return borrows * EXP_SCALE // (cash + borrows - reserves)

    def get_borrow_rate(self, cash: int, borrows: int, reserves: int) -> int:
        """Per-block borrow rate: linear to the kink, then the jump multiplier."""
        util = self.utilization_rate(cash, borrows, reserves)
        if util <= self.kink:
            return util * self.multiplier_per_block // EXP_SCALE + self.base_rate_per_block
        normal = self.kink * self.multiplier_per_block // EXP_SCALE + self.base_rate_per_block
        return (util - self.kink) * self.jump_multiplier_per_block // EXP_SCALE + normal

    def get_supply_rate(self, cash: int, borrows: int, reserves: int, reserve_factor: int) -> int:
        """Per-block supply rate."""
        rate_to_pool = (
            self.get_borrow_rate(cash, borrows, reserves) * (EXP_SCALE - reserve_factor)
        ) // EXP_SCALE
        return self.utilization_rate(cash, borrows, reserves) * rate_to_pool // EXP_SCALE


# -- VToken ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MarketState:
    """One vToken's stored market state (what accrueInterest reads and writes)."""

    cash: int  # getCash(): VBep20's internalCash
    total_borrows: int
    total_reserves: int
    total_supply: int
    borrow_index: int
    accrual_block_number: int
    reserve_factor: int
    initial_exchange_rate: int
    rate_model: JumpRateModel
    flash_loan_amount: int = 0
    reduce_reserves_block_delta: int = NEVER
    reduce_reserves_block_number: int = 0


def accrue_interest(market: MarketState, block_number: int) -> MarketState:
    """VToken.accrueInterest in block `block_number` (simple interest over the elapsed blocks)."""
    if market.accrual_block_number == block_number:
        return market
    delta = block_number - market.accrual_block_number
    if delta < 0:
        raise ValueError(f"block {block_number} before accrual at {market.accrual_block_number}")
    cash = market.cash + market.flash_loan_amount
    rate = market.rate_model.get_borrow_rate(cash, market.total_borrows, market.total_reserves)
    if rate > BORROW_RATE_MAX_MANTISSA:
        raise ValueError("borrow rate is absurdly high")
    simple_interest_factor = rate * delta
    interest = mul_scalar_truncate(simple_interest_factor, market.total_borrows)
    reserves = mul_scalar_truncate_add_uint(market.reserve_factor, interest, market.total_reserves)
    accrued = replace(
        market,
        accrual_block_number=block_number,
        borrow_index=mul_scalar_truncate_add_uint(
            simple_interest_factor, market.borrow_index, market.borrow_index
        ),
        total_borrows=market.total_borrows + interest,
        total_reserves=reserves,
    )
    if block_number - market.reduce_reserves_block_number < market.reduce_reserves_block_delta:
        return accrued
    # The sweep to the ProtocolShareReserve moves cash and reserves out alike.
    swept = min(market.cash, reserves)
    return replace(
        accrued,
        cash=market.cash - swept,
        total_reserves=reserves - swept,
        reduce_reserves_block_number=block_number,
    )


def exchange_rate_stored(market: MarketState) -> int:
    """VToken.exchangeRateStored: (cash + borrows - reserves) / supply, or the initial rate."""
    if market.total_supply == 0:
        return market.initial_exchange_rate
    cash = market.cash + market.flash_loan_amount
    return get_exp(cash + market.total_borrows - market.total_reserves, market.total_supply)


def borrow_balance_stored(principal: int, interest_index: int, borrow_index: int) -> int:
    """VToken.borrowBalanceStored: principal * borrowIndex / the borrower's interestIndex."""
    if principal == 0:
        return 0
    return principal * borrow_index // interest_index


def redeem_fee(redeem_amount: int, treasury_percent: int = 0) -> tuple[int, int]:
    """VToken.redeemFresh's fee: (to the comptroller's treasuryAddress, to the receiver).

    With Comptroller.treasuryPercent non-zero, redeemAmount * treasuryPercent / 1e18 (floored)
    goes to the treasury and the receiver gets the rest; cash falls by the whole redeemAmount."""
    if not 0 <= treasury_percent <= EXP_SCALE:
        raise ValueError(f"treasuryPercent {treasury_percent} outside [0, 1e18]")  # subUInt fails
    fee = redeem_amount * treasury_percent // EXP_SCALE
    return fee, redeem_amount - fee


def chainlink_underlying_price(answer: int, feed_decimals: int, token_decimals: int) -> int:
    """ChainlinkOracle.getPrice: the feed's answer scaled to 1e18, then by 1e(18 - decimals)."""
    return answer * 10 ** (18 - feed_decimals) * 10 ** (18 - token_decimals)


# -- ComptrollerLens ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountAsset:
    """One market of getAssetsIn(account): its snapshot, risk weights and oracle prices."""

    vtoken: str
    vtoken_balance: int  # getAccountSnapshot: vToken balance
    borrow_balance: int  # getAccountSnapshot: borrowBalanceStored
    exchange_rate: int  # getAccountSnapshot: exchangeRateStored
    price: int  # ResilientOracle.getUnderlyingPrice (the liquidation-threshold path)
    collateral_factor: int  # 1e18
    liquidation_threshold: int  # 1e18
    liquidation_incentive: int  # 1e18, per market in v10 (1.1e18 = +10%)
    bounded_collateral_price: int | None = None  # DeviationBoundedOracle; None = `price`
    bounded_debt_price: int | None = None


@dataclass(frozen=True, slots=True)
class AccountLiquidity:
    """getHypotheticalAccountLiquidity's answer and the two sums it compares."""

    liquidity: int
    shortfall: int
    sum_collateral: int
    sum_borrow_plus_effects: int


def _prices(asset: AccountAsset, weighting: WeightFunction) -> tuple[int, int, int]:
    """(weight, collateral price, debt price) for the strategy; PRICE_ERROR on a zero price."""
    if weighting == WeightFunction.USE_LIQUIDATION_THRESHOLD:
        prices = (asset.liquidation_threshold, asset.price, asset.price)
    else:
        bounded = (asset.bounded_collateral_price, asset.bounded_debt_price)
        collateral, debt = (asset.price if p is None else p for p in bounded)
        prices = (asset.collateral_factor, collateral, debt)
    if prices[1] == 0 or prices[2] == 0:
        raise ComptrollerError(PRICE_ERROR, f"no price for {asset.vtoken}")
    return prices


def get_hypothetical_account_liquidity(
    assets: Sequence[AccountAsset],
    weighting: WeightFunction = WeightFunction.USE_LIQUIDATION_THRESHOLD,
    *,
    vtoken_modify: str | None = None,
    redeem_tokens: int = 0,
    borrow_amount: int = 0,
    vai_repay_amount: int = 0,
) -> AccountLiquidity:
    """ComptrollerLens.getHypotheticalAccountLiquidity over the account's entered markets."""
    sum_collateral = sum_borrow = 0
    for asset in assets:
        modified = asset.vtoken == vtoken_modify
        if not modified and asset.vtoken_balance == 0 and asset.borrow_balance == 0:
            continue
        weight, collateral_price, debt_price = _prices(asset, weighting)
        tokens_to_denom = mul_exp(mul_exp(weight, asset.exchange_rate), collateral_price)
        sum_collateral = mul_scalar_truncate_add_uint(
            tokens_to_denom, asset.vtoken_balance, sum_collateral
        )
        sum_borrow = mul_scalar_truncate_add_uint(debt_price, asset.borrow_balance, sum_borrow)
        if modified:
            sum_borrow = mul_scalar_truncate_add_uint(tokens_to_denom, redeem_tokens, sum_borrow)
            sum_borrow = mul_scalar_truncate_add_uint(debt_price, borrow_amount, sum_borrow)
    sum_borrow += vai_repay_amount
    if sum_collateral > sum_borrow:
        return AccountLiquidity(sum_collateral - sum_borrow, 0, sum_collateral, sum_borrow)
    return AccountLiquidity(0, sum_borrow - sum_collateral, sum_collateral, sum_borrow)


def get_account_liquidity(assets: Sequence[AccountAsset]) -> tuple[int, int]:
    """PolicyFacet.getAccountLiquidity (liquidation thresholds, spot prices): (liq, shortfall)."""
    result = get_hypothetical_account_liquidity(assets, WeightFunction.USE_LIQUIDATION_THRESHOLD)
    return result.liquidity, result.shortfall


def get_borrowing_power(assets: Sequence[AccountAsset]) -> tuple[int, int]:
    """PolicyFacet.getBorrowingPower (collateral factors, bounded prices): (liq, shortfall)."""
    result = get_hypothetical_account_liquidity(assets, WeightFunction.USE_COLLATERAL_FACTOR)
    return result.liquidity, result.shortfall


def liquidate_calculate_seize_tokens(
    actual_repay_amount: int,
    liquidation_incentive: int,
    price_borrowed: int,
    price_collateral: int,
    exchange_rate: int,
) -> int:
    """ComptrollerLens._calculateSeizeTokens: repay * (LI * pB) / (pC * rate), Exp-truncated."""
    numerator = mul_exp(liquidation_incentive, price_borrowed)
    denominator = mul_exp(price_collateral, exchange_rate)
    return mul_scalar_truncate(div_exp(numerator, denominator), actual_repay_amount)


def max_close(borrow_balance: int, close_factor: int) -> int:
    """The most liquidateBorrowAllowed lets one liquidation repay: closeFactor * borrow, floored."""
    return mul_scalar_truncate(close_factor, borrow_balance)


@dataclass(frozen=True, slots=True)
class SeizeResult:
    repay_amount: int  # underlying the liquidator pays
    seize_tokens: int  # collateral vTokens moved from the borrower to the liquidator
    shortfall: int  # the borrower's shortfall the liquidation was allowed on


def _find(assets: Sequence[AccountAsset], vtoken: str) -> AccountAsset:
    for asset in assets:
        if asset.vtoken == vtoken:
            return asset
    raise ValueError(f"{vtoken} is not among the account's markets")


def liquidate_borrow(
    assets: Sequence[AccountAsset],
    *,
    vtoken_borrowed: str,
    collateral: AccountAsset,
    repay_amount: int,
    close_factor: int,
) -> SeizeResult:
    """VToken.liquidateBorrowFresh once both markets accrued: pass their accrued snapshots.

    `assets` are the borrower's entered markets (getAssetsIn); `collateral` is the seized
    market's snapshot for the borrower, entered or not (its liquidation incentive applies).
    """
    shortfall = get_hypothetical_account_liquidity(assets).shortfall
    if shortfall == 0:
        raise LiquidationRejected(INSUFFICIENT_SHORTFALL, "account has no shortfall")
    borrowed = _find(assets, vtoken_borrowed)
    if repay_amount > max_close(borrowed.borrow_balance, close_factor):
        raise LiquidationRejected(TOO_MUCH_REPAY, "repay above the close factor")
    if repay_amount == 0:
        raise LiquidationRejected("INVALID_CLOSE_AMOUNT_REQUESTED", "repay amount is zero")
    seize = liquidate_calculate_seize_tokens(
        repay_amount,
        collateral.liquidation_incentive,
        borrowed.price,
        collateral.price,
        collateral.exchange_rate,
    )
    if seize > collateral.vtoken_balance:
        raise LiquidationRejected("LIQUIDATE_SEIZE_TOO_MUCH", f"seize {seize} tokens")
    if all(asset.vtoken != collateral.vtoken for asset in assets):
        # seizeAllowed answers MARKET_NOT_COLLATERAL and the seizure reverts the liquidation
        raise LiquidationRejected(MARKET_NOT_COLLATERAL, "collateral market not entered")
    return SeizeResult(repay_amount, seize, shortfall)


def split_liquidation_incentive(
    seize_tokens: int, liquidation_incentive: int, treasury_percent: int
) -> tuple[int, int]:
    """Liquidator._splitLiquidationIncentive: (the treasury's vTokens, the liquidator's).

    The treasury takes `treasury_percent` (1e18 = all) of the bonus part of the seizure only;
    both steps truncate, so the liquidator keeps the rounding."""
    bonus = seize_tokens * (liquidation_incentive - EXP_SCALE) // liquidation_incentive
    ours = bonus * treasury_percent // EXP_SCALE
    return ours, seize_tokens - ours
