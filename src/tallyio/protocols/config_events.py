"""Market configuration events as the contracts emit them: topic0 constants and pure decoders.

Aave V3.0 (`@aave/core-v3` 1.19.x) PoolConfigurator events that change what the account and
liquidation math reads (collateral parameters, the liquidation protocol fee, active / paused,
e-mode categories and an asset's category), AaveOracle.AssetSourceUpdated, and the Venus v10
Diamond comptroller's SetterFacet events for a market's collateral factor, liquidation threshold
and incentive (per pool id), the global close factor and treasury percent (the redeem fee).

Not decoded here because no exact model reads them: ReserveFrozen (V3.0 liquidations run on a
frozen reserve), ReserveFactorChanged (rates arrive with ReserveDataUpdated), caps, debt
ceilings, flash-loan and bridge premiums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tallyio.core.events import Log
from tallyio.protocols.events import EventDecodeError, topic0
from tallyio.protocols.lending_events import address_of, topic_address, words

# -- Aave PoolConfigurator ----------------------------------------------------------------------
COLLATERAL_CONFIGURATION_CHANGED: Final = topic0(
    "CollateralConfigurationChanged(address,uint256,uint256,uint256)"
)
LIQUIDATION_PROTOCOL_FEE_CHANGED: Final = topic0(
    "LiquidationProtocolFeeChanged(address,uint256,uint256)"
)
RESERVE_ACTIVE: Final = topic0("ReserveActive(address,bool)")
RESERVE_PAUSED: Final = topic0("ReservePaused(address,bool)")
EMODE_ASSET_CATEGORY_CHANGED: Final = topic0("EModeAssetCategoryChanged(address,uint8,uint8)")
EMODE_CATEGORY_ADDED: Final = topic0(
    "EModeCategoryAdded(uint8,uint256,uint256,uint256,address,string)"
)
# -- AaveOracle ---------------------------------------------------------------------------------
ASSET_SOURCE_UPDATED: Final = topic0("AssetSourceUpdated(address,address)")
# -- Venus comptroller (SetterFacet) ------------------------------------------------------------
V_NEW_COLLATERAL_FACTOR: Final = topic0("NewCollateralFactor(uint96,address,uint256,uint256)")
V_NEW_LIQUIDATION_THRESHOLD: Final = topic0(
    "NewLiquidationThreshold(uint96,address,uint256,uint256)"
)
V_NEW_LIQUIDATION_INCENTIVE: Final = topic0(
    "NewLiquidationIncentive(uint96,address,uint256,uint256)"
)
V_NEW_CLOSE_FACTOR: Final = topic0("NewCloseFactor(uint256,uint256)")
# _setTreasuryData also emits NewTreasuryGuardian / NewTreasuryAddress: no model reads those.
V_NEW_TREASURY_PERCENT: Final = topic0("NewTreasuryPercent(uint256,uint256)")

AAVE_CONFIGURATOR_TOPICS: Final = (
    COLLATERAL_CONFIGURATION_CHANGED, LIQUIDATION_PROTOCOL_FEE_CHANGED, RESERVE_ACTIVE,
    RESERVE_PAUSED, EMODE_ASSET_CATEGORY_CHANGED, EMODE_CATEGORY_ADDED,
)  # fmt: skip
AAVE_ORACLE_TOPICS: Final = (ASSET_SOURCE_UPDATED,)
VENUS_CONFIG_TOPICS: Final = (
    V_NEW_COLLATERAL_FACTOR, V_NEW_LIQUIDATION_THRESHOLD, V_NEW_LIQUIDATION_INCENTIVE,
    V_NEW_CLOSE_FACTOR, V_NEW_TREASURY_PERCENT,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReserveSetting:
    """One reserve's configuration change: `values` in the event's order (new values only)."""

    asset: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EModeCategoryAdded:
    """PoolConfigurator.setEModeCategory: a category added or overwritten (bps, price source)."""

    category: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    oracle: str


@dataclass(frozen=True, slots=True)
class VenusMarketSetting:
    """A comptroller setter's new mantissa for one market in one pool (0 = the core pool)."""

    pool_id: int
    vtoken: str
    new: int


def _bool(word: int, what: str) -> bool:
    if word > 1:
        raise EventDecodeError(f"{what}: {word} is not a bool")
    return word == 1


def decode_reserve_setting(log: Log) -> ReserveSetting:
    """CollateralConfigurationChanged -> (ltv, lt, bonus); LiquidationProtocolFeeChanged ->
    (new fee,); ReserveActive / ReservePaused -> (flag,); EModeAssetCategoryChanged -> (new id,)."""
    t, asset = log.topics[0], topic_address(log, 1) if len(log.topics) > 1 else ""
    if t == COLLATERAL_CONFIGURATION_CHANGED:
        return ReserveSetting(asset, tuple(words(log, 3, 1)))
    if t in (LIQUIDATION_PROTOCOL_FEE_CHANGED, EMODE_ASSET_CATEGORY_CHANGED):
        return ReserveSetting(asset, (words(log, 2, 1)[1],))
    if t in (RESERVE_ACTIVE, RESERVE_PAUSED):
        return ReserveSetting(asset, (int(_bool(words(log, 1, 1)[0], "reserve flag")),))
    raise EventDecodeError(f"topic {t} is not a reserve configuration event")


def decode_emode_category_added(log: Log) -> EModeCategoryAdded:
    """The fixed head (ltv, lt, bonus, oracle) of EModeCategoryAdded; the label is not read."""
    data = log.data[2:] if log.data.startswith("0x") else log.data
    if log.topics[0] != EMODE_CATEGORY_ADDED or len(log.topics) != 2 or len(data) < 64 * 7:
        raise EventDecodeError(f"log {log.tx_hash}:{log.log_index} is not EModeCategoryAdded")
    ltv, lt, bonus, oracle = (int(data[i : i + 64], 16) for i in range(0, 256, 64))
    return EModeCategoryAdded(int(log.topics[1], 16), ltv, lt, bonus, address_of(oracle))


def decode_asset_source_updated(log: Log) -> tuple[str, str]:
    """AssetSourceUpdated: (asset, new source), both indexed."""
    words(log, 0, 2)
    return topic_address(log, 1), topic_address(log, 2)


def decode_venus_market_setting(log: Log) -> VenusMarketSetting:
    """NewCollateralFactor / NewLiquidationThreshold / NewLiquidationIncentive."""
    if log.topics[0] not in VENUS_CONFIG_TOPICS[:3]:
        raise EventDecodeError(f"topic {log.topics[0]} is not a Venus market setter event")
    _, new = words(log, 2, 2)
    return VenusMarketSetting(int(log.topics[1], 16), topic_address(log, 2), new)


def decode_close_factor(log: Log) -> int:
    """NewCloseFactor: the new closeFactorMantissa."""
    if log.topics[0] != V_NEW_CLOSE_FACTOR:
        raise EventDecodeError(f"topic {log.topics[0]} is not NewCloseFactor")
    return words(log, 2)[1]


def decode_treasury_percent(log: Log) -> int:
    """NewTreasuryPercent: the comptroller's new treasuryPercent (the redeem fee, 1e18)."""
    if log.topics[0] != V_NEW_TREASURY_PERCENT:
        raise EventDecodeError(f"topic {log.topics[0]} is not NewTreasuryPercent")
    return words(log, 2)[1]
