"""uniswap_v3_fast (the C path) equals uniswap_v3 (the readable model) value for value.

Random pools from tick-spacing 1 to 200 at prices across the whole range, nested and
crossing positions, zero-liquidity gaps, both directions, exact input and output from 1 wei
to past int256, price limits anywhere: the fast path returns what the readable model returns
or raises what it raises (type and message). Pinned edge cases follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols import _fastmath
from tallyio.protocols import uniswap_v3_fast as fast
from tallyio.protocols.uniswap_v2 import InsufficientLiquidity
from tallyio.protocols.uniswap_v3 import SwapResult, V3Pool, default_price_limit, swap
from tallyio.protocols.uniswap_v3_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    get_sqrt_ratio_at_tick,
)

A, B = "0x" + "aa" * 20, "0x" + "bb" * 20
FEES = {1: 100, 10: 500, 60: 3000, 200: 10000}


def outcome(fn: Any, *args: Any) -> Any:
    """The value, or the exception's type and message."""
    try:
        return fn(*args)
    except Exception as e:
        return type(e), str(e)


class Fallback(Exception):
    """The C path handed the call to the readable model."""


def _fallback(*args: Any, **kwargs: Any) -> Any:
    raise Fallback


@contextmanager
def native_only() -> Iterator[None]:
    """While inside, a call the C path does not finish raises Fallback."""
    _fastmath._register_v3(_fallback, _fallback, _fallback, SwapResult)
    try:
        yield
    finally:
        _fastmath._register_v3(swap, V3Pool.amount_out, V3Pool.amount_in, SwapResult)


def same(fast_fn: Any, readable_fn: Any, *args: Any, strict: bool = True) -> Any:
    """Equal outcomes; and, strict, every value the readable model returns C computed on its
    own (it hands over only what the readable model raises on)."""
    got, want = outcome(fast_fn, *args), outcome(readable_fn, *args)
    assert got == want, args
    if not strict:
        return want
    with native_only():
        native = outcome(fast_fn, *args)
    raised = isinstance(want, tuple) and isinstance(want[0], type)
    assert native == ((Fallback, "") if raised else want), args
    return want


