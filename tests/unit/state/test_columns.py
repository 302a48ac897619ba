"""PoolColumns: float rows beside the exact pools, kept current by MarketState deltas; the
cross-venue screen finds what the exact models confirm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from eth_abi import encode

from tallyio.core.events import Log, Reorg
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.events import V2_SYNC
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.columns import PoolColumns, cross_venue_spreads, pool_rows, venue_pairs
from tallyio.state.pools import pool_handlers, pool_key
from tallyio.state.store import MarketState

WETH, USDC, DAI = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
A, B, C, D = ("0x" + c * 40 for c in "abcd")


def v2(address: str, r0: int, r1: int, fee_bps: int = 30) -> V2Pool:
    return V2Pool(address, WETH, USDC, r0, r1, fee_bps)


def v3_at(tick: int, liquidity: int = 10**18) -> V3Pool:
    return V3Pool(C, WETH, USDC, 500, 10, get_sqrt_ratio_at_tick(tick), tick, liquidity, {})


def weighted(balances: tuple[int, ...], weights_pct: tuple[int, ...]) -> WeightedPool:
    return WeightedPool(
        pool_id=D + "00" * 12,
        address=D,
        tokens=(WETH, USDC, DAI)[: len(balances)],
        balances=balances,
        weights=tuple(w * ONE // 100 for w in weights_pct),
        scaling_factors=(ONE, 10**30, ONE)[: len(balances)],
        swap_fee=3 * 10**15,
    )


def test_rows_hold_reserves_prices_and_fees() -> None:
    (row,) = pool_rows(v2(A, 10**21, 2 * 10**12))
    assert row == (WETH, USDC, 1e21, 2e12, 2e-9, 0.003)
    (row,) = pool_rows(v3_at(-200_000))
    assert row.reserve0 * row.reserve1 == pytest.approx(1e36)  # x * y = L^2
    assert row.price == pytest.approx(row.reserve1 / row.reserve0)
    assert row.price == pytest.approx(1.0001**-200_000) and row.fee == 0.0005


def test_weighted_rows_match_the_exact_spot_price_and_curvature() -> None:
    pool = weighted((4_000 * ONE, 2_000_000 * 10**6), (80, 20))
    (row,) = pool_rows(pool)
    assert row.price == pytest.approx((2e12 / 0.2) / (4e21 / 0.8))
    for fraction in (1e-6, 1e-3, 1e-2):  # a constant-product pool on the row tracks the model
        amount = int(row.reserve0 * fraction)
        exact = pool.amount_out(WETH, USDC, amount)
        approx = row.reserve1 * amount * (1 - row.fee) / (row.reserve0 + amount * (1 - row.fee))
        assert approx == pytest.approx(exact, rel=1e-5 + fraction**2)
    equal = pool_rows(weighted((10**21, 3 * 10**12, 5 * 10**20), (40, 40, 20)))
    assert [(r.token0, r.token1) for r in equal] == [(WETH, USDC), (WETH, DAI), (USDC, DAI)]
    assert (equal[0].reserve0, equal[0].reserve1) == (1e21, 3e12)  # equal weights: balances


def test_columns_follow_market_state_deltas_through_a_reorg() -> None:
    pools: list[V2Pool | V3Pool] = [v2(A, 10**21, 2 * 10**12), v2(B, 10**21, 2 * 10**12)]
    pools.append(v3_at(-200_000))
    state = MarketState({pool_key(p.address): p for p in pools}, pool_handlers(), block=1)
    columns = PoolColumns.from_entries(state.items())
    assert len(columns) == 3 and columns.rows(B.upper().replace("0X", "0x")) == [1]
    data = "0x" + encode(["uint112", "uint112"], [10**21, 3 * 10**12]).hex()
    deltas = state.apply(Log(1, 2, "0xb2", "0xt", 0, B, (V2_SYNC,), data))
    assert columns.apply(deltas) == 1
    assert columns.reserve1[1] == 3e12 and columns.price[1] == pytest.approx(3e-9)
    columns.apply(state.apply(Reorg(1, 1, ("0xb2",))))
    fresh = PoolColumns.from_entries(state.items())
    for name in ("reserve0", "reserve1", "price", "fee"):
        assert np.array_equal(getattr(columns, name), getattr(fresh, name))


def test_screen_finds_spreads_wider_than_both_fees_only() -> None:
    base = 2 * 10**12
    pools: list[V2Pool | V3Pool | WeightedPool] = [
        v2(A, 10**21, base),
        v2(B, 10**21, base * 1006 // 1000),  # 0.6%: less than 0.3% + 0.3% after rounding
        v3_at(round(math.log(2e-9 * 1.01) / math.log(1.0001))),  # ~1% dearer WETH: a candidate
        weighted((10**21, 10**6 * 10**6, 5 * 10**20), (40, 40, 20)),  # a WETH/DAI row too
    ]
    columns = PoolColumns(pools)
    pairs = venue_pairs(columns)
    assert sorted(zip(*(p.tolist() for p in pairs), strict=True)) == [
        (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)
    ]  # fmt: skip
    found = {(c.cheap, c.dear): c for c in cross_venue_spreads(columns, pairs)}
    assert set(found) == {(A, C), (B, C), (D, A), (D, B), (D, C)}  # D sells WETH at 1,000 USDC
    assert found[A, C].edge == pytest.approx(1.01 * 0.997 * 0.9995 - 1, abs=2e-4)
    assert found[D, C].edge > found[A, C].edge > found[B, C].edge > 0
    assert cross_venue_spreads(columns, pairs, min_edge=1.1) == []


def test_screen_candidates_are_confirmed_by_the_exact_models() -> None:
    cheap, dear = v2(A, 10**21, 2 * 10**12), v3_at(round(math.log(2.04e-9) / math.log(1.0001)))
    (candidate,) = cross_venue_spreads(PoolColumns([cheap, dear]))
    assert (candidate.cheap, candidate.dear) == (A, C)
    weth = cheap.amount_out(USDC, 10**9)  # buy WETH for 1,000 USDC where it is cheap ...
    assert dear.amount_out(WETH, weth) > 10**9  # ... and sell it where it is dear: a profit
