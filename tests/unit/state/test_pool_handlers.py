"""Pool events: decoders on bytes encoded by eth_abi, handlers through MarketState.apply."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest
from eth_abi import encode

from tallyio.core.events import Block, Log, Reorg
from tallyio.protocols import events as ev
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.uniswap_v2 import PoolStateError, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.pools import (
    balancer_vault_key,
    liquidity_gross_key,
    modify_position,
    pool_handlers,
    pool_key,
    with_swap_state,
)
from tallyio.state.store import MarketState, StateInvariantError

PAIR = "0x" + "a1" * 20
V3 = "0x" + "b2" * 20
VAULT = "0x" + "c3" * 20
BPOOL = "0x" + "d4" * 20
POOL_ID = BPOOL + "0002" + "00" * 9 + "07"
T0, T1, T2 = ("0x" + c * 40 for c in "123")
SENDER = "0x" + "ee" * 20


# -- encoding real event bytes -------------------------------------------------------------
def word(abi_type: str, value: Any) -> str:
    return "0x" + encode([abi_type], [value]).hex()


def log(
    address: str, topics: list[str], data_types: list[str], values: list[Any], block: int = 11
) -> Log:
    data = "0x" + encode(data_types, values).hex()
    return Log(1, block, f"0xb{block}", "0xt", 0, address, tuple(topics), data)


def sync(r0: int, r1: int, address: str = PAIR, block: int = 11) -> Log:
    return log(address, [ev.V2_SYNC], ["uint112", "uint112"], [r0, r1], block)


def v3_swap(price: int, liquidity: int, tick: int, a0: int = 5, a1: int = -7) -> Log:
    topics = [ev.V3_SWAP, word("address", SENDER), word("address", T2)]
    types = ["int256", "int256", "uint160", "uint128", "int24"]
    return log(V3, topics, types, [a0, a1, price, liquidity, tick])


def v3_mint(lower: int, upper: int, amount: int) -> Log:
    topics = [ev.V3_MINT, word("address", T2), word("int24", lower), word("int24", upper)]
    types = ["address", "uint128", "uint256", "uint256"]
    return log(V3, topics, types, [SENDER, amount, 11, 22])


def v3_burn(lower: int, upper: int, amount: int) -> Log:
    topics = [ev.V3_BURN, word("address", T2), word("int24", lower), word("int24", upper)]
    return log(V3, topics, ["uint128", "uint256", "uint256"], [amount, 3, 4])


def bal_swap(
    token_in: str, token_out: str, amount_in: int, amount_out: int, pool_id: str = POOL_ID
) -> Log:
    topics = [ev.BALANCER_SWAP, pool_id, word("address", token_in), word("address", token_out)]
    return log(VAULT, topics, ["uint256", "uint256"], [amount_in, amount_out])


def balance_changed(tokens: list[str], deltas: list[int], fees: list[int]) -> Log:
    topics = [ev.BALANCER_POOL_BALANCE_CHANGED, POOL_ID, word("address", SENDER)]
    types = ["address[]", "int256[]", "uint256[]"]
    return log(VAULT, topics, types, [tokens, deltas, fees])


# -- state ---------------------------------------------------------------------------------
def v3_pool() -> V3Pool:
    ticks = {-600: 1_000, -60: 500, 60: -500, 600: -1_000}
    return V3Pool(V3, T0, T1, 3000, 60, get_sqrt_ratio_at_tick(0), 0, 1_500, ticks)


def weighted() -> WeightedPool:
    return WeightedPool(
        pool_id=POOL_ID,
        address=BPOOL,
        tokens=(T0, T1, T2),
        balances=(10**21, 2 * 10**12, 5 * 10**20),
        weights=(4 * ONE // 10, 4 * ONE // 10, 2 * ONE // 10),
        scaling_factors=(ONE, 10**30, ONE),
        swap_fee=10**15,
    )


def state() -> MarketState:
    entries: dict[Any, Any] = {
        pool_key(PAIR): V2Pool(PAIR, T0, T1, 10**21, 2 * 10**12),
        pool_key(V3): v3_pool(),
        liquidity_gross_key(V3): MappingProxyType({-600: 1_000, -60: 500, 60: 500, 600: 1_000}),
        pool_key(BPOOL): weighted(),
        balancer_vault_key(VAULT): VAULT,
    }
    return MarketState(entries, pool_handlers(), block=10, block_hash="0xb10")


# -- topics and decoders -------------------------------------------------------------------
def test_topics_are_the_mainnet_ones() -> None:
    assert ev.V2_SYNC == "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
    assert ev.V3_SWAP == "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
    assert ev.V3_MINT == "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde"
    assert ev.V3_BURN == "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c"
    assert ev.BALANCER_SWAP == "0x2170c741c41531aec20e7c107c24eecfdd15e69c9bb0a8dd37b1840b9e0b207b"
    assert (
        ev.BALANCER_POOL_BALANCE_CHANGED
        == "0xe5ce249087ce04f05a957192435400fd97868dba0e6a4b4c049abf8af80dae78"
    )
    assert (
        ev.BALANCER_SWAP_FEE_CHANGED
        == "0xa9ba3ffe0b6c366b81232caab38605a0699ad5398d6cce76f91ee809e322dafc"
    )
    assert len(set(ev.POOL_TOPICS)) == 8


def test_decoders_read_what_eth_abi_wrote() -> None:
    assert ev.decode_v2_sync(sync(2**112 - 1, 0)) == ev.V2Sync(2**112 - 1, 0)
    swap = ev.decode_v3_swap(v3_swap(2**160 - 1, 2**128 - 1, -887272, -(2**255), 2**255 - 1))
    assert swap == ev.V3Swap(SENDER, T2, -(2**255), 2**255 - 1, 2**160 - 1, 2**128 - 1, -887272)
    assert ev.decode_v3_mint(v3_mint(-887220, 887220, 2**128 - 1)) == ev.V3Mint(
        SENDER, T2, -887220, 887220, 2**128 - 1, 11, 22
    )
    assert ev.decode_v3_burn(v3_burn(-60, -1, 0)) == ev.V3Burn(T2, -60, -1, 0, 3, 4)
    assert ev.decode_balancer_swap(bal_swap(T1, T0, 10, 20)) == ev.BalancerSwap(
        POOL_ID, T1, T0, 10, 20
    )
    changed = ev.decode_pool_balance_changed(balance_changed([T0, T1], [-5, 2**200], [1, 0]))
    assert changed == ev.PoolBalanceChanged(POOL_ID, SENDER, (T0, T1), (-5, 2**200), (1, 0))


def _swap_with_tick_word(tick_word: str) -> Log:
    good = v3_swap(1, 1, 0)
    return replace(good, data=good.data[:-64] + tick_word[2:])


@pytest.mark.parametrize(
    ("decoder", "bad"),
    [
        (ev.decode_v2_sync, replace(sync(1, 2), data=sync(1, 2).data + "00")),  # a byte too many
        (ev.decode_v2_sync, replace(sync(1, 2), data=word("uint256", 2**112) + "00" * 32)),
        (ev.decode_v2_sync, replace(sync(1, 2), topics=(ev.V2_SYNC, word("address", SENDER)))),
        (ev.decode_v2_sync, replace(sync(1, 2), topics=(ev.V3_SWAP,))),  # another event
        (ev.decode_v3_swap, _swap_with_tick_word(word("int256", 2**23))),  # not an int24
        (ev.decode_v3_swap, _swap_with_tick_word(word("int256", -(2**23) - 1))),
        (ev.decode_v3_mint, replace(v3_mint(-60, 60, 1), topics=v3_mint(-60, 60, 1).topics[:3])),
        (ev.decode_pool_balance_changed, replace(balance_changed([T0], [1], [0]), data="0x1234")),
    ],
)
def test_malformed_logs_raise(decoder: Any, bad: Log) -> None:
    with pytest.raises(ev.EventDecodeError):
        decoder(bad)


# -- Uniswap V2 ----------------------------------------------------------------------------
def test_sync_sets_reserves_and_a_reorg_restores_them() -> None:
    s = state()
    before = s.get(pool_key(PAIR))
    s.apply(Block(1, 11, "0xb11", "0xb10", 0, None))
    (delta,) = s.apply(sync(7, 9))
    assert delta.after == replace(before, reserve0=7, reserve1=9) == s.get(pool_key(PAIR))
    s.apply(sync(8, 10, block=12))
    assert s.get(pool_key(PAIR)).reserve0 == 8
    s.apply(Reorg(1, 10, ("0xb11", "0xb12")))
    assert s.get(pool_key(PAIR)) == before


def test_logs_from_unknown_emitters_change_nothing() -> None:
    s = state()
    assert s.apply(sync(1, 2, address="0x" + "99" * 20)) == []
    assert s.apply(replace(v3_swap(2**96, 1, 0), address=PAIR)) == []  # a V3 event from a pair
    assert s.apply(replace(bal_swap(T0, T1, 1, 1), address="0x" + "98" * 20)) == []
    other_id = BPOOL + "0002" + "00" * 9 + "08"  # same pool address, another id
    assert s.apply(bal_swap(T0, T1, 1, 1, pool_id=other_id)) == []
    assert s.apply(sync(1, 2, address=PAIR.upper().replace("0X", "0x")))  # any casing matches


# -- Uniswap V3 ----------------------------------------------------------------------------
def test_v3_swap_sets_price_tick_and_liquidity() -> None:
    s = state()
    price = get_sqrt_ratio_at_tick(-70) + 12345
    s.apply(v3_swap(price, 1_000, -70))
    pool = s.get(pool_key(V3))
    assert (pool.sqrt_price_x96, pool.tick, pool.liquidity) == (price, -70, 1_000)
    assert pool.ticks == v3_pool().ticks


def test_swap_state_fast_path_is_with_state() -> None:
    pool = v3_pool()
    price = get_sqrt_ratio_at_tick(61) + 1
    fast = with_swap_state(pool, price, 61, 1_000)
    assert fast == pool.with_state(price, 61, 1_000) and fast is not pool
    assert (fast.initialized, fast.ticks) == (pool.initialized, pool.ticks)
    assert pool.tick == 0  # the old value is untouched
    for bad in ((0, 0, 1), (price, 887_273, 1), (price, 61, 2**128)):
        with pytest.raises(PoolStateError):
            with_swap_state(pool, *bad)


def test_mint_at_new_ticks_initializes_them_and_adds_active_liquidity() -> None:
    s = state()
    s.apply(v3_mint(-120, 0, 300))  # tick 0 is the upper end: not active
    s.apply(v3_mint(0, 180, 200))  # tick 0 is the lower end: active
    pool, gross = s.get(pool_key(V3)), s.get(liquidity_gross_key(V3))
    assert dict(pool.ticks) == {-600: 1_000, -120: 300, -60: 500, 0: -100, 60: -500, 180: -200,
                                600: -1_000}  # fmt: skip
    assert dict(gross) == {-600: 1_000, -120: 300, -60: 500, 0: 500, 60: 500, 180: 200, 600: 1_000}
    assert pool.liquidity == 1_500 + 200
    assert pool.initialized == (-600, -120, -60, 0, 60, 180, 600)


def test_burn_clears_a_tick_only_when_its_gross_reaches_zero() -> None:
    s = state()
    s.apply(v3_mint(-60, 600, 250))  # shares both ends with existing positions
    s.apply(v3_burn(-60, 600, 250))
    assert s.get(pool_key(V3)) == v3_pool()
    s.apply(v3_burn(-60, 60, 500))  # the only position at +-60: both ticks go
    pool = s.get(pool_key(V3))
    assert dict(pool.ticks) == {-600: 1_000, 600: -1_000} and pool.liquidity == 1_000
    assert dict(s.get(liquidity_gross_key(V3))) == {-600: 1_000, 600: 1_000}
    assert s.apply(v3_burn(-600, 600, 0)) == []  # the position manager's poke


def test_out_of_range_positions_leave_the_active_liquidity() -> None:
    gross = {-600: 1_000, -60: 500, 60: 500, 600: 1_000}
    above, after = modify_position(v3_pool(), gross, 60, 120, 5)
    assert above.liquidity == 1_500 and dict(after) == {**gross, 60: 505, 120: 5}
    assert above.ticks[60] == -495 and above.ticks[120] == -5
    below, _ = modify_position(v3_pool(), gross, -120, -60, 5)
    assert below.liquidity == 1_500 and below.ticks[-60] == 495
    with pytest.raises(StateInvariantError):
        modify_position(v3_pool(), {}, 60, 120, 5)  # the ticks and their gross disagree


def test_burning_more_than_a_tick_holds_is_a_broken_invariant() -> None:
    s = state()
    with pytest.raises(StateInvariantError):
        s.apply(v3_burn(-60, 60, 501))
    with pytest.raises(StateInvariantError):
        s.apply(v3_burn(-60, 120, 1))  # 120 was never initialized


def test_mint_then_swap_matches_a_pool_built_with_the_position() -> None:
    s = state()
    s.apply(v3_mint(-180, 120, 10**6))
    ticks = {-600: 1_000, -180: 10**6, -60: 500, 60: -500, 120: -(10**6), 600: -1_000}
    built = V3Pool(V3, T0, T1, 3000, 60, get_sqrt_ratio_at_tick(0), 0, 1_500 + 10**6, ticks)
    assert s.get(pool_key(V3)) == built
    assert s.get(pool_key(V3)).amount_out(T0, 5_000) == built.amount_out(T0, 5_000) > 0


# -- Balancer ------------------------------------------------------------------------------
def test_vault_swap_moves_the_two_balances() -> None:
    s = state()
    s.apply(bal_swap(T2.upper().replace("0X", "0x"), T0, 10**18, 3 * 10**17))
    assert s.get(pool_key(BPOOL)).balances == (10**21 - 3 * 10**17, 2 * 10**12, 5 * 10**20 + 10**18)


def test_joins_and_exits_move_balances_by_delta_less_protocol_fee() -> None:
    s = state()
    s.apply(balance_changed([T0, T1, T2], [10**18, 10**6, 0], [10**15, 0, 7]))
    assert s.get(pool_key(BPOOL)).balances == (
        10**21 + 10**18 - 10**15,
        2 * 10**12 + 10**6,
        5 * 10**20 - 7,
    )
    s.apply(balance_changed([T0, T1, T2], [-(10**18), -(10**6), -1], [0, 0, 0]))
    assert s.get(pool_key(BPOOL)).balances == (10**21 - 10**15, 2 * 10**12, 5 * 10**20 - 8)
    with pytest.raises(StateInvariantError):
        s.apply(balance_changed([T0, T1, T2], [0, -(3 * 10**12), 0], [0, 0, 0]))


def test_the_pool_owner_can_change_the_swap_fee() -> None:
    s = state()
    fee_log = log(BPOOL, [ev.BALANCER_SWAP_FEE_CHANGED], ["uint256"], [25 * 10**14])
    s.apply(fee_log)
    assert s.get(pool_key(BPOOL)) == replace(weighted(), swap_fee=25 * 10**14)
    assert s.apply(replace(fee_log, address=PAIR)) == []  # only a weighted pool has one
