"""The liquidation strategies on the devnet: a price shock, the strategy's plan, sent for real.

WETH's feed drops 12% (the DEX pools keep their prices), so seeded Aave and Venus borrowers go
under. The lending and pool state is loaded from the chain (snapshot loaders, accounts found in
logs), the strategy sizes each account over the state graph's routes, and its best plan per
protocol runs on a freshly deployed TallyExecutor. The profit kept on chain, less the gas paid,
must be at least 99% of an exhaustive search over (account, debt asset, collateral asset,
amount on a grid) computed here with the exact models, and positive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import decode

from direct_router import direct_router
from liquidation_optimum import (
    aave_optimum,
    block_context,
    liquidation_config,
    load_state,
    venus_optimum,
)
from tallyio.core.opportunity import Opportunity
from tallyio.core.plan import encode_plan
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.devnet.scenarios import price_shock
from tallyio.state.graph import PoolGraph
from tallyio.state.position_loader import refs_from_manifest
from tallyio.state.store import StateView
from tallyio.strategies.liquidation import AaveV3Liquidation, VenusLiquidation
from tallyio.strategies.liquidation_route import graph_router
from tallyio.strategies.liquidation_sizing import LiquidationConfig

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet


# -- sending the plan -----------------------------------------------------------------------------
def _send(chain: Devnet, opp: Opportunity) -> tuple[int, int, int]:
    """(simulated, kept, gas cost in wei) of running `opp`'s plan on a fresh executor."""
    searcher = chain.account("searcher")
    executor = chain.d.deploy(
        load_forge_artifact("TallyExecutor"), searcher, chain.manifest["tokens"]["WETH"],
        sender=searcher,
    )  # fmt: skip
    calldata = "0x" + encode_plan(opp.plan).hex()
    tx = {"from": searcher, "to": executor.address, "data": calldata}
    (simulated,) = decode(["uint256"], bytes.fromhex(chain.d.rpc("eth_call", tx, "latest")[2:]))
    balance = _balance_of(chain, opp.profit_token, executor.address)
    receipt = chain.d.send_raw_call(executor.address, calldata, sender=searcher)
    kept = _balance_of(chain, opp.profit_token, executor.address) - balance
    gas_cost = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    return simulated, kept, gas_cost


def _balance_of(chain: Devnet, token: str, who: str) -> int:
    data = "0x70a08231" + who[2:].lower().rjust(64, "0")
    return int(chain.d.rpc("eth_call", {"to": token, "data": data}, "latest"), 16)


def _run(chain: Devnet, strategy_of: Callable[..., Any], optimum_of: Callable[..., int]) -> None:
    m = chain.manifest
    price_shock(chain.context(), "WETH", -12)
    lending, pools, raw = asyncio.run(load_state(m))
    view, block = StateView({**pools, **lending}), block_context(m, lending, raw)
    graph = PoolGraph.from_entries(pools)
    cfg = liquidation_config(m, pools, graph_router(graph))
    opps = strategy_of(m, cfg).evaluate(_borrowers(m), view, block)
    assert opps, "the shock must make a profitable liquidation"
    best = max(opps, key=lambda o: o.net_profit(block.gas_price) * 10**18 // o.eth_price)
    optimum = optimum_of(m, view, block, liquidation_config(m, pools, direct_router(list(cfg.pools),
                                                   cfg.balancer_vault)))  # fmt: skip
    simulated, kept, gas_cost = _send(chain, best)
    realised = kept * 10**18 // best.eth_price - gas_cost
    print(f"{best.strategy}: expected {best.expected_profit} simulated {simulated} kept {kept} "
          f"realised {realised} wei vs optimum {optimum} wei")  # fmt: skip
    assert kept == simulated >= best.plan.min_profit
    assert realised > 0
    assert realised >= optimum * 99 // 100


def _borrowers(m: dict[str, Any]) -> list[str]:
    return [*m["borrowers"]["aave_v3"], *m["borrowers"]["venus"]]


def test_aave_liquidation_lands_at_the_exhaustive_optimum(chain: Devnet) -> None:
    def strategy(m: dict[str, Any], cfg: LiquidationConfig) -> AaveV3Liquidation:
        return AaveV3Liquidation(refs_from_manifest(m)[0], cfg)

    _run(chain, strategy, aave_optimum)


def test_venus_liquidation_lands_at_the_exhaustive_optimum(chain: Devnet) -> None:
    def strategy(m: dict[str, Any], cfg: LiquidationConfig) -> VenusLiquidation:
        return VenusLiquidation(refs_from_manifest(m)[1], cfg)

    _run(chain, strategy, venus_optimum)
