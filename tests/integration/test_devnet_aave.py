"""The devnet's Aave V3 market: real bytecode, listed reserves, borrowers near liquidation."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pytest
from web3.contract import Contract

from tallyio.devnet.aave_v3_setup import POSITIONS, RESERVES, STABLECOINS, VARIABLE_RATE, artifact
from tallyio.devnet.context import (
    DECIMALS,
    MINTABLE_ERC20,
    PRICES_USD_8,
    WETH9,
    DeployContext,
)
from tallyio.devnet.deployer import DeployError, load_artifact, load_forge_artifact

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py, the `chain` fixture

pytestmark = pytest.mark.devnet

WAD = 10**18
HF_BAND = (102 * WAD // 100, 115 * WAD // 100)  # "near the liquidation threshold"
SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")


# -- helpers ------------------------------------------------------------------------------
def _aave(chain: Devnet) -> dict[str, Any]:
    section: dict[str, Any] = chain.manifest["aave_v3"]
    return section


def _at(chain: Devnet, name: str, key: str) -> Contract:
    return chain.d.at(artifact(name), _aave(chain)[key])


def _ctx(chain: Devnet) -> DeployContext:
    """The deploy-time helpers (fund, approve, units) bound to the running devnet."""
    accounts = {n: a["address"] for n, a in chain.manifest["accounts"].items()}
    tokens = {
        s: chain.d.at(load_artifact(WETH9 if s == "WETH" else MINTABLE_ERC20), addr)
        for s, addr in chain.manifest["tokens"].items()
    }
    feeds = {
        s: chain.d.at(load_forge_artifact("SettableFeed"), addr)
        for s, addr in chain.manifest["price_feeds"].items()
    }
    return DeployContext(chain.d, accounts, tokens, feeds)


def _account_data(chain: Devnet, user: str) -> list[int]:
    """Pool.getUserAccountData: collateral, debt, available (base units), lt, ltv, HF."""
    return list(_at(chain, "Pool", "pool").functions.getUserAccountData(user).call())


def _health_factor(chain: Devnet, user: str) -> int:
    return _account_data(chain, user)[5]


def _set_price(ctx: DeployContext, symbol: str, usd_8: int) -> None:
    ctx.d.send(ctx.feeds[symbol].functions.setAnswer(usd_8), sender=ctx.deployer)


def _expected_hf(index: int) -> Fraction:
    """HF of a seeded position at the starting prices, from its table entry."""
    p = POSITIONS[index]
    lts = {r.symbol: r.liquidation_threshold for r in RESERVES}
    if p.emode_category:
        lts = dict.fromkeys(lts, STABLECOINS.liquidation_threshold)
    weighted = sum(w * PRICES_USD_8[s] * lts[s] for s, w in p.collateral.items())
    debt = sum(w * PRICES_USD_8[s] for s, w in p.debt.items())
    return Fraction(weighted, debt * 10_000)


def _percent_mul(value: int, bps: int) -> int:
    return (value * bps + 5_000) // 10_000


def _percent_div(value: int, bps: int) -> int:
    return (value * 10_000 + bps // 2) // bps


# -- the market as deployed ---------------------------------------------------------------
def test_manifest_lists_the_market(chain: Devnet) -> None:
    aave = _aave(chain)
    for key in (
        "pool",
        "addresses_provider",
        "data_provider",
        "oracle",
        "acl_manager",
        "configurator",
        "price_feeds",
        "reserves",
    ):
        assert key in aave, key
    for key in (
        "pool",
        "addresses_provider",
        "data_provider",
        "oracle",
        "acl_manager",
        "configurator",
    ):
        assert chain.d.rpc("eth_getCode", aave[key], "latest") != "0x", key
    provider = _at(chain, "PoolAddressesProvider", "addresses_provider").functions
    assert provider.getPool().call() == aave["pool"]
    assert provider.getPoolConfigurator().call() == aave["configurator"]
    assert provider.getPriceOracle().call() == aave["oracle"]
    assert provider.getACLManager().call() == aave["acl_manager"]
    assert set(aave["reserves"]) == set(SYMBOLS)
    pool = _at(chain, "Pool", "pool").functions
    assert pool.FLASHLOAN_PREMIUM_TOTAL().call() == aave["flashloan_premium_bps"] == 5
    assert len(chain.manifest["borrowers"]["aave_v3"]) == len(POSITIONS)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_reserve_is_active_and_priced_by_its_feed(chain: Devnet, symbol: str) -> None:
    reserve = _aave(chain)["reserves"][symbol]
    data = _at(chain, "AaveProtocolDataProvider", "data_provider").functions
    asset = reserve["asset"]
    (decimals, ltv, lt, bonus, _rf, collateral, borrowing, stable, active, frozen) = (
        data.getReserveConfigurationData(asset).call()
    )
    assert (decimals, ltv, lt, bonus) == (
        DECIMALS[symbol],
        reserve["ltv"],
        reserve["liquidation_threshold"],
        reserve["liquidation_bonus"],
    )
    assert active and collateral and borrowing and not frozen and not stable
    assert data.getFlashLoanEnabled(asset).call()
    assert data.getLiquidationProtocolFee(asset).call() == 1_000
    pool_data = _at(chain, "Pool", "pool").functions.getReserveData(asset).call()
    assert pool_data[8] == reserve["a_token"]  # ReserveData.aTokenAddress
    feed = _ctx(chain).feeds[symbol].functions.latestAnswer().call()
    price = _at(chain, "AaveOracle", "oracle").functions.getAssetPrice(asset).call()
    assert price == feed == PRICES_USD_8[symbol]


def test_fresh_account_can_supply_and_borrow(chain: Devnet) -> None:
    ctx, pool = _ctx(chain), _at(chain, "Pool", "pool")
    user, weth, usdc = ctx.accounts["trader"], ctx.tokens["WETH"], ctx.tokens["USDC"]
    supplied, borrowed = ctx.units("WETH", 2), ctx.units("USDC", 1_500)
    ctx.fund("WETH", user, supplied)
    ctx.approve("WETH", user, pool.address)
    ctx.d.send(pool.functions.supply(weth.address, supplied, user, 0), sender=user)
    usdc_before = usdc.functions.balanceOf(user).call()
    borrow = pool.functions.borrow(usdc.address, borrowed, VARIABLE_RATE, 0, user)
    ctx.d.send(borrow, sender=user)
    assert usdc.functions.balanceOf(user).call() - usdc_before == borrowed
    debt_token = chain.d.at(
        artifact("VariableDebtToken"), _aave(chain)["reserves"]["USDC"]["variable_debt_token"]
    )
    assert debt_token.functions.balanceOf(user).call() >= borrowed
    # 4,000 USD of WETH at 82.5% against 1,500 USD of debt
    assert _health_factor(chain, user) == pytest.approx(2.2 * WAD, rel=1e-6)


# -- seeded borrowers ---------------------------------------------------------------------
@pytest.mark.parametrize("index", range(len(POSITIONS)))
def test_seeded_borrower_sits_near_liquidation(chain: Devnet, index: int) -> None:
    borrower = chain.manifest["borrowers"]["aave_v3"][index]
    hf = _health_factor(chain, borrower)
    assert HF_BAND[0] < hf < HF_BAND[1]
    assert hf == pytest.approx(float(_expected_hf(index)) * WAD, rel=1e-6)


def test_seeded_borrowers_tip_over_at_different_moments(chain: Devnet) -> None:
    hfs = [_health_factor(chain, b) for b in chain.manifest["borrowers"]["aave_v3"]]
    assert len({hf * 100 // WAD for hf in hfs}) == len(hfs)  # distinct to the percent


# Which shock tips which borrower (index -> new feed prices, USD with 8 decimals).
SHOCKS = {
    0: {"WETH": 1_900 * 10**8},  # ETH -5%
    1: {"WBTC": 55_000 * 10**8},  # BTC -8.3%
    2: {"WETH": 1_700 * 10**8, "WBTC": 51_000 * 10**8},  # both -15%
    3: {"WETH": 2_200 * 10**8},  # ETH +10% against a short
    4: {"DAI": 96 * 10**6},  # DAI depegs to 0.96 inside stablecoin e-mode
}


@pytest.mark.parametrize("index", sorted(SHOCKS))
def test_price_shock_makes_borrower_liquidatable(chain: Devnet, index: int) -> None:
    ctx, borrower = _ctx(chain), chain.manifest["borrowers"]["aave_v3"][index]
    assert _health_factor(chain, borrower) >= WAD
    for symbol, price in SHOCKS[index].items():
        _set_price(ctx, symbol, price)
    assert _health_factor(chain, borrower) < WAD


def test_liquidation_pays_the_searcher_the_bonus(chain: Devnet) -> None:
    ctx, pool, aave = _ctx(chain), _at(chain, "Pool", "pool"), _aave(chain)
    borrower, searcher = chain.manifest["borrowers"]["aave_v3"][0], ctx.accounts["searcher"]
    weth, usdc = ctx.tokens["WETH"], ctx.tokens["USDC"]
    cover = ctx.units("USDC", 5_000)  # under the 50% close factor of 15,800
    ctx.fund("USDC", searcher, cover)
    ctx.approve("USDC", searcher, pool.address)
    liquidate = pool.functions.liquidationCall(weth.address, usdc.address, borrower, cover, False)
    with pytest.raises(DeployError, match=r"execution reverted: 45\b"):  # HF_NOT_BELOW_THRESHOLD
        ctx.d.send(liquidate, sender=searcher)

    weth_price = 1_900 * 10**8
    _set_price(ctx, "WETH", weth_price)
    assert _health_factor(chain, borrower) < WAD
    debt_token = chain.d.at(
        artifact("VariableDebtToken"), aave["reserves"]["USDC"]["variable_debt_token"]
    )
    debt_before = debt_token.functions.balanceOf(borrower).call()
    weth_before = weth.functions.balanceOf(searcher).call()
    ctx.d.send(liquidate, sender=searcher)

    received = weth.functions.balanceOf(searcher).call() - weth_before
    # LiquidationLogic._calculateAvailableCollateralToLiquidate, to the wei.
    bonus_bps = aave["reserves"]["WETH"]["liquidation_bonus"]
    base = PRICES_USD_8["USDC"] * cover * 10**18 // (weth_price * 10**6)
    with_bonus = _percent_mul(base, bonus_bps)
    protocol_fee = _percent_mul(with_bonus - _percent_div(with_bonus, bonus_bps), 1_000)
    assert received == with_bonus - protocol_fee
    assert received * weth_price // 10**18 > cover * PRICES_USD_8["USDC"] // 10**6
    debt_after = debt_token.functions.balanceOf(borrower).call()
    # balanceOf is scaled.rayMul(index): a view and the next block can differ by a wei of
    # rounding, plus at most a block's interest.
    assert debt_before - cover - 1 <= debt_after < debt_before - cover + 10**4
