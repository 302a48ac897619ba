"""Lending handlers on synthetic logs: exact scaled balances, flags, Venus membership, reorg."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tallyio.core.events import Block, Log, Reorg
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import lending_events as ev
from tallyio.protocols import venus
from tallyio.protocols.aave_v3_math import ray_div, ray_mul
from tallyio.protocols.events import EventDecodeError
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusMarket,
    VenusMarketRef,
    VenusRef,
    account_key,
    lending_handlers,
    reserve_key,
)
from tallyio.state.prices import CLOCK_KEY, PriceTarget, clock_log, price_key
from tallyio.state.store import MarketState, StateInvariantError

POOL, ASSET, A, V, S = (f"0x{i:040x}" for i in (1, 2, 3, 4, 5))
COMP, VT, FEED = (f"0x{i:040x}" for i in (6, 7, 8))
USER, OTHER = f"0x{0xAA:040x}", f"0x{0xBB:040x}"
RAY = 10**27
INDEX = RAY + 123_456_789_012_345_678_901_234


def _t(addr: str) -> str:
    return "0x" + addr[2:].rjust(64, "0")


def _d(*words: int) -> str:
    return "0x" + "".join(f"{w:064x}" for w in words)


def log(address: str, topics: tuple[str, ...], data: str, block: int = 11) -> Log:
    return Log(1, block, f"0x{block:064x}", "0xtx", 0, address, topics, data)


def state() -> MarketState:
    aref = AaveMarketRef(POOL, (AaveReserveRef(ASSET, A, V, S),))
    vref = VenusRef(COMP, (VenusMarketRef(VT, ASSET, 18, 2 * 10**26),))
    model = venus.JumpRateModel(10**9, 10**10, 10**11, 8 * 10**17)
    market = venus.MarketState(10**24, 0, 0, 0, 10**18, 10, 10**17, 2 * 10**26, model)
    reserve = aave.ReserveData(ASSET, 0, 18, 0, 8000, 8500, 10500, 1000, 0, RAY, 0, RAY, 0, 1)
    entries: dict[Any, Any] = {
        reserve_key("aave_v3", POOL, ASSET): reserve,
        reserve_key("venus", COMP, VT): VenusMarket(
            VT, market, 6 * 10**17, 7 * 10**17, 11 * 10**17
        ),
    }
    targets = [PriceTarget(FEED, "aave_v3", POOL, ASSET), PriceTarget(FEED, "venus", COMP, VT)]
    s = MarketState(entries, lending_handlers([aref], [vref], targets), block=10)
    s.apply(Block(1, 11, "0x" + "11" * 32, "", 1_000, None))
    s.apply(clock_log(Block(1, 11, "0x" + "11" * 32, "", 1_000, None)))
    return s


def aave_pos(s: MarketState, who: str = USER) -> aave.UserReserve:
    account = s.get(account_key("aave_v3", POOL, who))
    return next(p for p in account.positions if p.asset == ASSET)


def test_atoken_mint_burn_and_burn_as_mint_are_exact() -> None:
    s = state()
    amount = 10**18 + 7
    s.apply(log(A, (ev.SCALED_MINT, _t(POOL), _t(USER)), _d(amount, 0, INDEX)))
    assert aave_pos(s).scaled_a_token_balance == ray_div(amount, INDEX)
    before = aave_pos(s).scaled_a_token_balance
    # _burnScaled with interest (5) above the burn (3): a Mint of value 2
    s.apply(log(A, (ev.SCALED_MINT, _t(USER), _t(USER)), _d(2, 5, INDEX)))
    assert aave_pos(s).scaled_a_token_balance == before - ray_div(3, INDEX)
    s.apply(log(A, (ev.SCALED_BURN, _t(USER), _t(USER)), _d(10**17, 1, INDEX)))
    assert aave_pos(s).scaled_a_token_balance == before - ray_div(3, INDEX) - ray_div(
        10**17 + 1, INDEX)  # fmt: skip


def test_variable_debt_sets_and_clears_the_borrowing_bit() -> None:
    s = state()
    s.apply(log(V, (ev.SCALED_MINT, _t(USER), _t(USER)), _d(5 * 10**18, 0, INDEX)))
    pos = aave_pos(s)
    assert pos.borrowing and pos.scaled_variable_debt == ray_div(5 * 10**18, INDEX)
    whole = ray_mul(pos.scaled_variable_debt, INDEX)
    s.apply(log(V, (ev.SCALED_BURN, _t(USER), _t(ev.address_of(0))), _d(whole, 0, INDEX)))
    assert s.get(account_key("aave_v3", POOL, USER)) == aave.UserAccount((), 0)


def test_collateral_emode_and_balance_transfer() -> None:
    s = state()
    s.apply(log(A, (ev.SCALED_MINT, _t(POOL), _t(USER)), _d(10**18, 0, RAY)))
    s.apply(log(POOL, (ev.COLLATERAL_ENABLED, _t(ASSET), _t(USER)), _d()))
    s.apply(log(POOL, (ev.USER_EMODE_SET, _t(USER)), _d(1)))
    s.apply(log(A, (ev.BALANCE_TRANSFER, _t(USER), _t(OTHER)), _d(4 * 10**17, RAY)))
    assert aave_pos(s).using_as_collateral
    assert aave_pos(s).scaled_a_token_balance == 6 * 10**17
    assert aave_pos(s, OTHER).scaled_a_token_balance == 4 * 10**17
    assert s.get(account_key("aave_v3", POOL, USER)).emode_category == 1


def test_reserve_update_takes_the_block_time_and_prices_follow_feeds() -> None:
    s = state()
    s.apply(log(POOL, (ev.RESERVE_DATA_UPDATED, _t(ASSET)), _d(1, 2, 3, INDEX, INDEX + 1)))
    r = s.get(reserve_key("aave_v3", POOL, ASSET))
    assert (r.liquidity_index, r.variable_borrow_index, r.last_update_timestamp) == (
        INDEX, INDEX + 1, 1_000)  # fmt: skip
    s.apply(log(FEED, (ev.ANSWER_UPDATED, _d(2_000 * 10**8), _d(5)), _d(1_000)))
    assert s.get(price_key("aave_v3", POOL, ASSET)) == 2_000 * 10**8
    assert s.get(price_key("venus", COMP, VT)) == 2_000 * 10**18


def test_venus_flows_membership_and_accrual() -> None:
    s = state()
    enter = log(COMP, (ev.MARKET_ENTERED, _t(VT), _t(USER)), _d())
    s.apply(enter)
    s.apply(log(VT, (ev.V_MINT,), _d(int(USER, 16), 10**18, 5 * 10**9, 5 * 10**9)))
    s.apply(log(VT, (ev.TRANSFER, _t(VT), _t(USER)), _d(5 * 10**9)))
    s.apply(log(VT, (ev.V_BORROW,), _d(int(USER, 16), 10**17, 10**17, 10**17)))
    account = s.get(account_key("venus", COMP, USER))
    assert account.assets_in == (VT.lower(),)
    assert account.positions[0].vtoken_balance == 5 * 10**9
    assert account.positions[0].borrow_principal == 10**17
    market = s.get(reserve_key("venus", COMP, VT)).state
    assert (market.cash, market.total_supply, market.total_borrows) == (
        10**24 + 10**18 - 10**17, 5 * 10**9, 10**17)  # fmt: skip
    accrued = venus.accrue_interest(market, 12)
    s.apply(log(VT, (ev.V_ACCRUE_INTEREST,),
                _d(market.cash, accrued.total_borrows - 10**17, accrued.borrow_index,
                   accrued.total_borrows), block=12))  # fmt: skip
    assert s.get(reserve_key("venus", COMP, VT)).state == replace(accrued)
    bad = _d(market.cash, 0, accrued.borrow_index + 1, accrued.total_borrows)
    with pytest.raises(StateInvariantError):
        s.apply(log(VT, (ev.V_ACCRUE_INTEREST,), bad, block=13))


def test_reorg_rewinds_positions_and_clock() -> None:
    s = state()
    s.apply(log(A, (ev.SCALED_MINT, _t(POOL), _t(USER)), _d(10**18, 0, RAY)))
    s.apply(Block(1, 12, "0x" + "12" * 32, "", 1_012, None))
    s.apply(clock_log(Block(1, 12, "0x" + "12" * 32, "", 1_012, None)))
    s.apply(log(A, (ev.SCALED_MINT, _t(POOL), _t(USER)), _d(10**18, 0, RAY), block=12))
    assert aave_pos(s).scaled_a_token_balance == 2 * 10**18
    s.apply(Reorg(1, 11, ("0x" + "12" * 32,)))
    assert aave_pos(s).scaled_a_token_balance == 10**18
    assert s.get(CLOCK_KEY) == (11, 1_000)


def test_logs_of_the_wrong_shape_raise() -> None:
    s = state()
    with pytest.raises(EventDecodeError):
        s.apply(log(A, (ev.SCALED_MINT, _t(POOL)), _d(1, 0, RAY)))
    with pytest.raises(StateInvariantError):
        s.apply(log(POOL, (ev.RESERVE_DATA_UPDATED, _t(ASSET)), _d(1, 2, 3, 4, 5), block=20))
