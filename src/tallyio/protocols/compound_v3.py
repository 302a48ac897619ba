"""Compound V3 (Comet): principal and present value, liquidation check, absorb and collateral quote.

Model from the public specification; not checked against bytecode here (no Comet bytecode is
on npm, so none is deployed on the devnet). Source read: compound-finance/comet `Comet.sol` and
`CometCore.sol`: presentValue*/principalValue*, accruedInterestIndices, isBorrowCollateralized,
isLiquidatable, absorbInternal, repayAndSupplyAmount and quoteCollateral. Vectors for
quoteCollateral come from Comet's own quoteCollateral unit tests.

Scales, as in the contract: prices have 8 decimals (Chainlink feeds; `getPrice` reverts on a
price <= 0), factors 1e18 (FACTOR_SCALE), indices 1e15 (BASE_INDEX_SCALE); `scale` and
`base_scale` are 10**decimals. Signed division truncates toward zero, as Solidity's does.

Liquidation is two steps: `absorb` moves an underwater account's debt and all its collateral to
the protocol, then anyone may `buyCollateral` at `quoteCollateral`'s discounted price. The
newer CometWithExtendedAssetList variant (assets with liquidationFactor 0 skipped on absorb) is
not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

FACTOR_SCALE = 10**18
BASE_INDEX_SCALE = 10**15
PRICE_SCALE = 10**8
_UINT104_MAX = 2**104 - 1
_UINT64_MAX = 2**64 - 1

__all__ = [
    "BASE_INDEX_SCALE",
    "FACTOR_SCALE",
    "PRICE_SCALE",
    "AbsorbResult",
    "AssetInfo",
    "CometAccount",
    "CometError",
    "CometMarket",
    "CometPrices",
    "absorb",
    "accrued_interest_indices",
    "div_price",
    "is_borrow_collateralized",
    "is_liquidatable",
    "mul_factor",
    "mul_price",
    "present_value",
    "present_value_borrow",
    "present_value_supply",
    "principal_value",
    "principal_value_borrow",
    "principal_value_supply",
    "quote_collateral",
    "repay_and_supply_amount",
    "signed_mul_price",
]


class CometError(ArithmeticError):
    """The Comet contract would revert here (NotLiquidatable, BadPrice, overflow...)."""


# -- CometMath / CometCore ------------------------------------------------------------------
def _sdiv(a: int, b: int) -> int:
    """Solidity int256 `a / b`: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _safe104(n: int) -> int:
    if not 0 <= n <= _UINT104_MAX:
        raise CometError(f"InvalidUInt104: {n}")
    return n


def mul_factor(n: int, factor: int) -> int:
    """mulFactor: n * factor / 1e18, rounded down."""
    return n * factor // FACTOR_SCALE


def mul_price(n: int, price: int, from_scale: int) -> int:
    """mulPrice: n * price / fromScale, rounded down (token units to 8-decimal value)."""
    return n * price // from_scale


def signed_mul_price(n: int, price: int, from_scale: int) -> int:
    """signedMulPrice: n * price / fromScale, truncated toward zero."""
    return _sdiv(n * price, from_scale)


def div_price(n: int, price: int, to_scale: int) -> int:
    """divPrice: n * toScale / price, rounded down (8-decimal value to token units)."""
    return n * to_scale // price


def present_value_supply(base_supply_index: int, principal: int) -> int:
    """presentValueSupply: principal * index / 1e15, rounded down."""
    return principal * base_supply_index // BASE_INDEX_SCALE


def present_value_borrow(base_borrow_index: int, principal: int) -> int:
    """presentValueBorrow: principal * index / 1e15, rounded down."""
    return principal * base_borrow_index // BASE_INDEX_SCALE


def present_value(principal: int, base_supply_index: int, base_borrow_index: int) -> int:
    """presentValue: signed balance from a signed principal; the supply index for a positive
    principal, the borrow index for a negative one (the debt's magnitude rounds down)."""
    if principal >= 0:
        return present_value_supply(base_supply_index, principal)
    return -present_value_borrow(base_borrow_index, -principal)


