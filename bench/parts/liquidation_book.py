"""Synthetic healthy borrowers for the liquidation benchmark, as exact state entries.

Each one is a realistic position over the devnet's own assets: one collateral asset and a
different debt asset, sized in exact base units from the market's oracle prices and indexes,
at a health factor drawn between `MIN_HF` and `MAX_HF`. A WETH price drop of up to
`1 - SCREEN / MIN_HF` (about 15%) leaves every one above the monitor's float screen, so only
the devnet's real seeded borrowers can become liquidatable; the exact models would still
answer for any one screened, since their entries are ordinary Aave / Venus account values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.state.positions import (
    AaveMarketRef,
    VenusAccount,
    VenusPosition,
    VenusRef,
    aave_inputs,
    account_key,
    reserve_key,
)
from tallyio.state.prices import price_key

MIN_HF = 1.2
MAX_HF = 5.0
RAY = 10**27
Get = Callable[[Any], Any]


def synthetic_address(i: int) -> str:
    return "0x" + "5e" * 4 + f"{i:032x}"


def _usd_and_hf(rng: random.Random) -> tuple[int, float]:
    usd = int(10 ** rng.uniform(3, 6.5))  # 1k to ~3M USD of collateral
    return usd, MIN_HF * (MAX_HF / MIN_HF) ** rng.random()


def aave_borrowers(
    get: Get, ref: AaveMarketRef, start: int, count: int, seed: int
) -> dict[Any, aave.UserAccount]:
    """`count` Aave accounts (no e-mode), collateral worth usd at LT, debt = that / HF."""
    rng = random.Random(seed)
    reserves, _ = aave_inputs(get, ref)
    assets = [r.asset for r in ref.reserves]
    out: dict[Any, aave.UserAccount] = {}
    for i in range(start, start + count):
        coll, debt = rng.sample(assets, 2)
        c, d = reserves[coll], reserves[debt]
        usd, hf = _usd_and_hf(rng)
        coll_units = usd * 10**8 * 10**c.decimals // c.price
        debt_usd = usd * c.liquidation_threshold / 10_000 / hf
        debt_units = int(debt_usd * 10**8) * 10**d.decimals // d.price
        positions = (
            aave.UserReserve(coll, scaled_a_token_balance=coll_units * RAY // c.liquidity_index,
                             using_as_collateral=True),
            aave.UserReserve(debt, scaled_variable_debt=debt_units * RAY // d.variable_borrow_index,
                             borrowing=True),
        )  # fmt: skip
        user = synthetic_address(i)
        account = aave.UserAccount(tuple(sorted(positions, key=lambda p: p.asset)), 0)
        out[account_key("aave_v3", ref.pool, user)] = account
    return out


def venus_borrowers(
    get: Get, ref: VenusRef, start: int, count: int, seed: int
) -> dict[Any, VenusAccount]:
    """`count` Venus accounts with one entered collateral market and one borrow."""
    rng = random.Random(seed)
    markets = {m.vtoken.lower(): get(reserve_key("venus", ref.comptroller, m.vtoken)) for m in
               ref.markets}  # fmt: skip
    prices = {vt: get(price_key("venus", ref.comptroller, vt)) for vt in markets}
    out: dict[Any, VenusAccount] = {}
    for i in range(start, start + count):
        coll, debt = rng.sample(sorted(markets), 2)
        c, d = markets[coll], markets[debt]
        usd, hf = _usd_and_hf(rng)
        underlying = usd * 10**36 // prices[coll]  # price: 1e18-scaled USD per base unit
        vtokens = underlying * 10**18 // venus.exchange_rate_stored(c.state)
        debt_usd = usd * c.liquidation_threshold / 10**18 / hf
        borrowed = int(debt_usd * 10**6) * 10**30 // prices[debt]
        positions = (
            VenusPosition(coll, vtoken_balance=vtokens),
            VenusPosition(debt, borrow_principal=borrowed, interest_index=d.state.borrow_index),
        )
        user = synthetic_address(i)
        account = VenusAccount((coll, debt), tuple(sorted(positions, key=lambda p: p.vtoken)))
        out[account_key("venus", ref.comptroller, user)] = account
    return out


def synthetic_entries(
    get: Get, aave_ref: AaveMarketRef, venus_ref: VenusRef, total: int, seed: int = 5
) -> dict[Any, Any]:
    """`total` borrowers, half on each market, with addresses no real account has."""
    half = total // 2
    return {
        **aave_borrowers(get, aave_ref, 0, half, seed),
        **venus_borrowers(get, venus_ref, half, total - half, seed + 1),
    }
