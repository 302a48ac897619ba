"""Aave V3 devnet market: artifacts, reserve listing, liquidity and borrowers seeded near liquidation.

Risk parameters are in basis points as Aave stores them (8250 = 82.5%); amounts are exact ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, DeployContext, borrowers
from tallyio.devnet.deployer import Artifact, Deployer, load_artifact

CORE = "@aave/core-v3/artifacts/contracts"
ZERO = "0x0000000000000000000000000000000000000000"
VARIABLE_RATE = 2  # Aave's InterestRateMode.VARIABLE
LIQUIDATION_PROTOCOL_FEE_BPS = 1000  # 10% of the liquidation bonus goes to the treasury
FLASHLOAN_PREMIUM_BPS = 5  # 0.05%, as on mainnet

# Contract name -> folder of its artifact under CORE; anything else is a logic library.
_DIRS = {
    "PoolAddressesProviderRegistry": "protocol/configuration",
    "PoolAddressesProvider": "protocol/configuration",
    "ACLManager": "protocol/configuration",
    "Pool": "protocol/pool",
    "PoolConfigurator": "protocol/pool",
    "DefaultReserveInterestRateStrategy": "protocol/pool",
    "AToken": "protocol/tokenization",
    "StableDebtToken": "protocol/tokenization",
    "VariableDebtToken": "protocol/tokenization",
    "AaveOracle": "misc",
    "AaveProtocolDataProvider": "misc",
}


def artifact(name: str) -> Artifact:
    """The published hardhat artifact of an Aave V3 contract or logic library."""
    folder = _DIRS.get(name, "protocol/libraries/logic")
    return load_artifact(f"{CORE}/{folder}/{name}.sol/{name}.json")


@dataclass(frozen=True, slots=True)
class AaveMarket:
    """The deployed market's entry points (proxies where Aave puts proxies)."""

    registry: Contract
    provider: Contract
    pool: Contract
    pool_impl: Contract
    configurator: Contract
    configurator_impl: Contract
    acl: Contract
    oracle: Contract
    data_provider: Contract
    treasury: str


# -- reserve parameters -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RateStrategy:
    """DefaultReserveInterestRateStrategy parameters in bps (converted to rays on deploy)."""

    optimal_usage: int
    base_variable: int
    slope1: int
    slope2: int

    def constructor_args(self) -> tuple[int, ...]:
        ray_per_bps = 10**23
        stable = (self.slope1, self.slope2, 200, 800, 2000)  # stable borrowing stays off
        bps = (self.optimal_usage, self.base_variable, self.slope1, self.slope2, *stable)
        return tuple(b * ray_per_bps for b in bps)


@dataclass(frozen=True, slots=True)
class ReserveParams:
    symbol: str
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int  # 10500 = the liquidator gets 105% of the debt value in collateral
    reserve_factor: int
    rates: RateStrategy
    emode_category: int = 0


@dataclass(frozen=True, slots=True)
class EModeCategory:
    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str


RATES = {
    "eth": RateStrategy(optimal_usage=8000, base_variable=0, slope1=380, slope2=8000),
    "btc": RateStrategy(optimal_usage=4500, base_variable=0, slope1=400, slope2=30000),
    "stable": RateStrategy(optimal_usage=9000, base_variable=0, slope1=400, slope2=6000),
}
STABLECOINS = EModeCategory(1, ltv=9700, liquidation_threshold=9750, liquidation_bonus=10100,
                            label="Stablecoins")  # fmt: skip
RESERVES = (
    ReserveParams("WETH", 8000, 8250, 10500, 1500, RATES["eth"]),
    ReserveParams("WBTC", 7000, 7500, 11000, 2000, RATES["btc"]),
    ReserveParams("USDC", 7700, 8000, 10450, 1000, RATES["stable"], STABLECOINS.id),
    ReserveParams("DAI", 7500, 7700, 10500, 1000, RATES["stable"], STABLECOINS.id),
)


def list_reserves(ctx: DeployContext, market: AaveMarket) -> dict[str, dict[str, Any]]:
    """initReserves for all four assets, then risk parameters, e-mode and flash-loan premium."""
    d, pool = ctx.d, market.pool.address
    impls = {n: d.deploy(artifact(n), pool).address
             for n in ("AToken", "StableDebtToken", "VariableDebtToken")}  # fmt: skip
    strategies = {name: d.deploy(artifact("DefaultReserveInterestRateStrategy"),
                                 market.provider.address, *r.constructor_args()).address
                  for name, r in RATES.items()}  # fmt: skip
    by_rates = {r: strategies[n] for n, r in RATES.items()}
    inputs = [_init_input(ctx, market, r, impls, by_rates[r.rates]) for r in RESERVES]
    d.send(market.configurator.functions.initReserves(inputs))
    cfg = market.configurator.functions
    for r in RESERVES:
        _configure_reserve(d, cfg, ctx.tokens[r.symbol].address, r)
    _add_emode(ctx, cfg, STABLECOINS)
    d.send(cfg.updateFlashloanPremiumTotal(FLASHLOAN_PREMIUM_BPS))
    return {r.symbol: _reserve_section(ctx, market, r, by_rates[r.rates]) for r in RESERVES}


def _init_input(ctx: DeployContext, market: AaveMarket, r: ReserveParams,
                impls: dict[str, str], strategy: str) -> dict[str, Any]:  # fmt: skip
    s = r.symbol
    return {
        "aTokenImpl": impls["AToken"],
        "stableDebtTokenImpl": impls["StableDebtToken"],
        "variableDebtTokenImpl": impls["VariableDebtToken"],
        "underlyingAssetDecimals": DECIMALS[s],
        "interestRateStrategyAddress": strategy,
        "underlyingAsset": ctx.tokens[s].address,
        "treasury": market.treasury,
        "incentivesController": ZERO,  # no rewards on the devnet
        "aTokenName": f"Aave Devnet {s}",
        "aTokenSymbol": f"a{s}",
        "variableDebtTokenName": f"Aave Devnet Variable Debt {s}",
        "variableDebtTokenSymbol": f"variableDebt{s}",
        "stableDebtTokenName": f"Aave Devnet Stable Debt {s}",
        "stableDebtTokenSymbol": f"stableDebt{s}",
        "params": b"",
    }


def _configure_reserve(d: Deployer, cfg: Any, asset: str, r: ReserveParams) -> None:
    # Caps stay 0 (= unlimited in Aave); flash loans are off until enabled.
    d.send(cfg.configureReserveAsCollateral(asset, r.ltv, r.liquidation_threshold,
                                            r.liquidation_bonus))  # fmt: skip
    d.send(cfg.setReserveBorrowing(asset, True))
    d.send(cfg.setReserveFlashLoaning(asset, True))
    d.send(cfg.setReserveFactor(asset, r.reserve_factor))
    d.send(cfg.setLiquidationProtocolFee(asset, LIQUIDATION_PROTOCOL_FEE_BPS))


def _add_emode(ctx: DeployContext, cfg: Any, e: EModeCategory) -> None:
    # The category must exist, with a threshold above each member's, before assets join it.
    d.send_category = None if False else None  # placeholder removed below
