"""The strategies a devnet market supports, wired to its state: monitors, router, flash sources.

Liquidations first (TallyIO's priority order): Aave V3 and Venus, each behind its health
monitor; then cyclic arbitrage over the same pool graph the liquidations sell through (the
arbitrage strategy keeps the graph's pool values in step with the deltas).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tallyio.app.arbitrage import PricedArbitrage
from tallyio.app.devnet_market import DevnetMarket
from tallyio.core.engine import EngineStrategy
from tallyio.state.graph import PoolGraph
from tallyio.state.monitor import LendingMonitor
from tallyio.state.prices import CLOCK_KEY
from tallyio.state.store import MarketState
from tallyio.strategies.liquidation import AaveV3Liquidation, VenusLiquidation
from tallyio.strategies.liquidation_sizing import LiquidationConfig
from tallyio.strategies.monitored import MonitoredLiquidation
from tallyio.strategies.prepared_route import PreparedRouter


def _accounts(state: MarketState, protocol: str, market: str) -> list[str]:
    return [
        k[3]
        for k, _ in state.items()
        if isinstance(k, tuple) and len(k) == 4 and k[:3] == ("account", protocol, market)
    ]


# The executor reverts below this share of the expected profit: 5% room for the state to move
# between the block we sized on and the one we land in (the risk gate's max slippage bounds it).
MIN_PROFIT_BPS = 9_500


def liquidation_config(market: DevnetMarket, graph: PoolGraph) -> LiquidationConfig:
    m = market.manifest
    pools = tuple(graph.pools)
    return LiquidationConfig(
        router=PreparedRouter(graph),  # the graph router, with sales prepared in idle time
        pools=pools,
        balancer_vault=str(m.get("balancer_v2", {}).get("vault", "")),
        aave_flash_pool=str(m["aave_v3"]["pool"]),
        aave_flash_premium_bps=int(m["aave_v3"].get("flashloan_premium_bps", 5)),
        venus_close_factor=int(m["venus"]["close_factor"]),
        min_profit_bps=MIN_PROFIT_BPS,
    )


def build_strategies(
    market: DevnetMarket, state: MarketState, names: Sequence[str] | None = None
) -> list[EngineStrategy]:
    graph = PoolGraph.from_entries(state.items())
    config = liquidation_config(market, graph)
    clock: Any = state.get(CLOCK_KEY)
    ts = int(clock[1]) if clock else 0
    aave_accounts = _accounts(state, "aave_v3", market.aave.pool)
    venus_accounts = _accounts(state, "venus", market.venus.comptroller)
    out: list[EngineStrategy] = [
        MonitoredLiquidation(
            AaveV3Liquidation(market.aave, config, aave_accounts),
            LendingMonitor(market.aave, state.get, aave_accounts, ts),
            market.targets,
        ),
        MonitoredLiquidation(
            VenusLiquidation(
                market.venus, config, venus_accounts, liquidator=market.venus_liquidator
            ),
            LendingMonitor(market.venus, state.get, venus_accounts, ts),
            market.targets,
        ),
        PricedArbitrage.build(market, graph, MIN_PROFIT_BPS),
    ]
    if names:
        out = [s for s in out if s.name in names]
    return out
