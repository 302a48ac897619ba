"""hop_quote: a pool's quote with its side found once equals amount_out for every amount, pool
kind and direction, None (a revert) included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.curve import StablePool
from tallyio.protocols.uniswap_v2 import MAX_UINT112, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.routes import amount_out, hop_quote

A, B, C, D = ("0x" + c * 40 for c in "1234")
E18 = 10**18

amounts = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.integers(min_value=1, max_value=10**30),
    st.integers(min_value=MAX_UINT112 - 10**6, max_value=2**130),
)


def _v2(r0: int, r1: int, fee: int) -> V2Pool:
    return V2Pool("0x" + "aa" * 20, A, B, r0, r1, fee)


def _v3(tick: int, liquidity: int) -> V3Pool:
    ticks = {-600: liquidity, 600: -liquidity} if liquidity else {}
    return V3Pool("0x" + "bb" * 20, A, B, 3_000, 60, get_sqrt_ratio_at_tick(tick), tick,
                  liquidity, ticks)  # fmt: skip


def _balancer(b0: int, b1: int, b2: int) -> WeightedPool:
    return WeightedPool("0x" + "cc" * 32, "0x" + "cc" * 20, (A, B, C), (b0, b1, b2),
                        (ONE // 2, ONE // 4, ONE // 4), (ONE,) * 3, 3 * 10**15)  # fmt: skip


def _same(pool: object, token_in: str, token_out: str, amount: int) -> None:
    fast = hop_quote(pool, token_in, token_out)  # type: ignore[arg-type]
    assert fast(amount) == amount_out(pool, token_in, token_out, amount)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    r0=st.integers(min_value=0, max_value=MAX_UINT112),
    r1=st.integers(min_value=0, max_value=MAX_UINT112),
    fee=st.sampled_from([0, 25, 30, 100]),
    amount=amounts,
    pair=st.sampled_from([(A, B), (B, A), (A, A), (A, C), (C, D), (A.upper(), B)]),
)
def test_v2(r0: int, r1: int, fee: int, amount: int, pair: tuple[str, str]) -> None:
    _same(_v2(r0, r1, fee), *pair, amount)


@settings(max_examples=200, deadline=None)
@given(
    tick=st.integers(min_value=-500, max_value=500),
    liquidity=st.integers(min_value=0, max_value=10**24),
    amount=amounts,
    pair=st.sampled_from([(A, B), (B, A), (B, B), (A, D)]),
)
def test_v3(tick: int, liquidity: int, amount: int, pair: tuple[str, str]) -> None:
    _same(_v3(tick, liquidity), *pair, amount)


@settings(max_examples=200, deadline=None)
@given(
    balances=st.tuples(*[st.integers(min_value=1, max_value=10**30)] * 3),
    amount=amounts,
    pair=st.sampled_from([(A, B), (B, C), (C, A), (A, A), (A, D)]),
)
def test_balancer(balances: tuple[int, int, int], amount: int, pair: tuple[str, str]) -> None:
    _same(_balancer(*balances), *pair, amount)


def test_other_kinds_go_through_amount_out() -> None:
    curve = StablePool("0x" + "dd" * 20, (A, B), (1_000 * E18, 1_000 * E18), (E18, E18),
                       200, 4 * 10**6)  # fmt: skip
    for amount in (-1, 0, 1, 10**18, 10**40):
        _same(curve, A, B, amount)
        _same(curve, A, A, amount)


def test_path_quote_chains_the_hops_and_refuses_a_pool_twice() -> None:
    from tallyio.state.pools import pool_key
    from tallyio.state.routes import Hop, path_quote
    from tallyio.state.store import StateView

    ab, bc = _v2(10**21, 2 * 10**21, 30), V2Pool("0x" + "ee" * 20, B, C, 10**21, 10**21, 30)
    view = StateView({pool_key(ab.address): ab, pool_key(bc.address): bc})
    first = Hop(ab.address, A.lower(), B.lower(), "uniswap_v2", 30)
    second = Hop(bc.address, B.lower(), C.lower(), "uniswap_v2", 30)
    quote = path_quote(view, (first, second))
    for amount in (0, 1, 10**18, 10**24):
        one = amount_out(ab, A, B, amount)
        assert quote(amount) == (amount_out(bc, B, C, one) if one else None)
    back = Hop(ab.address, B.lower(), A.lower(), "uniswap_v2", 30)
    assert path_quote(view, (first, back))(10**18) is None  # one pool twice
    gone = Hop("0x" + "ff" * 20, A.lower(), B.lower(), "uniswap_v2", 30)
    assert path_quote(view, (gone,))(10**18) is None  # not a pool in this state