@st.composite
def pools(draw: st.DrawFn) -> V3Pool:
    spacing = draw(st.sampled_from(sorted(FEES)))
    fee = draw(st.sampled_from([FEES[spacing], draw(st.integers(1, 999_999))]))
    edge = draw(st.sampled_from(["middle", "low", "high"]))
    span = {"middle": (-200_000, 200_000), "low": (MIN_TICK, MIN_TICK + 3000),
            "high": (MAX_TICK - 3000, MAX_TICK - 1)}[edge]  # fmt: skip
    tick = draw(st.integers(*span))
    price = draw(st.integers(get_sqrt_ratio_at_tick(tick), get_sqrt_ratio_at_tick(tick + 1) - 1))
    lo, hi = -(MAX_TICK // spacing) * spacing, (MAX_TICK // spacing) * spacing
    ranges = []
    if draw(st.booleans()):
        ranges.append((lo, hi, draw(st.integers(1, 2**100))))
    for _ in range(draw(st.integers(0, 8))):
        a = (tick // spacing + draw(st.integers(-600, 600))) * spacing
        b = a + draw(st.integers(1, 600)) * spacing
        a, b = max(a, lo), min(b, hi)
        if a < b:
            ranges.append((a, b, draw(st.sampled_from([1, 10**6, 10**18, 2**100, 2**120]))))
    ticks: dict[int, int] = {}
    for a, b, liq in ranges:
        ticks[a] = ticks.get(a, 0) + liq
        ticks[b] = ticks.get(b, 0) - liq
    ticks = {t: n for t, n in ticks.items() if n}
    # active liquidity: the ranges holding the current tick (as the pool would track it)
    active = sum(liq for a, b, liq in ranges if a <= tick < b)
    return V3Pool("0xpool", A, B, fee, spacing, price, tick, active, ticks)


amounts = st.one_of(
    st.integers(1, 10**6),
    st.integers(1, 10**30),
    st.integers(1, 2**255 - 1),
    st.sampled_from([2**255 - 1, 2**255, 2**256, 2**160, 2**128 - 1]),
)


@settings(max_examples=1_200, deadline=None)
@given(pools(), st.booleans(), amounts, st.booleans(), st.integers(0, 2**20))
def test_swap_equals_the_readable_model(
    pool: V3Pool, zero_for_one: bool, amount: int, exact_in: bool, limit_pick: int
) -> None:
    specified = amount if exact_in else -amount
    limits = [default_price_limit(zero_for_one)]
    if zero_for_one:
        limits.append(
            MIN_SQRT_RATIO + 1 + (pool.sqrt_price_x96 - MIN_SQRT_RATIO) * limit_pick // 2**20
        )
    else:
        limits.append(
            pool.sqrt_price_x96 + (MAX_SQRT_RATIO - pool.sqrt_price_x96) * limit_pick // 2**20
        )
    for limit in limits:
        same(fast.swap, swap, pool, zero_for_one, specified, limit)


@settings(max_examples=800, deadline=None)
@given(pools(), st.booleans(), amounts)
def test_quotes_equal_the_readable_model(pool: V3Pool, zero_for_one: bool, amount: int) -> None:
    token_in = A if zero_for_one else B
    same(fast.amount_out, V3Pool.amount_out, pool, token_in, amount)
    same(fast.amount_in, V3Pool.amount_in, pool, token_in, amount)


def test_edges_and_reverts_are_the_readable_ones() -> None:
    full = {-887270: 10**18, 887270: -(10**18)}
    mid = V3Pool("0xp", A, B, 3000, 10, get_sqrt_ratio_at_tick(0), 0, 10**18, full)
    empty = V3Pool("0xp", A, B, 3000, 10, get_sqrt_ratio_at_tick(0), 0, 0, {})
    bottom = V3Pool("0xp", A, B, 500, 1, MIN_SQRT_RATIO, MIN_TICK, 0, {})
    top = V3Pool("0xp", A, B, 500, 1, MAX_SQRT_RATIO - 1, MAX_TICK - 1, 0, {})
    for pool in (mid, empty, bottom, top):
        for token in (A, B, A.upper().replace("0X", "0x"), "0xnot"):
            exact = token in (A, B)  # another spelling: the readable model matches it
            for amount in (0, -1, 1, 10**18, 2**255, 2**300):
                same(fast.amount_out, V3Pool.amount_out, pool, token, amount, strict=exact)
                same(fast.amount_in, V3Pool.amount_in, pool, token, amount, strict=exact)
        for zfo in (True, False):
            for limit in (0, MIN_SQRT_RATIO, MIN_SQRT_RATIO + 1, MAX_SQRT_RATIO - 1, MAX_SQRT_RATIO,
                          pool.sqrt_price_x96, -5, 2**300):  # fmt: skip
                for amount in (0, 1, -1, 2**255 - 1, -(2**255) + 1, 2**255, -(2**255)):
                    same(fast.swap, swap, pool, zfo, amount, limit)
    with pytest.raises(InsufficientLiquidity):
        fast.amount_out(empty, A, 10**18)


def test_keywords_and_stale_cache_go_to_the_readable_model() -> None:
    pool = V3Pool("0xp", A, B, 3000, 60, get_sqrt_ratio_at_tick(0), 0, 10**18,
                  {-887220: 10**18, 887220: -(10**18)})  # fmt: skip
    assert fast.swap(pool, True, 10**15, sqrt_price_limit_x96=MIN_SQRT_RATIO + 1) == swap(
        pool, True, 10**15, MIN_SQRT_RATIO + 1
    )
    assert fast.amount_out(pool, A, amount_in=10**15) == pool.amount_out(A, 10**15)
    moved = pool.with_state(get_sqrt_ratio_at_tick(-100), -100, 10**18)
    fast.clear_cache()
    for p in (pool, moved, pool, moved):  # a new value is a new pack
        assert fast.amount_out(p, A, 10**15) == p.amount_out(A, 10**15)
