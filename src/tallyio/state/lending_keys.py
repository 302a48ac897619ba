"""Lending state's values and keys: market refs, Venus market/position/account values, and the
state keys every lending handler and reader uses (addresses lowercase)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols import venus
from tallyio.state.store import StateInvariantError, StateKey

Changes = list[tuple[StateKey, Any]]


@dataclass(frozen=True, slots=True)
class AaveReserveRef:
    asset: str
    a_token: str
    variable_debt_token: str
    stable_debt_token: str


@dataclass(frozen=True, slots=True)
class AaveMarketRef:
    pool: str
    reserves: tuple[AaveReserveRef, ...]
    oracle: str = ""  # AaveOracle (the loader reads prices there)
    emode_categories: tuple[int, ...] = (1,)
    configurator: str = ""  # PoolConfigurator: its events change reserves and e-modes


@dataclass(frozen=True, slots=True)
class VenusMarketRef:
    vtoken: str
    underlying: str
    decimals: int
    initial_exchange_rate: int


@dataclass(frozen=True, slots=True)
class VenusRef:
    comptroller: str
    markets: tuple[VenusMarketRef, ...]
    oracle: str = ""  # ResilientOracle


@dataclass(frozen=True, slots=True)
class VenusMarket:
    """A vToken's stored market state and its Comptroller risk parameters (1e18)."""

    vtoken: str
    state: venus.MarketState
    collateral_factor: int
    liquidation_threshold: int
    liquidation_incentive: int


@dataclass(frozen=True, slots=True)
class VenusPosition:
    vtoken: str
    vtoken_balance: int = 0
    borrow_principal: int = 0  # accountBorrows[a].principal
    interest_index: int = 0  # accountBorrows[a].interestIndex


@dataclass(frozen=True, slots=True)
class VenusAccount:
    assets_in: tuple[str, ...] = ()  # getAssetsIn order
    positions: tuple[VenusPosition, ...] = ()  # non-empty, by vToken


def reserve_key(protocol: str, market: str, asset: str) -> tuple[str, str, str, str]:
    return ("reserve", protocol, market.lower(), asset.lower())


def account_key(protocol: str, market: str, account: str) -> tuple[str, str, str, str]:
    return ("account", protocol, market.lower(), account.lower())


def emode_key(pool: str, category: int) -> tuple[str, str, str, int]:
    return ("emode", "aave_v3", pool.lower(), category)


def close_factor_key(comptroller: str) -> tuple[str, str, str]:
    """Comptroller.closeFactorMantissa (1e18), global to the comptroller."""
    return ("close_factor", "venus", comptroller.lower())


def treasury_percent_key(comptroller: str) -> tuple[str, str, str]:
    """Comptroller.treasuryPercent (1e18): the fee every vToken redeem pays its treasury."""
    return ("treasury_percent", "venus", comptroller.lower())


def add_balance(balance: int, delta: int, log: Log) -> int:
    out = balance + delta
    if out < 0:
        raise StateInvariantError(f"negative balance after {log.tx_hash}:{log.log_index}")
    return out
