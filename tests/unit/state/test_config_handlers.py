"""Configuration handlers on synthetic logs: only the market's own configurator, oracle and
comptroller (core pool) count; a re-pointed asset follows its new feed; a price the state
cannot know is a broken invariant, not a guess. (The devnet test drives the real contracts.)"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi import encode

from tallyio.core.events import Block, Log, Reorg
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import config_events as cev
from tallyio.protocols import venus
from tallyio.protocols.events import EventDecodeError, topic0
from tallyio.protocols.lending_events import ANSWER_UPDATED
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusMarket,
    VenusMarketRef,
    VenusRef,
    emode_key,
    lending_handlers,
    reserve_key,
)
from tallyio.state.prices import PriceTarget, clock_log, feed_key, price_key, source_key
from tallyio.state.store import MarketState, StateInvariantError

POOL, ASSET, A, V, S, CFG, ORACLE = (f"0x{i:040x}" for i in range(1, 8))
COMP, VT, FEED, FEED2, STRANGER = (f"0x{i:040x}" for i in range(11, 16))
RAY = 10**27


def _t(value: str | int) -> str:
    return "0x" + (int(value, 16) if isinstance(value, str) else value).to_bytes(32, "big").hex()


def log(address: str, topics: tuple[str, ...], types: list[str], values: list[Any]) -> Log:
    data = "0x" + encode(types, values).hex()
    return Log(1, 11, "0x" + "11" * 32, "0xtx", 0, address, topics, data)


def answer(feed: str, value: int) -> Log:
    return log(feed, (ANSWER_UPDATED, _t(value), _t(1)), ["uint256"], [0])


def state() -> MarketState:
    aref = AaveMarketRef(POOL, (AaveReserveRef(ASSET, A, V, S),), ORACLE, (1,), CFG)
    vref = VenusRef(COMP, (VenusMarketRef(VT, ASSET, 18, 2 * 10**26),))
    model = venus.JumpRateModel(10**9, 10**10, 10**11, 8 * 10**17)
    market = venus.MarketState(10**24, 0, 0, 0, 10**18, 10, 10**17, 2 * 10**26, model)
    reserve = aave.ReserveData(ASSET, 0, 18, 7, 8000, 8500, 10500, 1000, 0, RAY, 0, RAY, 0, 1)
    entries: dict[Any, Any] = {
        reserve_key("aave_v3", POOL, ASSET): reserve,
        reserve_key("venus", COMP, VT): VenusMarket(VT, market, 6 * 10**17, 7 * 10**17, 10**18),
        price_key("aave_v3", POOL, ASSET): 7,
        feed_key(FEED): 7,
    }
    targets = [PriceTarget(FEED, "aave_v3", POOL, ASSET), PriceTarget(FEED, "venus", COMP, VT)]
    s = MarketState(entries, lending_handlers([aref], [vref], targets), block=10)
    block = Block(1, 11, "0x" + "11" * 32, "", 1_000, None)
    s.apply(block)
    s.apply(clock_log(block))
    return s


def reserve(s: MarketState) -> aave.ReserveData:
    return s.get(reserve_key("aave_v3", POOL, ASSET))


def test_reserve_settings_from_the_configurator_only() -> None:
    s, before = state(), reserve(state())
    topics = (cev.COLLATERAL_CONFIGURATION_CHANGED, _t(ASSET))
    args: tuple[list[str], list[Any]] = (["uint256"] * 3, [7_000, 7_500, 10_800])
    assert s.apply(log(STRANGER, topics, *args)) == []  # another market's configurator
    s.apply(log(CFG, topics, *args))
    s.apply(log(CFG, (cev.LIQUIDATION_PROTOCOL_FEE_CHANGED, _t(ASSET)), ["uint256"] * 2,
                [1000, 2500]))  # fmt: skip
    s.apply(log(CFG, (cev.RESERVE_PAUSED, _t(ASSET)), ["bool"], [True]))
    s.apply(log(CFG, (cev.RESERVE_ACTIVE, _t(ASSET)), ["bool"], [False]))
    s.apply(log(CFG, (cev.EMODE_ASSET_CATEGORY_CHANGED, _t(ASSET)), ["uint8"] * 2, [0, 3]))
    got = reserve(s)
    assert (got.ltv, got.liquidation_threshold, got.liquidation_bonus) == (7_000, 7_500, 10_800)
    assert (got.liquidation_protocol_fee, got.paused, got.active) == (2500, True, False)
    assert got.emode_category == 3
    assert (got.liquidity_index, got.price, got.decimals) == (
        before.liquidity_index, before.price, before.decimals)  # fmt: skip
    other = (cev.COLLATERAL_CONFIGURATION_CHANGED, _t(STRANGER))
    assert s.apply(log(CFG, other, *args)) == []  # a reserve this state does not follow


def test_emode_category_added_reads_past_its_label() -> None:
    s = state()
    topics = (cev.EMODE_CATEGORY_ADDED, _t(2))
    types = ["uint256", "uint256", "uint256", "address", "string"]
    s.apply(log(CFG, topics, types, [9_000, 9_300, 10_200, FEED2, "a long label " * 5]))
    assert s.get(emode_key(POOL, 2)) == aave.EModeCategory(2, 9_000, 9_300, 10_200, FEED2, 0)
    with pytest.raises(EventDecodeError):
        s.apply(log(CFG, topics, ["uint256"] * 3, [1, 2, 3]))


def test_a_re_pointed_asset_follows_its_new_feed_only() -> None:
    s = state()
    s.apply(answer(FEED2, 9))  # a feed nothing prices yet: its answer is kept
    assert s.get(price_key("aave_v3", POOL, ASSET)) == 7
    s.apply(log(ORACLE, (cev.ASSET_SOURCE_UPDATED, _t(ASSET), _t(FEED2)), [], []))
    assert s.get(price_key("aave_v3", POOL, ASSET)) == 9
    assert s.get(source_key("aave_v3", POOL, ASSET)) == FEED2
    s.apply(answer(FEED, 5))  # the old feed still prices Venus, no longer Aave
    assert s.get(price_key("aave_v3", POOL, ASSET)) == 9
    assert s.get(price_key("venus", COMP, VT)) == 5 * 10**10
    s.apply(answer(FEED2, 11))
    assert s.get(price_key("aave_v3", POOL, ASSET)) == 11


def test_a_source_with_no_known_answer_is_a_broken_invariant() -> None:
    s = state()
    stranger = log(STRANGER, (cev.ASSET_SOURCE_UPDATED, _t(ASSET), _t(FEED2)), [], [])
    assert s.apply(stranger) == []  # not this market's oracle
    with pytest.raises(StateInvariantError, match="reload"):
        s.apply(log(ORACLE, (cev.ASSET_SOURCE_UPDATED, _t(ASSET), _t(FEED2)), [], []))


def test_venus_setters_change_the_core_pool_only() -> None:
    s = state()
    vt = reserve_key("venus", COMP, VT)
    before = s.get(vt)
    for pool_id, new in ((1, 5 * 10**17), (0, 65 * 10**16)):
        topics = (cev.V_NEW_COLLATERAL_FACTOR, _t(pool_id), _t(VT))
        s.apply(log(COMP, topics, ["uint256"] * 2, [6 * 10**17, new]))
    s.apply(log(COMP, (cev.V_NEW_LIQUIDATION_THRESHOLD, _t(0), _t(VT)), ["uint256"] * 2,
                [7 * 10**17, 72 * 10**16]))  # fmt: skip
    s.apply(log(COMP, (cev.V_NEW_LIQUIDATION_INCENTIVE, _t(0), _t(VT)), ["uint256"] * 2,
                [10**18, 108 * 10**16]))  # fmt: skip
    s.apply(log(COMP, (cev.V_NEW_CLOSE_FACTOR,), ["uint256"] * 2, [5 * 10**17, 6 * 10**17]))
    got = s.get(vt)
    assert (got.collateral_factor, got.liquidation_threshold, got.liquidation_incentive) == (
        65 * 10**16, 72 * 10**16, 108 * 10**16)  # fmt: skip
    assert got.state == before.state
    assert s.get(("close_factor", "venus", COMP)) == 6 * 10**17


def test_venus_treasury_percent_from_the_comptroller_only() -> None:
    """_setTreasuryData's NewTreasuryPercent sets the redeem fee; its guardian and address
    events, and another comptroller's, change nothing."""
    s, key = state(), ("treasury_percent", "venus", COMP)
    other = log(STRANGER, (cev.V_NEW_TREASURY_PERCENT,), ["uint256"] * 2, [0, 10**17])
    assert s.apply(other) == [] and s.get(key) is None
    guardian = log(COMP, (topic0("NewTreasuryGuardian(address,address)"),), ["address"] * 2,
                   [STRANGER, FEED2])  # fmt: skip
    assert s.apply(guardian) == []
    s.apply(log(COMP, (cev.V_NEW_TREASURY_PERCENT,), ["uint256"] * 2, [0, 5 * 10**16]))
    assert s.get(key) == 5 * 10**16
    with pytest.raises(EventDecodeError, match="NewTreasuryPercent"):
        cev.decode_treasury_percent(replace(other, topics=(cev.V_NEW_CLOSE_FACTOR,)))


def test_a_reorg_rewinds_a_configuration_change() -> None:
    s = state()
    before = reserve(s)
    s.apply(Block(1, 12, "0x" + "12" * 32, "0x" + "11" * 32, 1_012, None))
    change = log(CFG, (cev.COLLATERAL_CONFIGURATION_CHANGED, _t(ASSET)), ["uint256"] * 3,
                 [7_000, 7_500, 10_800])  # fmt: skip
    s.apply(replace(change, block_number=12, block_hash="0x" + "12" * 32))
    assert reserve(s).liquidation_threshold == 7_500
    s.apply(Reorg(1, 11, ("0x" + "12" * 32,)))
    assert reserve(s) == before