def principal_value_supply(base_supply_index: int, present: int) -> int:
    """principalValueSupply: present * 1e15 / index, rounded down."""
    return _safe104(present * BASE_INDEX_SCALE // base_supply_index)


def principal_value_borrow(base_borrow_index: int, present: int) -> int:
    """principalValueBorrow: present * 1e15 / index, rounded up."""
    return _safe104((present * BASE_INDEX_SCALE + base_borrow_index - 1) // base_borrow_index)


def principal_value(present: int, base_supply_index: int, base_borrow_index: int) -> int:
    """principalValue: signed principal from a signed present value."""
    if present >= 0:
        return principal_value_supply(base_supply_index, present)
    return -principal_value_borrow(base_borrow_index, -present)


def accrued_interest_indices(
    base_supply_index: int,
    base_borrow_index: int,
    supply_rate: int,
    borrow_rate: int,
    time_elapsed: int,
) -> tuple[int, int]:
    """accruedInterestIndices: index += index * rate * elapsed / 1e18 (per-second rates, 1e18).

    The rates are getSupplyRate/getBorrowRate at the current utilization, read from the chain.
    """
    if time_elapsed <= 0:
        return base_supply_index, base_borrow_index
    supply = base_supply_index + mul_factor(base_supply_index, supply_rate * time_elapsed)
    borrow = base_borrow_index + mul_factor(base_borrow_index, borrow_rate * time_elapsed)
    if max(supply, borrow) > _UINT64_MAX:
        raise CometError("InvalidUInt64: an index overflows")
    return supply, borrow


def repay_and_supply_amount(old_principal: int, new_principal: int) -> tuple[int, int]:
    """repayAndSupplyAmount: a principal increase split into (repaid borrow, new supply)."""
    if new_principal < old_principal:
        return 0, 0
    if new_principal <= 0:
        return new_principal - old_principal, 0
    if old_principal >= 0:
        return 0, new_principal - old_principal
    return -old_principal, new_principal


# -- State ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssetInfo:
    """Comet's AssetInfo struct for one collateral asset (getAssetInfo(offset))."""

    offset: int
    asset: str
    price_feed: str
    scale: int  # 10**decimals
    borrow_collateral_factor: int  # 1e18
    liquidate_collateral_factor: int  # 1e18
    liquidation_factor: int  # 1e18
    supply_cap: int  # raw units

    def __post_init__(self) -> None:
        if not 0 <= self.offset < 16 or self.scale <= 0:
            raise ValueError(f"asset {self.asset}: offset {self.offset} scale {self.scale}")
        factors = (
            self.borrow_collateral_factor,
            self.liquidate_collateral_factor,
            self.liquidation_factor,
        )
        if not all(0 <= f <= FACTOR_SCALE for f in factors):
            raise ValueError(f"asset {self.asset}: factors {factors} outside [0, 1e18]")


@dataclass(frozen=True, slots=True)
class CometMarket:
    """One Comet market: configuration plus the base indices at the block of interest."""

    address: str
    base_token: str
    base_scale: int  # 10**decimals of the base token
    store_front_price_factor: int  # 1e18
    assets: tuple[AssetInfo, ...]  # by offset: assets[k].offset == k
    base_supply_index: int = BASE_INDEX_SCALE
    base_borrow_index: int = BASE_INDEX_SCALE

    def __post_init__(self) -> None:
        if any(a.offset != k for k, a in enumerate(self.assets)):
            raise ValueError(f"market {self.address}: assets not in offset order")
        if self.base_scale <= 0 or not 0 <= self.store_front_price_factor <= FACTOR_SCALE:
            raise ValueError(f"market {self.address}: base scale or store front factor")
        if self.base_supply_index <= 0 or self.base_borrow_index <= 0:
            raise ValueError(f"market {self.address}: indices must be positive")

    def asset_info(self, asset: str) -> AssetInfo:
        """getAssetInfoByAddress (addresses compared case-insensitively); BadAsset if absent."""
        for info in self.assets:
            if info.asset.lower() == asset.lower():
                return info
        raise CometError(f"BadAsset: {asset} in market {self.address}")


@dataclass(frozen=True, slots=True)
class CometPrices:
    """getPrice of the base feed and of each asset's feed, 8 decimals, assets by offset."""

    base: int
    assets: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.base <= 0 or any(p <= 0 for p in self.assets):
            raise CometError(f"BadPrice: base {self.base} assets {self.assets}")


@dataclass(frozen=True, slots=True)
class CometAccount:
    """userBasic.principal and userCollateral balances of one account."""

    account: str
    principal: int  # int104: positive = supplied base, negative = borrowed base
    collateral: tuple[int, ...]  # userCollateral[account][asset].balance, by offset

    def __post_init__(self) -> None:
        if not -(2**103) <= self.principal < 2**103:
            raise ValueError(f"account {self.account}: principal {self.principal} is not int104")
        if any(c < 0 for c in self.collateral):
            raise ValueError(f"account {self.account}: negative collateral {self.collateral}")

    @property
    def assets_in(self) -> int:
        """userBasic.assetsIn: bit k set while the balance of asset k is non-zero."""
        return sum(1 << k for k, balance in enumerate(self.collateral) if balance)


def _check_shapes(account: CometAccount, market: CometMarket, prices: CometPrices) -> None:
    n = len(market.assets)
    if len(account.collateral) != n or len(prices.assets) != n:
        raise ValueError(f"market {market.address} has {n} assets; account or prices differ")


def _liquidity(
    account: CometAccount, market: CometMarket, prices: CometPrices, liquidate: bool
) -> int:
    """Debt value (negative) plus collateral value times the relevant collateral factor.

    The contract stops once the running sum reaches zero; the terms are never negative, so the
    sign of the full sum is the same answer.
    """
    _check_shapes(account, market, prices)
    borrow = present_value(account.principal, market.base_supply_index, market.base_borrow_index)
    liquidity = signed_mul_price(borrow, prices.base, market.base_scale)
    for info in market.assets:
        balance = account.collateral[info.offset]
        if balance == 0:
            continue
        value = mul_price(balance, prices.assets[info.offset], info.scale)
        factor = info.liquidate_collateral_factor if liquidate else info.borrow_collateral_factor
        liquidity += mul_factor(value, factor)
    return liquidity


def is_liquidatable(account: CometAccount, market: CometMarket, prices: CometPrices) -> bool:
    """isLiquidatable: borrowing, and the debt's value exceeds the sum over collateral of
    balance * price / scale * liquidateCollateralFactor (each term rounded down)."""
    if account.principal >= 0:
        return False
    return _liquidity(account, market, prices, liquidate=True) < 0


def is_borrow_collateralized(
    account: CometAccount, market: CometMarket, prices: CometPrices
) -> bool:
    """isBorrowCollateralized: as isLiquidatable with borrowCollateralFactor, and >= 0."""
    if account.principal >= 0:
        return True
    return _liquidity(account, market, prices, liquidate=False) >= 0


def quote_collateral(
    asset: AssetInfo, base_amount: int, market: CometMarket, prices: CometPrices
) -> int:
    """quoteCollateral: collateral units sold for `base_amount` of base by buyCollateral.

    discount = storeFrontPriceFactor * (1e18 - liquidationFactor); the asset price is cut by it;
    result = basePrice * baseAmount * assetScale / discountedPrice / baseScale, rounded down.
    """
    discount_factor = mul_factor(
        market.store_front_price_factor, FACTOR_SCALE - asset.liquidation_factor
    )
    asset_price_discounted = mul_factor(prices.assets[asset.offset], FACTOR_SCALE - discount_factor)
    if asset_price_discounted == 0:
        raise CometError("quoteCollateral: discounted price is zero (division by zero)")
    return prices.base * base_amount * asset.scale // asset_price_discounted // market.base_scale


@dataclass(frozen=True, slots=True)
class AbsorbResult:
    """What absorbInternal does to one account, as values (no storage written)."""

    account: str
    seized: tuple[int, ...]  # collateral moved to the protocol, raw units by offset
    seized_value: tuple[int, ...]  # its value at the feed price, 8 decimals (AbsorbCollateral)
    delta_value: int  # sum of seized_value * liquidationFactor, 8 decimals
    delta_balance: int  # delta_value in base units (divPrice)
    old_principal: int
    new_principal: int
    old_balance: int  # present value before, base units (negative: debt)
    new_balance: int  # present value after, floored at 0: excess debt falls on the reserves
    base_paid_out: int  # new_balance - old_balance: debt absorbed (AbsorbDebt.basePaidOut)
    value_of_base_paid_out: int  # 8 decimals (AbsorbDebt.usdValue)
    repay_amount: int  # principal taken off totalBorrowBase
    supply_amount: int  # principal added to totalSupplyBase


def absorb(account: CometAccount, market: CometMarket, prices: CometPrices) -> AbsorbResult:
    """absorbInternal: seize every collateral, credit its value times liquidationFactor in base,
    and write the debt off against the reserves. Raises NotLiquidatable like the contract."""
    if not is_liquidatable(account, market, prices):
        raise CometError(f"NotLiquidatable: {account.account}")
    old_balance = present_value(
        account.principal, market.base_supply_index, market.base_borrow_index
    )
    values = tuple(
        mul_price(account.collateral[a.offset], prices.assets[a.offset], a.scale)
        for a in market.assets
    )
    delta_value = sum(
        mul_factor(v, a.liquidation_factor) for v, a in zip(values, market.assets, strict=True)
    )
    delta_balance = div_price(delta_value, prices.base, market.base_scale)
    new_balance = max(old_balance + delta_balance, 0)
    new_principal = principal_value(new_balance, market.base_supply_index, market.base_borrow_index)
    repay, supply = repay_and_supply_amount(account.principal, new_principal)
    paid_out = new_balance - old_balance
    return AbsorbResult(
        account=account.account,
        seized=account.collateral,
        seized_value=values,
        delta_value=delta_value,
        delta_balance=delta_balance,
        old_principal=account.principal,
        new_principal=new_principal,
        old_balance=old_balance,
        new_balance=new_balance,
        base_paid_out=paid_out,
        value_of_base_paid_out=mul_price(paid_out, prices.base, market.base_scale),
        repay_amount=repay,
        supply_amount=supply,
    )
