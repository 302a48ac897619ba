"""Venus core pool (Compound v2 family) on the devnet: four markets, deep liquidity, five borrowers.

The plumbing (ACM, Diamond comptroller, oracle stack) is in venus_setup; this module lists the
markets over ctx.tokens, has `lp` supply every market, and seeds the five venus borrowers just
inside their liquidation threshold with different collateral/debt mixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, DeployContext, borrowers
from tallyio.devnet.deployer import Deployer, DeployError, load_artifact
from tallyio.devnet.venus_liquidator import deploy_liquidator
from tallyio.devnet.venus_setup import (
    JUMP_RATE_MODEL,
    VTOKEN_DELEGATE,
    VTOKEN_DELEGATOR,
    deploy_acm,
    deploy_comptroller,
    deploy_oracles,
    send_checked,
    wire_oracles,
)

WAD = 10**18
VTOKEN_DECIMALS = 8
CLOSE_FACTOR = 5 * 10**17  # 50% of a borrow may be repaid per liquidation
LIQUIDATION_INCENTIVE = 11 * 10**17  # the liquidator seizes 110% of what it repays
BLOCKS_PER_YEAR = 70_080_000  # venus-protocol's DEFAULT_BLOCKS_PER_YEAR (BSC, 0.45 s blocks)
# Reserves never go to a ProtocolShareReserve (none is deployed): push the sweep out of reach.
NEVER_SWEEP_BLOCKS = 2**128
SET_COLLATERAL_FACTOR = "setCollateralFactor(address,uint256,uint256)"
SET_LIQUIDATION_INCENTIVE = "setLiquidationIncentive(address,uint256)"


@dataclass(frozen=True, slots=True)
class RateModel:
    """JumpRateModel parameters, per year, 1e18-scaled."""

    base: int
    multiplier: int
    jump_multiplier: int
    kink: int


# The two models venus-protocol's own local deployment uses (InterestRateModelVUSDC / VETH).
STABLE_RATES = RateModel(0, 5 * 10**16, 109 * 10**16, 80 * 10**16)
VOLATILE_RATES = RateModel(0, 4 * 10**16, 108 * 10**16, 70 * 10**16)


@dataclass(frozen=True, slots=True)
class MarketSpec:
    collateral_factor: int  # 1e18: borrowing power per unit of collateral value
    liquidation_threshold: int  # 1e18: shortfall (liquidatable) below this weighting
    reserve_factor: int  # 1e18: share of interest kept as reserves
    rates: RateModel
    lp_supply: int  # whole tokens `lp` supplies


MARKETS: dict[str, MarketSpec] = {
    "WETH": MarketSpec(80 * 10**16, 825 * 10**15, 20 * 10**16, VOLATILE_RATES, 2_000),
    "WBTC": MarketSpec(75 * 10**16, 78 * 10**16, 20 * 10**16, VOLATILE_RATES, 100),
    "USDC": MarketSpec(825 * 10**15, 85 * 10**16, 10 * 10**16, STABLE_RATES, 5_000_000),
    "DAI": MarketSpec(75 * 10**16, 80 * 10**16, 10 * 10**16, STABLE_RATES, 5_000_000),
}


@dataclass(frozen=True, slots=True)
class BorrowerSeed:
    supplies: tuple[tuple[str, int], ...]  # (symbol, base units) supplied and entered as collateral
    debt: tuple[str, int]  # (symbol, base units) borrowed


# At the starting prices (ETH 2,000, BTC 60,000, stables 1) each sits a few percent inside its
# liquidation threshold (getAccountLiquidity liquidity / debt value):
#   0: 10 WETH -> 15,900 USDC           3.8%  liquidatable when ETH < ~1,927 (-3.6%)
#   1: 0.5 WBTC -> 22,000 DAI           6.4%  when BTC < ~56,410 (-6.0%)
#   2: 5 WETH + 0.2 WBTC -> 16,000 USDC 10.1%  when ETH -19.5% alone, or BTC -17.2% alone
#   3: 30,000 USDC -> 12 WETH           6.3%  when ETH > 2,125 (+6.3%): a short
#   4: 10,000 DAI + 4 WETH -> 0.22 WBTC 10.6%  when BTC > ~66,364 (+10.6%), or ETH -21.2%
BORROWER_SEEDS: tuple[BorrowerSeed, ...] = (
    BorrowerSeed((("WETH", 10 * 10**18),), ("USDC", 15_900 * 10**6)),
    BorrowerSeed((("WBTC", 50_000_000),), ("DAI", 22_000 * 10**18)),
    BorrowerSeed((("WETH", 5 * 10**18), ("WBTC", 20_000_000)), ("USDC", 16_000 * 10**6)),
    BorrowerSeed((("USDC", 30_000 * 10**6),), ("WETH", 12 * 10**18)),
    BorrowerSeed((("DAI", 10_000 * 10**18), ("WETH", 4 * 10**18)), ("WBTC", 22_000_000)),
)
# The seeded cushion must stay in this band (percent of debt value), or the seeds are wrong.
CUSHION_RANGE_PCT = (2, 12)


def initial_exchange_rate(underlying_decimals: int) -> int:
    """0.02 underlying per vToken, scaled by 1e(18 + underlying decimals - vToken decimals)."""
    return 2 * 10 ** (16 + underlying_decimals - VTOKEN_DECIMALS)


def vtoken_abi() -> tuple[dict[str, Any], ...]:
    """vTokens are VBep20Delegators forwarding to VBep20Delegate: use the delegate's ABI."""
    return load_artifact(VTOKEN_DELEGATE).abi


