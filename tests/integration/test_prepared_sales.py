"""Sales prepared in idle time size the same liquidations as the full route search.

Before WETH's feed drops (9, 12, 25%) the seeded borrowers are healthy; the strategies prepare their
sales (collateral -> debt paths) on that state, as the engine's idle step has them do. After
the shock (which moves no pool: the reloaded pools equal the ones prepared on) each strategy
sizes with the prepared router and with the plain graph router: the opportunities are equal,
and the prepared paths served the quotes. A pool that moves drops what was prepared.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from liquidation_optimum import block_context, liquidation_config, load_state
from tallyio.devnet.scenarios import price_shock
from tallyio.state.graph import PoolGraph
from tallyio.state.position_loader import refs_from_manifest
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation import AaveV3Liquidation, VenusLiquidation
from tallyio.strategies.liquidation_route import graph_router
from tallyio.strategies.prepared_route import PreparedRouter

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet


def _strategies(m: dict[str, Any], cfg: Any) -> list[AaveV3Liquidation | VenusLiquidation]:
    aave, venus = refs_from_manifest(m)[:2]
    return [AaveV3Liquidation(aave, cfg), VenusLiquidation(venus, cfg)]


@pytest.mark.parametrize("shock_pct", [-9, -12, -25])
def test_prepared_sales_size_what_the_full_search_sizes(chain: Devnet, shock_pct: int) -> None:
    m = chain.manifest
    borrowers = [*m["borrowers"]["aave_v3"], *m["borrowers"]["venus"]]
    lending, pools, raw = asyncio.run(load_state(m))
    graph = PoolGraph.from_entries(pools)
    prepared = PreparedRouter(graph)
    before = StateView({**pools, **lending})
    for s in _strategies(m, liquidation_config(m, pools, prepared)):
        s.prepare_sales(borrowers, before, block_context(m, lending, raw))

    price_shock(chain.context(), "WETH", shock_pct)
    lending, reloaded, raw = asyncio.run(load_state(m))
    assert reloaded == pools  # a feed moved, no pool did
    view, block = StateView({**pools, **lending}), block_context(m, lending, raw)
    full = [s.evaluate(borrowers, view, block)
            for s in _strategies(m, liquidation_config(m, pools, graph_router(graph)))]  # fmt: skip
    fast = [s.evaluate(borrowers, view, block)
            for s in _strategies(m, liquidation_config(m, pools, prepared))]  # fmt: skip
    assert all(full), "the shock must make a liquidation on each market"
    assert fast == full
    assert prepared.hits > 0

    hits = prepared.hits
    key = next(iter(pools))
    prepared.forget([Delta(0, key, pools[key], pools[key])])  # any pool delta: all dropped
    again = [s.evaluate(borrowers, view, block)
             for s in _strategies(m, liquidation_config(m, pools, prepared))]  # fmt: skip
    assert again == full
    assert prepared.hits == hits
