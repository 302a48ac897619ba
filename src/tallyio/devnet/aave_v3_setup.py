"""Aave V3 devnet market: artifacts, reserve listing, liquidity, borrowers near liquidation.

Risk parameters are in basis points as Aave stores them (8250 = 82.5%); amounts are exact ints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, DeployContext, borrowers
from tallyio.devnet.deployer import Artifact, Deployer, DeployError, load_artifact

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
    rates: str  # key into RATES
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
STABLECOINS = EModeCategory(
    1, ltv=9700, liquidation_threshold=9750, liquidation_bonus=10100, label="Stablecoins"
)
RESERVES = (
    ReserveParams("WETH", 8000, 8250, 10500, 1500, "eth"),
    ReserveParams("WBTC", 7000, 7500, 11000, 2000, "btc"),
    ReserveParams("USDC", 7700, 8000, 10450, 1000, "stable", STABLECOINS.id),
    ReserveParams("DAI", 7500, 7700, 10500, 1000, "stable", STABLECOINS.id),
)


def list_reserves(ctx: DeployContext, market: AaveMarket) -> dict[str, dict[str, Any]]:
    """initReserves for all four assets, then risk parameters, e-mode and flash-loan premium."""
    impls = _deploy_token_impls(ctx.d, market)
    strategies = _deploy_rate_strategies(ctx.d, market)
    order = _struct_fields("PoolConfigurator", "initReserves")
    inputs = [
        tuple(_init_input(ctx, market, r, impls, strategies[r.rates])[f] for f in order)
        for r in RESERVES
    ]
    cfg = market.configurator.functions
    ctx.d.send(cfg.initReserves(inputs))
    for r in RESERVES:
        _configure_reserve(ctx.d, cfg, ctx.tokens[r.symbol].address, r)
    _add_emode(ctx, cfg, STABLECOINS)
    ctx.d.send(cfg.updateFlashloanPremiumTotal(FLASHLOAN_PREMIUM_BPS))
    return {r.symbol: _reserve_section(ctx, market, r, strategies[r.rates]) for r in RESERVES}


def _deploy_token_impls(d: Deployer, market: AaveMarket) -> dict[str, str]:
    # One implementation per token kind, built for the pool proxy; each reserve gets proxies.
    names = ("AToken", "StableDebtToken", "VariableDebtToken")
    return {n: d.deploy(artifact(n), market.pool.address).address for n in names}


def _deploy_rate_strategies(d: Deployer, market: AaveMarket) -> dict[str, str]:
    strategy = artifact("DefaultReserveInterestRateStrategy")
    provider = market.provider.address
    return {
        name: d.deploy(strategy, provider, *rates.constructor_args()).address
        for name, rates in RATES.items()
    }


def _init_input(
    ctx: DeployContext,
    market: AaveMarket,
    r: ReserveParams,
    impls: Mapping[str, str],
    strategy: str,
) -> dict[str, Any]:
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


def _struct_fields(contract: str, function: str) -> list[str]:
    # web3 encodes structs from tuples only; take the field order from the ABI, not by hand.
    abi = next(e for e in artifact(contract).abi if e.get("name") == function)
    return [c["name"] for c in abi["inputs"][0]["components"]]


def _configure_reserve(d: Deployer, cfg: Any, asset: str, r: ReserveParams) -> None:
    # Caps stay 0 (= unlimited in Aave); flash loans are off until enabled.
    d.send(
        cfg.configureReserveAsCollateral(asset, r.ltv, r.liquidation_threshold, r.liquidation_bonus)
    )
    d.send(cfg.setReserveBorrowing(asset, True))
    d.send(cfg.setReserveFlashLoaning(asset, True))
    d.send(cfg.setReserveFactor(asset, r.reserve_factor))
    d.send(cfg.setLiquidationProtocolFee(asset, LIQUIDATION_PROTOCOL_FEE_BPS))


def _add_emode(ctx: DeployContext, cfg: Any, e: EModeCategory) -> None:
    # The category must exist, with a threshold above each member's, before assets join it.
    ctx.d.send(
        cfg.setEModeCategory(
            e.id, e.ltv, e.liquidation_threshold, e.liquidation_bonus, ZERO, e.label
        )
    )
    for r in RESERVES:
        if r.emode_category == e.id:
            ctx.d.send(cfg.setAssetEModeCategory(ctx.tokens[r.symbol].address, e.id))


def _reserve_section(
    ctx: DeployContext, market: AaveMarket, r: ReserveParams, strategy: str
) -> dict[str, Any]:
    asset = ctx.tokens[r.symbol].address
    a_token, stable_debt, variable_debt = market.data_provider.functions.getReserveTokensAddresses(
        asset
    ).call()
    return {
        "asset": asset,
        "decimals": DECIMALS[r.symbol],
        "a_token": a_token,
        "variable_debt_token": variable_debt,
        "stable_debt_token": stable_debt,
        "ltv": r.ltv,
        "liquidation_threshold": r.liquidation_threshold,
        "liquidation_bonus": r.liquidation_bonus,
        "liquidation_protocol_fee": LIQUIDATION_PROTOCOL_FEE_BPS,
        "reserve_factor": r.reserve_factor,
        "emode_category": r.emode_category,
        "interest_rate_strategy": strategy,
        "price_feed": ctx.feeds[r.symbol].address,
    }


def emode_section() -> list[dict[str, Any]]:
    e = STABLECOINS
    assets = [r.symbol for r in RESERVES if r.emode_category == e.id]
    return [
        {
            "id": e.id,
            "label": e.label,
            "ltv": e.ltv,
            "liquidation_threshold": e.liquidation_threshold,
            "liquidation_bonus": e.liquidation_bonus,
            "assets": assets,
        }
    ]


# -- seeding ------------------------------------------------------------------------------
# Whole tokens the `lp` account supplies: deep enough that no seeded or test borrow runs dry.
LIQUIDITY = {"WETH": 5_000, "WBTC": 200, "USDC": 10_000_000, "DAI": 10_000_000}


@dataclass(frozen=True, slots=True)
class Position:
    """A borrower's seeded position in whole tokens; HF is at the starting feed prices."""

    collateral: Mapping[str, int]
    debt: Mapping[str, int]
    emode_category: int = 0


