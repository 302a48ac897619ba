"""Balancer V2 on the devnet from the published bytecode: vault (flash loans) and weighted pools.

Authorizer and Vault come from the 20210418 deployment (the one mainnet runs), the pools from
the 20230206 WeightedPoolFactory (v3), which needs the ProtocolFeePercentagesProvider. Each
pool is seeded by an INIT join from `lp` at the devnet's USD prices, so its spot prices match
the feeds; the pool balances sit in the vault and are what its flash loans lend (fee 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, PRICES_USD_8, DeployContext
from tallyio.devnet.deployer import DeployError, load_artifact

_TASKS = "@balancer-labs/v2-deployments/dist/tasks"
AUTHORIZER = f"{_TASKS}/20210418-authorizer/artifact/Authorizer.json"
VAULT = f"{_TASKS}/20210418-vault/artifact/Vault.json"
QUERIES = f"{_TASKS}/20220721-balancer-queries/artifact/BalancerQueries.json"
FEE_PROVIDER = (
    f"{_TASKS}/20220725-protocol-fee-percentages-provider/artifact/"
    "ProtocolFeePercentagesProvider.json"
)
WEIGHTED_POOL_FACTORY = f"{_TASKS}/20230206-weighted-pool-v3/artifact/WeightedPoolFactory.json"
WEIGHTED_POOL = f"{_TASKS}/20230206-weighted-pool-v3/artifact/WeightedPool.json"

# The vault creates its ProtocolFeesCollector itself; no artifact ships its ABI.
FEES_COLLECTOR_ABI: tuple[dict[str, Any], ...] = tuple(
    {
        "type": "function",
        "name": name,
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    }
    for name in ("getFlashLoanFeePercentage", "getSwapFeePercentage")
)

# The collector's fee setter and its action id (for granting the role through the Authorizer).
FEES_COLLECTOR_ADMIN_ABI: tuple[dict[str, Any], ...] = (
    *FEES_COLLECTOR_ABI,
    {
        "type": "function",
        "name": "setFlashLoanFeePercentage",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "newFlashLoanFeePercentage", "type": "uint256"}],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "getActionId",
        "stateMutability": "view",
        "inputs": [{"name": "selector", "type": "bytes4"}],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
)

# Mainnet's settings: the longest pause window and buffer the vault allows.
PAUSE_WINDOW = 90 * 86_400
BUFFER_PERIOD = 30 * 86_400
MAX_YIELD_FEE = MAX_AUM_FEE = 5 * 10**17  # 50%, as deployed on mainnet
FACTORY_VERSION = json.dumps(
    {"name": "WeightedPoolFactory", "version": 3, "deployment": "20230206-weighted-pool-v3"}
)
POOL_VERSION = json.dumps(
    {"name": "WeightedPool", "version": 3, "deployment": "20230206-weighted-pool-v3"}
)
JOIN_KIND_INIT = 0
ZERO_ADDRESS = "0x" + "00" * 20  # a rate provider of zero: the token's rate is 1
POOL_CREATED_TOPIC = "0x" + keccak(text="PoolCreated(address)").hex()
ONE = 10**18


@dataclass(frozen=True, slots=True)
class PoolSpec:
    symbols: tuple[str, ...]
    weights_pct: tuple[int, ...]  # whole percent, summing to 100
    swap_fee: int  # 1e18-scaled
    tvl_usd: int


POOLS: tuple[PoolSpec, ...] = (
    PoolSpec(("WETH", "USDC"), (80, 20), 3 * 10**15, 10_000_000),  # 0.3%, the B-80/20 shape
    PoolSpec(("WETH", "WBTC", "DAI"), (40, 40, 20), 10**15, 6_000_000),  # 0.1%
)


def deploy(ctx: DeployContext) -> dict[str, Any]:
    d = ctx.d
    authorizer = d.deploy(load_artifact(AUTHORIZER), ctx.deployer)
    weth = ctx.tokens["WETH"].address
    vault = d.deploy(load_artifact(VAULT), authorizer.address, weth, PAUSE_WINDOW, BUFFER_PERIOD)
    fee_provider = d.deploy(load_artifact(FEE_PROVIDER), vault.address, MAX_YIELD_FEE, MAX_AUM_FEE)
    factory = d.deploy(
        load_artifact(WEIGHTED_POOL_FACTORY),
        vault.address,
        fee_provider.address,
        FACTORY_VERSION,
        POOL_VERSION,
    )
    queries = d.deploy(load_artifact(QUERIES), vault.address)
    collector = d.at(FEES_COLLECTOR_ABI, vault.functions.getProtocolFeesCollector().call())
    pools = [_create_pool(ctx, vault, factory, spec) for spec in POOLS]
    return {
        "vault": vault.address,
        "authorizer": authorizer.address,
        "weighted_pool_factory": factory.address,
        "protocol_fee_percentages_provider": fee_provider.address,
        "protocol_fees_collector": collector.address,
        "queries": queries.address,
        "flash_loan_fee_percentage": collector.functions.getFlashLoanFeePercentage().call(),
        "pools": pools,
    }


def _create_pool(
    ctx: DeployContext, vault: Contract, factory: Contract, spec: PoolSpec
) -> dict[str, Any]:
    # The vault registers a pool's tokens sorted by address; weights and amounts follow.
    order = sorted(range(len(spec.symbols)), key=lambda i: int(_address(ctx, spec.symbols[i]), 16))
    symbols = [spec.symbols[i] for i in order]
    weights = [spec.weights_pct[i] * ONE // 100 for i in order]
    tokens = [_address(ctx, s) for s in symbols]
    label = [f"{pct}{sym}" for sym, pct in zip(spec.symbols, spec.weights_pct, strict=True)]
    create = factory.functions.create(
        f"Balancer {' '.join(label)}",
        f"B-{'-'.join(label)}",
        tokens,
        weights,
        [ZERO_ADDRESS] * len(tokens),
        spec.swap_fee,
        ctx.deployer,  # owner: may change the swap fee
    )
    pool = ctx.d.at(
        load_artifact(WEIGHTED_POOL), _created_pool(ctx.d.send(create), factory.address)
    )
    pool_id: bytes = pool.functions.getPoolId().call()
    amounts = [_seed_amount(s, w, spec.tvl_usd) for s, w in zip(symbols, weights, strict=True)]
    _init_join(ctx, vault, pool_id, symbols, amounts)
    return {
        "pool_id": "0x" + pool_id.hex(),
        "address": pool.address,
        "tokens": tokens,
        "symbols": symbols,
        "weights": weights,
        "balances": amounts,
        "swap_fee": spec.swap_fee,
    }


def _address(ctx: DeployContext, symbol: str) -> str:
    return str(ctx.tokens[symbol].address)


def _created_pool(receipt: dict[str, Any], factory: str) -> str:
    for log in receipt["logs"]:
        if (
            to_checksum_address(log["address"]) == factory
            and log["topics"][0] == POOL_CREATED_TOPIC
        ):
            return to_checksum_address("0x" + log["topics"][1][-40:])
    raise DeployError("WeightedPoolFactory.create emitted no PoolCreated")


def _seed_amount(symbol: str, weight: int, tvl_usd: int) -> int:
    """Base units worth `weight` of `tvl_usd` at the feed price, so spot prices match the feeds."""
    return tvl_usd * weight * 10 ** DECIMALS[symbol] * 10**8 // (ONE * PRICES_USD_8[symbol])


def _init_join(
    ctx: DeployContext, vault: Contract, pool_id: bytes, symbols: list[str], amounts: list[int]
) -> None:
    lp = ctx.accounts["lp"]
    for symbol, amount in zip(symbols, amounts, strict=True):
        ctx.fund(symbol, lp, amount)
        ctx.approve(symbol, lp, vault.address)
    user_data = encode(["uint256", "uint256[]"], [JOIN_KIND_INIT, amounts])
    assets = [_address(ctx, s) for s in symbols]
    request = (assets, amounts, user_data, False)
    ctx.d.send(vault.functions.joinPool(pool_id, lp, lp, request), sender=lp)
