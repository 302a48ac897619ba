"""Compound V3 absorb + buyCollateral sizing against an exhaustive search (model level)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from direct_router import direct_router
from tallyio.core.opportunity import BlockContext
from tallyio.core.plan import FlashSource
from tallyio.protocols import compound_v3 as comet
from tallyio.protocols.aave_v3_math import percent_mul
from tallyio.protocols.uniswap_v2 import V2Pool, get_amount_out
from tallyio.state.pools import pool_key
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_comet import (
    ABSORB_GAS,
    BUY_COLLATERAL_GAS,
    CompoundV3Liquidation,
)
from tallyio.strategies.liquidation_sizing import GasModel, LiquidationConfig

COMET, LENDER = "0x" + "c3" * 20, "0x" + "a0" * 20
USDC, WETH, WBTC = "0x" + "03" * 20, "0x" + "01" * 20, "0x" + "02" * 20
PAIRS = {"0x" + "71" * 20: (WETH, 18, 2_000), "0x" + "72" * 20: (WBTC, 8, 60_000)}
GAS, GRID = GasModel(), 400


def _market() -> comet.CometMarket:
    assets = (
        comet.AssetInfo(0, WETH, "0x" + "f1" * 20, 10**18, 825 * 10**15, 895 * 10**15,
                        95 * 10**16, 10**30),
        comet.AssetInfo(1, WBTC, "0x" + "f2" * 20, 10**8, 7 * 10**17, 77 * 10**16,
                        95 * 10**16, 10**30),
    )  # fmt: skip
    return comet.CometMarket(COMET, USDC, 10**6, 5 * 10**17, assets)


def _state(rng: random.Random, ltv: float, depth: float) -> tuple[dict[Any, Any], str]:
    market, user = _market(), "0x" + "55" * 20
    prices = comet.CometPrices(10**8, (2_000 * 10**8, 60_000 * 10**8))
    coll = (int(rng.uniform(1, 60) * 10**18), int(rng.uniform(0, 2) * 10**8))
    value = coll[0] * 2_000 / 1e18 * 0.895 + coll[1] * 60_000 / 1e8 * 0.77
    debt = int(value * ltv * 10**6)
    entries: dict[Any, Any] = {
        ("comet", COMET): market,
        ("comet_prices", COMET): prices,
        ("comet_reserves", COMET): (10**12, 5 * 10**12),
        ("account", "compound_v3", COMET, user): comet.CometAccount(user, -debt, coll),
    }
    for address, (token, dec, usd) in PAIRS.items():
        side = depth * rng.uniform(0.3, 3)
        pool = V2Pool(address, token, USDC, int(side / usd * 10**dec),
                      int(side * rng.uniform(0.95, 1.1) * 10**6))  # fmt: skip
        entries[pool_key(address)] = pool
    return entries, user


def _config() -> LiquidationConfig:
    return LiquidationConfig(router=direct_router(list(PAIRS)), pools=tuple(PAIRS),
                             aave_flash_pool=LENDER)  # fmt: skip


def _exhaustive(entries: dict[Any, Any], user: str, gas_price: int, eth_usdc: int) -> int:
    market, prices = entries[("comet", COMET)], entries[("comet_prices", COMET)]
    absorbed = comet.absorb(entries[("account", "compound_v3", COMET, user)], market, prices)
    best = 0
    for info in market.assets:
        available = absorbed.seized[info.offset]
        pool = next(entries[pool_key(a)] for a, v in PAIRS.items() if v[0] == info.asset)
        hi = 1
        while comet.quote_collateral(info, hi * 2, market, prices) <= available:
            hi *= 2
        hi *= 2
        for k in range(1, GRID + 1):
            x = hi * k // GRID
            got = comet.quote_collateral(info, x, market, prices)
            if not 0 < got <= available:
                continue
            out = get_amount_out(got, pool.reserve0, pool.reserve1)  # token < USDC: token0
            raw = (
                GAS.base + ABSORB_GAS + BUY_COLLATERAL_GAS + 67_000 + GAS.flash[FlashSource.AAVE_V3]
            )
            gas = raw * (10_000 + GAS.margin_bps) // 10_000
            best = max(best, out - x - percent_mul(x, 5) - gas * gas_price * eth_usdc // 10**18)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_comet_choice_matches_the_exhaustive_optimum(seed: int) -> None:
    rng = random.Random(seed)
    entries, user = _state(rng, rng.uniform(1.01, 1.2), rng.choice((20_000, 200_000, 2e6)))
    block = BlockContext(1, 10, 0, 20 * 10**9, 0, {USDC: 2_000 * 10**6})
    found = CompoundV3Liquidation(COMET, _config()).evaluate([user], StateView(entries), block)
    optimum = _exhaustive(entries, user, block.gas_price, 2_000 * 10**6)
    if optimum <= 0:
        assert found == []
        return
    (best,) = found
    assert best.net >= optimum * 99 // 100, (best.net, optimum)
    assert best.collateral == comet.quote_collateral(
        _market().asset_info(best.asset), best.base_amount, _market(),
        entries[("comet_prices", COMET)],
    )  # fmt: skip


def test_healthy_or_full_reserves_give_nothing() -> None:
    rng = random.Random(5)
    entries, user = _state(rng, 0.9, 2e6)
    block = BlockContext(1, 10, 0, 10**9, 0, {USDC: 2_000 * 10**6})
    strategy = CompoundV3Liquidation(COMET, _config())
    assert strategy.evaluate([user], StateView(entries), block) == []
    entries, user = _state(rng, 1.15, 2e6)
    assert strategy.evaluate([user], StateView(entries), block) != []
    entries[("comet_reserves", COMET)] = (6 * 10**12, 5 * 10**12)
    assert strategy.evaluate([user], StateView(entries), block) == []
