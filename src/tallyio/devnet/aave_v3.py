"""A full Aave V3 market on the devnet, deployed from the published `@aave/core-v3` bytecode.

The order follows `@aave/deploy-v3`: addresses provider -> logic libraries -> Pool and
PoolConfigurator behind the provider's proxies -> ACL -> oracle (our settable feeds) -> data
provider -> reserves. Listing and seeding (liquidity, borrowers) live in `aave_v3_setup`.
"""

from __future__ import annotations

import json
from typing import Any

from web3.contract import Contract

from tallyio.devnet import aave_v3_setup as setup
from tallyio.devnet.aave_v3_setup import ZERO, AaveMarket, artifact
from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import Deployer
from tallyio.paths import node_modules

MARKET_ID = "TallyIO Devnet Market"
BASE_CURRENCY_UNIT = 10**8  # USD with 8 decimals, like the feeds (base currency = address 0)

# Linked into Pool (FlashLoanLogic links BorrowLogic, so BorrowLogic goes first).
POOL_LIBRARIES = (
    "BorrowLogic",
    "SupplyLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "FlashLoanLogic",
    "PoolLogic",
)


def deploy(ctx: DeployContext) -> dict[str, Any]:
    """Deploy the market, list WETH/WBTC/USDC/DAI, supply liquidity, seed the borrowers."""
    market = deploy_market(ctx)
    reserves = setup.list_reserves(ctx, market)
    setup.supply_liquidity(ctx, market)
    positions = setup.seed_borrowers(ctx, market)
    return {
        **market_section(ctx, market),
        "reserves": reserves,
        "emode_categories": setup.emode_section(),
        "positions": positions,
        "borrowers": [p["borrower"] for p in positions],
    }


def deploy_market(ctx: DeployContext) -> AaveMarket:
    d, admin = ctx.d, ctx.deployer
    registry = d.deploy(artifact("PoolAddressesProviderRegistry"), admin)
    provider = d.deploy(artifact("PoolAddressesProvider"), MARKET_ID, admin)
    d.send(registry.functions.registerAddressesProvider(provider.address, 1))
    pool_impl, pool = _deploy_pool(d, provider)
    configurator_impl, configurator = _deploy_configurator(d, provider)
    acl = _deploy_acl(d, provider, admin)
    oracle = _deploy_oracle(ctx, provider)
    data_provider = d.deploy(artifact("AaveProtocolDataProvider"), provider.address)
    d.send(provider.functions.setPoolDataProvider(data_provider.address))
    return AaveMarket(
        registry=registry,
        provider=provider,
        pool=pool,
        pool_impl=pool_impl,
        configurator=configurator,
        configurator_impl=configurator_impl,
        acl=acl,
        oracle=oracle,
        data_provider=data_provider,
        treasury=admin,  # protocol fees accrue as aTokens; an EOA is enough on a devnet
    )


def _deploy_pool(d: Deployer, provider: Contract) -> tuple[Contract, Contract]:
    libraries: dict[str, str] = {}
    for name in POOL_LIBRARIES:
        libraries[name] = d.deploy(artifact(name), libraries=libraries).address
    impl = d.deploy(artifact("Pool"), provider.address, libraries=libraries)
    # The provider creates the proxy and calls initialize(provider) on it.
    d.send(provider.functions.setPoolImpl(impl.address))
    return impl, d.at(artifact("Pool"), provider.functions.getPool().call())


def _deploy_configurator(d: Deployer, provider: Contract) -> tuple[Contract, Contract]:
    logic = d.deploy(artifact("ConfiguratorLogic"))
    impl = d.deploy(artifact("PoolConfigurator"), libraries={"ConfiguratorLogic": logic.address})
    d.send(provider.functions.setPoolConfiguratorImpl(impl.address))
    proxy = provider.functions.getPoolConfigurator().call()
    return impl, d.at(artifact("PoolConfigurator"), proxy)


def _deploy_acl(d: Deployer, provider: Contract, admin: str) -> Contract:
    # ACLManager's constructor reads the ACL admin from the provider, so set it first.
    d.send(provider.functions.setACLAdmin(admin))
    acl = d.deploy(artifact("ACLManager"), provider.address)
    d.send(provider.functions.setACLManager(acl.address))
    for grant in (
        acl.functions.addPoolAdmin,
        acl.functions.addRiskAdmin,
        acl.functions.addEmergencyAdmin,
        acl.functions.addAssetListingAdmin,
    ):
        d.send(grant(admin))
    return acl


def _deploy_oracle(ctx: DeployContext, provider: Contract) -> Contract:
    symbols = list(ctx.feeds)
    oracle = ctx.d.deploy(
        artifact("AaveOracle"),
        provider.address,
        [ctx.tokens[s].address for s in symbols],
        [ctx.feeds[s].address for s in symbols],
        ZERO,  # no fallback oracle: a missing price should fail loudly
        ZERO,  # base currency: USD
        BASE_CURRENCY_UNIT,
    )
    ctx.d.send(provider.functions.setPriceOracle(oracle.address))
    return oracle


def market_section(ctx: DeployContext, market: AaveMarket) -> dict[str, Any]:
    return {
        "market_id": MARKET_ID,
        # Liquidation rules differ by Aave version (see PROTOCOL_NOTES): 1.19.x is Aave V3.0.
        "core_package_version": _core_version(),
        "pool": market.pool.address,
        "pool_implementation": market.pool_impl.address,
        "addresses_provider": market.provider.address,
        "addresses_provider_registry": market.registry.address,
        "configurator": market.configurator.address,
        "configurator_implementation": market.configurator_impl.address,
        "acl_manager": market.acl.address,
        "oracle": market.oracle.address,
        "data_provider": market.data_provider.address,
        "treasury": market.treasury,
        "base_currency_unit": BASE_CURRENCY_UNIT,
        "flashloan_premium_bps": setup.FLASHLOAN_PREMIUM_BPS,
        "price_feeds": {s: f.address for s, f in ctx.feeds.items()},
    }


def _core_version() -> str:
    package = json.loads((node_modules() / "@aave/core-v3/package.json").read_text())
    return str(package["version"])