# -- markets -----------------------------------------------------------------------------------


def _deploy_vtokens(
    ctx: DeployContext, comptroller: str, acm: str
) -> tuple[dict[str, Contract], dict[str, str]]:
    """A VBep20Delegator per token over one VBep20Delegate; returns (vTokens, rate models)."""
    d = ctx.d
    delegate = d.deploy(load_artifact(VTOKEN_DELEGATE))
    models = {rates: _deploy_rate_model(d, rates) for rates in {m.rates for m in MARKETS.values()}}
    vtokens: dict[str, Contract] = {}
    rate_models: dict[str, str] = {}
    for symbol, spec in MARKETS.items():
        underlying = ctx.tokens[symbol].address
        proxy = d.deploy(
            load_artifact(VTOKEN_DELEGATOR),
            underlying, comptroller, models[spec.rates],
            initial_exchange_rate(DECIMALS[symbol]), f"Venus {symbol}", f"v{symbol}",
            VTOKEN_DECIMALS, ctx.deployer, delegate.address, b"",
        )  # fmt: skip
        vtoken = d.at(vtoken_abi(), proxy.address)
        _configure_reserves(d, vtoken, acm, spec.reserve_factor)
        vtokens[symbol] = vtoken
        rate_models[symbol] = models[spec.rates]
    return vtokens, rate_models


def _deploy_rate_model(d: Deployer, rates: RateModel) -> str:
    args = (rates.base, rates.multiplier, rates.jump_multiplier, rates.kink, BLOCKS_PER_YEAR)
    return str(d.deploy(load_artifact(JUMP_RATE_MODEL), *args).address)


def _configure_reserves(d: Deployer, vtoken: Contract, acm: str, reserve_factor: int) -> None:
    send_checked(d, vtoken.functions.setAccessControlManager(acm))
    # Before any interest accrues: else accrual sweeps reserves to a zero share-reserve address.
    d.send(vtoken.functions.setReduceReservesBlockDelta(NEVER_SWEEP_BLOCKS))
    send_checked(d, vtoken.functions._setReserveFactor(reserve_factor))


def _list_markets(d: Deployer, comptroller: Contract, vtokens: dict[str, Contract]) -> None:
    """Support, weight, incentivise, allow borrowing and cap (high) each core-pool market."""
    fns = comptroller.functions
    for symbol, vtoken in vtokens.items():
        spec = MARKETS[symbol]
        send_checked(d, fns._supportMarket(vtoken.address))
        # The core-pool overloads (v10 also has per-pool ones taking a pool id first).
        set_cf = comptroller.get_function_by_signature(SET_COLLATERAL_FACTOR)
        send_checked(d, set_cf(vtoken.address, spec.collateral_factor, spec.liquidation_threshold))
        set_li = comptroller.get_function_by_signature(SET_LIQUIDATION_INCENTIVE)
        send_checked(d, set_li(vtoken.address, LIQUIDATION_INCENTIVE))
        d.send(fns.setIsBorrowAllowed(0, vtoken.address, True))  # pool 0 = core pool
    # A cap of 0 allows nothing; a billion whole tokens is "no cap" on this devnet.
    addresses = [v.address for v in vtokens.values()]
    caps = [10 ** (DECIMALS[s] + 9) for s in vtokens]
    d.send(fns._setMarketSupplyCaps(addresses, caps))
    d.send(fns._setMarketBorrowCaps(addresses, caps))
    send_checked(d, fns._setCloseFactor(CLOSE_FACTOR))


# -- liquidity and borrowers -------------------------------------------------------------------


def _supply(ctx: DeployContext, vtoken: Contract, symbol: str, who: str, amount: int) -> None:
    ctx.fund(symbol, who, amount)
    ctx.approve(symbol, who, vtoken.address)
    send_checked(ctx.d, vtoken.functions.mint(amount), sender=who)


