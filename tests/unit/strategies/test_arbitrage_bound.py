"""Best-first sizing with a bound (ArbitrageStrategy.evaluate): the vector estimate equals the
per-cycle one, stopping at the bound loses nothing against sizing every screened cycle, and
`first` (the engine's path) leads with the same best and returns no two sharing a pool."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from tallyio.core.opportunity import BlockContext
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.pools import balancer_vault_key, pool_key
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy

WETH, USDC, DAI, LINK = ("0x" + c * 40 for c in "1234")
VAULT, AAVE = "0x" + "9" * 40, "0x" + "8" * 40
E18, E6 = 10**18, 10**6
PRICES = {WETH: E18, USDC: 2_000 * E6, DAI: 2_000 * E18, LINK: 200 * E18}  # units per ETH
PER_ETH = {WETH: 1.0, USDC: 2_000.0 * E6 / E18, DAI: 2_000.0, LINK: 200.0}


def market(seed: int) -> dict[object, object]:
    """V2 pools on every pair (two venues, prices off by up to 3%), a V3 WETH/USDC pool and an
    80/20 WETH/USDC weighted pool."""
    rng = random.Random(seed)
    tokens = [WETH, USDC, DAI, LINK]
    out: dict[object, object] = {balancer_vault_key(VAULT): VAULT}
    n = 0
    for i, t0 in enumerate(tokens):
        for t1 in tokens[i + 1 :]:
            for _ in range(2):
                n += 1
                address = f"0x{n:040x}"
                eth = rng.uniform(50, 500)
                skew = 1 + rng.uniform(-0.03, 0.03)
                r0 = int(eth * PER_ETH[t0] * E18)
                r1 = int(eth * PER_ETH[t1] * E18 * skew)
                out[pool_key(address)] = V2Pool(address, t0, t1, r0, r1)
    tick = -200_311 + rng.randint(-300, 300)
    v3 = "0x" + "a" * 40
    out[pool_key(v3)] = V3Pool(v3, WETH, USDC, 500, 10, get_sqrt_ratio_at_tick(tick), tick,
                               10**15, {})  # fmt: skip
    bal = "0x" + "b" * 40
    out[pool_key(bal)] = WeightedPool(bal + "00" * 12, bal, (WETH, USDC),
                                      (400 * E18, int(200_000 * E6 * rng.uniform(0.97, 1.03))),
                                      (ONE * 8 // 10, ONE * 2 // 10), (ONE, ONE * 10**12),
                                      3 * 10**15)  # fmt: skip
    return out


def strategy(seed: int, **kw: object) -> ArbitrageStrategy:
    base = {"balancer_vault": VAULT, "aave_pool": AAVE, "aave_tokens": frozenset(PRICES),
            "max_hops": 3, "max_candidates": 10_000}  # fmt: skip
    config = ArbitrageConfig(**{**base, **kw})  # type: ignore[arg-type]
    return ArbitrageStrategy.from_entries(config, market(seed))


BLOCK = BlockContext(1, 100, 0, 10 * 10**9, 0, PRICES)


@pytest.mark.parametrize("seed", range(6))
def test_vector_estimate_equals_the_per_cycle_one(seed: int) -> None:
    s = strategy(seed)
    ids = np.arange(len(s.index.cycles))
    got = s.estimates_wei(ids, BLOCK)
    want = [s.estimate_wei(c, BLOCK) for c in s.index.cycles]
    assert len(want) > 20
    assert got.tolist() == pytest.approx(want, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_the_bound_loses_nothing_against_sizing_every_cycle(seed: int) -> None:
    pools = list(strategy(seed).graph.pools)
    every = strategy(seed, bound_margin=math.inf, max_opportunities=3).evaluate(pools, BLOCK)
    bounded = strategy(seed, max_opportunities=3).evaluate(pools, BLOCK)
    assert every, "the market's skews leave something to take"
    assert [o.detail["net_wei"] for o in bounded] == [o.detail["net_wei"] for o in every]
    first = strategy(seed).evaluate(pools, BLOCK, first=True)
    assert first[0].detail["net_wei"] == every[0].detail["net_wei"]
    used: set[str] = set()
    for o in first:  # no two share a pool: each would be simulated behind the better one
        assert used.isdisjoint(o.detail["pools"])
        used.update(o.detail["pools"])