# Each sits between HF 1.02 and 1.15 with a different mix, so shocks of different sizes and
# directions tip them over at different moments. LTV caps how close a fresh borrow can start
# (HF >= threshold / ltv: 1.031 on WETH, 1.071 on WBTC), so these sit just above those floors.
POSITIONS = (
    # HF 16_500 / 15_800 = 1.044: liquidatable after a ~4.2% ETH drop
    Position({"WETH": 10}, {"USDC": 15_800}),
    # HF 45_000 / 42_000 = 1.071: liquidatable after a ~6.7% BTC drop
    Position({"WBTC": 1}, {"DAI": 42_000}),
    # HF 78_000 / 70_000 = 1.114: ETH and BTC falling together, or ETH ~24% / BTC ~18% alone
    Position({"WETH": 20, "WBTC": 1}, {"USDC": 35_000, "DAI": 35_000}),
    # HF 48_000 / 44_000 = 1.091: a short ETH; liquidatable after a ~9.1% ETH *rise*
    Position({"USDC": 60_000}, {"WETH": 22}),
    # HF 97_500 / 94_000 = 1.037 in stablecoin e-mode: liquidatable if DAI depegs ~3.6%
    Position({"DAI": 100_000}, {"USDC": 94_000}, STABLECOINS.id),
)


def supply_liquidity(ctx: DeployContext, market: AaveMarket) -> None:
    lp = ctx.accounts["lp"]
    for symbol, whole in LIQUIDITY.items():
        _supply(ctx, market, symbol, lp, ctx.units(symbol, whole))


def seed_borrowers(ctx: DeployContext, market: AaveMarket) -> list[dict[str, Any]]:
    """Open POSITIONS for aave_borrower_0.. ; returns their manifest entries (base units)."""
    accounts = borrowers(ctx.accounts, "aave")
    if len(accounts) < len(POSITIONS):
        raise DeployError(f"{len(POSITIONS)} Aave positions but {len(accounts)} borrower accounts")
    return [_open(ctx, market, who, p) for who, p in zip(accounts, POSITIONS, strict=False)]


def _open(ctx: DeployContext, market: AaveMarket, who: str, p: Position) -> dict[str, Any]:
    collateral = {s: ctx.units(s, w) for s, w in p.collateral.items()}
    debt = {s: ctx.units(s, w) for s, w in p.debt.items()}
    for symbol, amount in collateral.items():
        _supply(ctx, market, symbol, who, amount)  # first supply turns collateral on
    if p.emode_category:
        ctx.d.send(market.pool.functions.setUserEMode(p.emode_category), sender=who)
    for symbol, amount in debt.items():
        asset = ctx.tokens[symbol].address
        borrow = market.pool.functions.borrow(asset, amount, VARIABLE_RATE, 0, who)
        ctx.d.send(borrow, sender=who)
    return {
        "borrower": who,
        "collateral": collateral,
        "debt": debt,
        "emode_category": p.emode_category,
    }


def _supply(ctx: DeployContext, market: AaveMarket, symbol: str, who: str, amount: int) -> None:
    ctx.fund(symbol, who, amount)
    ctx.approve(symbol, who, market.pool.address, amount)
    supply = market.pool.functions.supply(ctx.tokens[symbol].address, amount, who, 0)
    ctx.d.send(supply, sender=who)