def _supply_liquidity(ctx: DeployContext, vtokens: dict[str, Contract]) -> None:
    lp = ctx.accounts["lp"]
    for symbol, vtoken in vtokens.items():
        _supply(ctx, vtoken, symbol, lp, MARKETS[symbol].lp_supply * 10 ** DECIMALS[symbol])


def _seed_borrower(
    ctx: DeployContext,
    comptroller: Contract,
    vtokens: dict[str, Contract],
    who: str,
    seed: BorrowerSeed,
) -> None:
    for symbol, amount in seed.supplies:
        _supply(ctx, vtokens[symbol], symbol, who, amount)
    entered = [vtokens[s].address for s, _ in seed.supplies]
    ctx.d.send(comptroller.functions.enterMarkets(entered), sender=who)  # reverts on failure
    debt_symbol, debt_amount = seed.debt
    send_checked(ctx.d, vtokens[debt_symbol].functions.borrow(debt_amount), sender=who)


def cushion_pct(comptroller: Contract, oracle: Contract, vtoken: Contract, who: str) -> float:
    """getAccountLiquidity's liquidity as a percentage of the debt's value (0 when in shortfall)."""
    err, liquidity, shortfall = comptroller.functions.getAccountLiquidity(who).call()
    if err or shortfall:
        return 0.0
    debt = vtoken.functions.borrowBalanceStored(who).call()
    value = debt * oracle.functions.getUnderlyingPrice(vtoken.address).call() // WAD
    return 100 * liquidity / value


def _seed_borrowers(
    ctx: DeployContext, comptroller: Contract, oracle: Contract, vtokens: dict[str, Contract]
) -> list[str]:
    accounts = borrowers(ctx.accounts, "venus")
    low, high = CUSHION_RANGE_PCT
    for who, seed in zip(accounts, BORROWER_SEEDS, strict=True):
        _seed_borrower(ctx, comptroller, vtokens, who, seed)
        pct = cushion_pct(comptroller, oracle, vtokens[seed.debt[0]], who)
        if not low <= pct <= high:
            raise DeployError(f"venus borrower {who} seeded with a {pct:.2f}% cushion")
    return accounts


# -- entry point -------------------------------------------------------------------------------


def deploy(ctx: DeployContext) -> dict[str, Any]:
    """Deploy the Venus core pool over ctx.tokens, priced by ctx.feeds; its manifest section."""
    acm = deploy_acm(ctx).address
    comptroller, lens = deploy_comptroller(ctx, acm)
    oracles = deploy_oracles(ctx, acm)
    wire_oracles(ctx.d, comptroller, oracles)
    vtokens, rate_models = _deploy_vtokens(ctx, comptroller.address, acm)
    _list_markets(ctx.d, comptroller, vtokens)
    _supply_liquidity(ctx, vtokens)
    seeded = _seed_borrowers(ctx, comptroller, oracles["resilient"], vtokens)
    liquidator = deploy_liquidator(ctx, comptroller, acm, rate_models["WETH"])
    return {
        "comptroller": comptroller.address,
        "comptroller_lens": lens,
        "oracle": oracles["resilient"].address,
        "chainlink_oracle": oracles["chainlink"].address,
        "bounded_oracle": oracles["bounded"].address,
        "access_control_manager": acm,
        "vtokens": {s: v.address for s, v in vtokens.items()},
        "markets": {s: _market_entry(ctx, s, v, rate_models[s]) for s, v in vtokens.items()},
        "liquidation_incentive": LIQUIDATION_INCENTIVE,
        "close_factor": CLOSE_FACTOR,
        "blocks_per_year": BLOCKS_PER_YEAR,
        "borrowers": seeded,
        **liquidator,  # deployed, not set on the comptroller: the default path stays direct
    }


def _market_entry(
    ctx: DeployContext, symbol: str, vtoken: Contract, rate_model: str
) -> dict[str, Any]:
    spec = MARKETS[symbol]
    return {
        "vtoken": vtoken.address,
        "underlying": ctx.tokens[symbol].address,
        "underlying_decimals": DECIMALS[symbol],
        "vtoken_decimals": VTOKEN_DECIMALS,
        "collateral_factor": spec.collateral_factor,
        "liquidation_threshold": spec.liquidation_threshold,
        "liquidation_incentive": LIQUIDATION_INCENTIVE,
        "reserve_factor": spec.reserve_factor,
        "interest_rate_model": rate_model,
        "initial_exchange_rate": initial_exchange_rate(DECIMALS[symbol]),
    }
