"""aave_v3_fast (the C path) equals aave_v3.calculate_user_account_data value for value.

Random markets (decimals 0-77, prices, risk parameters, indexes and rates up to 2**256) and
random accounts (collateral, variable and stable debt, e-mode) at random times, before and
after the reserves' updates: the fast path returns the readable model's AccountData or raises
what it raises; where the readable model answers, C answered on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.protocols import _fastmath
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import aave_v3_fast as fast

T0 = 1_700_000_000
ASSETS = ("0xWETH", "0xWBTC", "0xUSDC", "0xDAI")
RAY = 10**27


class Fallback(Exception):
    """The C path handed the call to the readable model."""


def _fallback(*args: Any, **kwargs: Any) -> Any:
    raise Fallback


@contextmanager
def native_only() -> Iterator[None]:
    _fastmath._register_aave(_fallback, aave.AccountData)
    try:
        yield
    finally:
        _fastmath._register_aave(aave.calculate_user_account_data, aave.AccountData)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:
        return type(e), str(e)


def same(*args: Any, strict: bool = True) -> Any:
    """Equal outcomes; strict, C also computed every value the readable model returns."""
    want = outcome(aave.calculate_user_account_data, *args)
    assert outcome(fast.calculate_user_account_data, *args) == want, args
    if not strict:
        return want
    with native_only():
        native = outcome(fast.calculate_user_account_data, *args)
    raised = isinstance(want, tuple)
    assert native == ((Fallback, "") if raised else want), args
    return want


def wild(typical: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    """Mostly realistic values, sometimes anything up to past uint256."""
    return st.one_of(typical, typical, typical, st.integers(0, 2**257))


def tame(typical: st.SearchStrategy[int]) -> st.SearchStrategy[int]:
    return typical


@st.composite
def reserves(draw: st.DrawFn, big: Any = tame) -> dict[str, aave.ReserveData]:
    out = {}
    decimals = st.integers(0, 80) if big is wild else st.integers(0, 30)
    for i, asset in enumerate(ASSETS):
        out[asset] = aave.ReserveData(
            asset=asset, id=i,
            decimals=draw(st.one_of(st.sampled_from([6, 8, 18]), decimals)),
            price=draw(big(st.integers(0, 10**14))),
            ltv=draw(st.sampled_from([0, 7000, 8000, draw(st.integers(0, 10**4))])),
            liquidation_threshold=draw(st.sampled_from([0, 8250, draw(st.integers(0, 10**4))])),
            liquidation_bonus=10500, liquidation_protocol_fee=1000,
            emode_category=draw(st.integers(0, 2)),
            liquidity_index=draw(big(st.integers(RAY, 2 * RAY))),
            current_liquidity_rate=draw(big(st.integers(0, RAY))),
            variable_borrow_index=draw(big(st.integers(RAY, 2 * RAY))),
            current_variable_borrow_rate=draw(big(st.integers(0, 3 * RAY))),
            last_update_timestamp=T0 + draw(st.integers(-1000, 1000)),
        )  # fmt: skip
    return out


@st.composite
def accounts(draw: st.DrawFn, big: Any = tame) -> aave.UserAccount:
    positions = []
    for asset in draw(st.lists(st.sampled_from(ASSETS), max_size=5)):  # repeats are allowed
        positions.append(
            aave.UserReserve(
                asset,
                scaled_a_token_balance=draw(big(st.integers(0, 10**30))),
                scaled_variable_debt=draw(big(st.integers(0, 10**30))),
                stable_debt_principal=draw(st.sampled_from([0, draw(big(st.integers(0, 10**30)))])),
                stable_rate=draw(big(st.integers(0, RAY))),
                stable_last_updated=T0 + draw(st.integers(-(10**6), 1000)),
                using_as_collateral=draw(st.booleans()),
                borrowing=draw(st.booleans()),
            )
        )
    return aave.UserAccount(tuple(positions), draw(st.sampled_from([0, 0, 1, 2])))


emodes = st.one_of(
    st.none(),
    st.builds(
        aave.EModeCategory,
        id=st.integers(0, 2),
        ltv=st.integers(0, 10**4),
        liquidation_threshold=st.integers(0, 10**4),
        liquidation_bonus=st.just(10100),
        price_source=st.just(aave.ZERO_ADDRESS),
        price=st.sampled_from([0, 10**8]),
    ),
)
times = st.one_of(st.integers(T0 - 2000, T0 + 10**8), st.just(T0))


@settings(max_examples=1_500, deadline=None)
@given(reserves(), accounts(), times, emodes)
def test_account_data_equals_the_readable_model(
    market: dict[str, aave.ReserveData],
    account: aave.UserAccount,
    ts: int,
    emode: aave.EModeCategory | None,
) -> None:
    """Realistic ranges: C answers everything the readable model answers."""
    same(market, account, ts, emode)


@settings(max_examples=800, deadline=None)
@given(reserves(wild), accounts(wild), st.one_of(times, st.integers(0, 2**70)), emodes)
def test_account_data_equals_it_past_uint256_too(
    market: dict[str, aave.ReserveData],
    account: aave.UserAccount,
    ts: int,
    emode: aave.EModeCategory | None,
) -> None:
    """Values past 256 bits, decimals past 77, times past int64: the same outcome, whichever
    side computes it (the readable model's ints do not wrap where C would)."""
    same(market, account, ts, emode, strict=False)
    if emode is None:
        same(market, account, ts, strict=False)


def test_missing_reserves_keywords_and_other_mappings() -> None:
    weth = aave.ReserveData("0xWETH", 0, 18, 2000 * 10**8, 8000, 8250, 10500, 1000, 0,
                            RAY, 10**25, RAY, 5 * 10**25, T0)  # fmt: skip
    account = aave.UserAccount(
        (
            aave.UserReserve("0xWETH", 10**19, using_as_collateral=True),
            aave.UserReserve("0xUSDC", scaled_variable_debt=10**9, borrowing=True),
        )
    )
    same({"0xWETH": weth}, account, T0 + 60)  # KeyError, as the readable model raises it
    usdc = aave.ReserveData("0xUSDC", 1, 6, 10**8, 7700, 8000, 10450, 1000, 0,
                            RAY, 0, RAY, 0, T0)  # fmt: skip
    market = {"0xWETH": weth, "0xUSDC": usdc}
    want = same(market, account, T0 + 60)
    assert want.health_factor < 2**256 - 1
    assert fast.calculate_user_account_data(market, account, timestamp=T0 + 60) == want

    class Reserves(dict[str, aave.ReserveData]):
        pass

    assert fast.calculate_user_account_data(Reserves(market), account, T0 + 60) == want
    emode_account = aave.UserAccount(account.positions, 1)
    same(market, emode_account, T0, None)  # in e-mode 1 without its category: ValueError
    same(market, emode_account, T0, aave.EModeCategory(2, 9000, 9300, 10100))


def test_a_reserves_dict_changed_in_place_is_read_again() -> None:
    """C keeps an account's reserve packs while the dict is unchanged (by its version tag):
    a reserve replaced, removed or added back in the same dict is seen on the next call."""
    weth = aave.ReserveData("0xWETH", 0, 18, 2000 * 10**8, 8000, 8250, 10500, 1000, 0,
                            RAY, 10**25, RAY, 5 * 10**25, T0)  # fmt: skip
    usdc = aave.ReserveData("0xUSDC", 1, 6, 10**8, 7700, 8000, 10450, 1000, 0,
                            RAY + 10**24, 3 * 10**25, RAY + 10**24, 6 * 10**25, T0)  # fmt: skip
    account = aave.UserAccount(
        (
            aave.UserReserve("0xWETH", 10**19, using_as_collateral=True),
            aave.UserReserve("0xUSDC", scaled_variable_debt=10**10, borrowing=True),
        )
    )
    market = {"0xWETH": weth, "0xUSDC": usdc}
    first = same(market, account, T0 + 60)
    market["0xWETH"] = replace(weth, price=1500 * 10**8)
    second = same(market, account, T0 + 60)
    assert second != first
    del market["0xUSDC"]
    same(market, account, T0 + 60)  # KeyError
    market["0xUSDC"] = usdc
    assert same(market, account, T0 + 60) == second
    assert same(dict(market, **{"0xWETH": weth}), account, T0 + 60) == first


def test_the_native_last_steps_at_their_64_bit_edges() -> None:
    """C ends on native integers while the sums fit 64 bits (and the u256 path past them):
    collateral, debt and health factor either side of 2**64 give the readable model's values."""
    asset = aave.ReserveData("0xX", 0, 0, 1, 8000, 8250, 10500, 1000, 0,
                             RAY, 0, RAY, 0, T0)  # fmt: skip
    market = {"0xX": asset}
    for collateral in (2**64 - 1, 2**64, 2**60):
        for debt in (1, 7, 2**40, 2**63, 2**64 - 1, 2**64):
            account = aave.UserAccount(
                (
                    aave.UserReserve(
                        "0xX",
                        scaled_a_token_balance=collateral,
                        scaled_variable_debt=debt,
                        using_as_collateral=True,
                        borrowing=True,
                    ),
                )
            )
            same(market, account, T0)
