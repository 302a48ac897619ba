"""Liquidation sizing against an exhaustive search, on the exact Aave and Venus models.

Random markets (oracle prices, V2 pools dislocated from them at random depths) and random
underwater accounts: the strategy's choice of debt asset, collateral asset and amount must earn
at least 99% of the best over every pair and a fine grid of amounts, computed here
independently (the market's own model, a sale quoted over every one- and two-hop path with
getAmountOut, the flash premium and gas by hand). HF >= 1 gives nothing; so does a liquidation
whose gas exceeds its profit.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from direct_router import direct_router
from tallyio.core.opportunity import BlockContext, Kind
from tallyio.core.plan import AaveLiquidation, FlashSource, UniswapV2Swap
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.protocols.aave_v3_math import RAY, percent_mul
from tallyio.protocols.uniswap_v2 import V2Pool, get_amount_out
from tallyio.state.lending_keys import emode_key
from tallyio.state.pools import pool_key
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusAccount,
    VenusMarket,
    VenusMarketRef,
    VenusPosition,
    VenusRef,
    account_key,
    reserve_key,
)
from tallyio.state.prices import price_key
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation import AaveV3Liquidation, VenusLiquidation
from tallyio.strategies.liquidation_sizing import GasModel, LiquidationConfig

POOL = "0x" + "a0" * 20
COMPTROLLER = "0x" + "c0" * 20
TS, BLOCK = 1_700_000_000, 100
# symbol: (address, decimals, USD price with 8 decimals, LT bps, bonus bps)
ASSETS = {
    "WETH": ("0x" + "01" * 20, 18, 2_000 * 10**8, 8_250, 10_500),
    "WBTC": ("0x" + "02" * 20, 8, 60_000 * 10**8, 7_500, 11_000),
    "USDC": ("0x" + "03" * 20, 6, 10**8, 8_800, 10_450),
}
GAS = GasModel()
GWEI = 10**9
GRID = 300


def _addr(tag: int) -> str:
    return f"0x{tag:040x}"


def _reserve(sym: str) -> aave.ReserveData:
    asset, dec, price, lt, bonus = ASSETS[sym]
    return aave.ReserveData(asset, list(ASSETS).index(sym), dec, price, lt - 500, lt, bonus,
                            1_000, 0, RAY, 0, RAY, 0, TS)  # fmt: skip


def _pools(rng: random.Random, depth_usd: float) -> dict[str, V2Pool]:
    """A V2 pool per pair, its price 0.9-1.1x the oracle's, `depth_usd` a side (x0.3-3)."""
    out: dict[str, V2Pool] = {}
    syms = list(ASSETS)
    for i, a in enumerate(syms):
        for b in syms[i + 1 :]:
            (ta, da, pa, *_), (tb, db, pb, *_) = ASSETS[a], ASSETS[b]
            usd = depth_usd * rng.uniform(0.3, 3)
            ra = int(usd / (pa / 1e8) * 10**da)
            rb = int(usd / (pb / 1e8) * 10**db * rng.uniform(0.9, 1.1))
            address = _addr(len(out) + 100)
            out[address] = V2Pool(address, ta, tb, ra, rb)
    return out


def _block(eth_usd: float = 2_000, gas_gwei: int = 20) -> BlockContext:
    eth_prices = {t: int(eth_usd / (p / 1e8) * 10**d) for t, d, p, *_ in ASSETS.values()}
    return BlockContext(1, BLOCK, TS, gas_gwei * GWEI, 0, eth_prices)


def _config(pools: dict[str, V2Pool]) -> LiquidationConfig:
    return LiquidationConfig(router=direct_router(list(pools)), pools=tuple(pools),
                             aave_flash_pool=POOL, grid=16)  # fmt: skip


# -- an independent exhaustive search -----------------------------------------------------------
def best_sale(pools: dict[str, V2Pool], t_in: str, t_out: str, amount: int) -> tuple[int, int]:
    """(output, hops) of the best one- or two-hop path, by getAmountOut on reserves."""

    def out(p: V2Pool, a: str, x: int) -> int:
        r_in, r_out = (p.reserve0, p.reserve1) if p.token0 == a else (p.reserve1, p.reserve0)
        return get_amount_out(x, r_in, r_out, p.fee_bps) if x > 0 else 0

    best = (0, 0)
    for p in pools.values():
        if t_in not in (p.token0, p.token1):
            continue
        mid = p.token1 if p.token0 == t_in else p.token0
        first = out(p, t_in, amount)
        if mid == t_out:
            best = max(best, (first, -1))
            continue
        for q in pools.values():
            if q is not p and {mid, t_out} == {q.token0, q.token1}:
                best = max(best, (out(q, mid, first), -2))
    return best[0], -best[1]


def exhaustive(pools: dict[str, V2Pool], block: BlockContext, pairs: dict[Any, Any]) -> int:
    """Best net over every pair (hi, model) and GRID amounts; Aave flash loan, V2 hops."""
    best = 0
    for (debt, coll), (hi, model, liq_gas) in pairs.items():
        for k in range(1, GRID + 1):
            x = max(hi * k // GRID, 1)
            got = model(x)
            if got is None:
                continue
            repaid, seized = got
            sold, hops = (seized, 0) if coll == debt else best_sale(pools, coll, debt, seized)
            if coll != debt and sold == 0:
                continue
            raw = GAS.base + liq_gas + GAS.flash[FlashSource.AAVE_V3] + hops * 67_000
            gas = raw * (10_000 + GAS.margin_bps) // 10_000
            cost = gas * block.gas_price * block.eth_prices[debt] // 10**18
            best = max(best, sold - repaid - percent_mul(x, 5) - cost)
    return best


# -- Aave ---------------------------------------------------------------------------------------
AAVE_REF = AaveMarketRef(
    POOL, tuple(AaveReserveRef(a, _addr(1), _addr(2), _addr(3)) for a, *_ in ASSETS.values()),
    emode_categories=(),
)  # fmt: skip


def _aave_account(rng: random.Random, hf: float) -> aave.UserAccount:
    """Collateral in one or two assets, debt in one or two, at health factor `hf`."""
    syms = list(ASSETS)
    colls, debts = rng.sample(syms, rng.randint(1, 2)), rng.sample(syms, rng.randint(1, 2))
    positions: dict[str, aave.UserReserve] = {}
    weighted = 0.0
    for s in colls:
        asset, dec, price, lt, _ = ASSETS[s]
        usd = rng.uniform(2_000, 400_000)
        positions[asset] = aave.UserReserve(asset, int(usd / (price / 1e8) * 10**dec),
                                            using_as_collateral=True)  # fmt: skip
        weighted += usd * lt / 1e4
    shares = [rng.random() + 0.1 for _ in debts]
    for s, share in zip(debts, shares, strict=True):
        asset, dec, price, *_ = ASSETS[s]
        usd = weighted / hf * share / sum(shares)
        pos = positions.get(asset, aave.UserReserve(asset))
        positions[asset] = replace(pos, scaled_variable_debt=int(usd / (price / 1e8) * 10**dec),
                                   borrowing=True)  # fmt: skip
    return aave.UserAccount(tuple(sorted(positions.values(), key=lambda p: p.asset)))


def _aave_view(pools: dict[str, V2Pool], users: dict[str, aave.UserAccount]) -> StateView:
    entries: dict[Any, Any] = {pool_key(a): p for a, p in pools.items()}
    for s in ASSETS:
        r = _reserve(s)
        entries[reserve_key("aave_v3", POOL, r.asset)] = replace(r, price=0)
        entries[price_key("aave_v3", POOL, r.asset)] = r.price
    for u, acct in users.items():
        entries[account_key("aave_v3", POOL, u)] = acct
    return StateView(entries)


def _aave_pairs(account: aave.UserAccount) -> dict[Any, Any]:
    reserves = {r.asset: r for r in map(_reserve, ASSETS)}
    hf = aave.calculate_user_account_data(reserves, account, TS).health_factor
    pairs = {}
    for d in (p for p in account.positions if p.borrowing):
        hi = percent_mul(d.scaled_variable_debt, aave.close_factor(hf))
        for c in (p for p in account.positions if p.using_as_collateral):

            def model(x: int, d: str = d.asset, c: str = c.asset) -> tuple[int, int] | None:
                try:
                    r = aave.execute_liquidation_call(
                        reserves, account, collateral_asset=c, debt_asset=d, debt_to_cover=x,
                        timestamp=TS,
                    )  # fmt: skip
                except aave.LiquidationCallError:
                    return None
                return r.debt_repaid, r.collateral_to_liquidator

            pairs[(d.asset, c.asset)] = (hi, model, GAS.aave_liquidation)
    return pairs


@pytest.mark.parametrize("seed", range(24))
def test_aave_choice_matches_the_exhaustive_optimum(seed: int) -> None:
    rng = random.Random(seed)
    pools = _pools(rng, rng.choice((30_000, 300_000, 3_000_000)))
    user = _addr(7)
    account = _aave_account(rng, rng.uniform(0.8, 0.995))
    view, block = _aave_view(pools, {user: account}), _block()
    strategy = AaveV3Liquidation(AAVE_REF, _config(pools))
    opps = strategy.evaluate([user], view, block)
    optimum = exhaustive(pools, block, _aave_pairs(account))
    if optimum <= 0:
        assert opps == []
        return
    (opp,) = opps
    net = opp.net_profit(block.gas_price)
    assert net >= optimum * 99 // 100, (net, optimum)
    assert opp.kind == Kind.LIQUIDATION and opp.strategy == "aave_v3_liquidation"
    liq = opp.plan.actions[0]
    assert isinstance(liq, AaveLiquidation) and liq.user.lower() == user
    assert opp.plan.profit_token.lower() == liq.debt_asset.lower() == opp.detail["debt_asset"]
    assert opp.plan.loan.amount == liq.debt_to_cover
    assert all(isinstance(a, UniswapV2Swap) for a in opp.plan.actions[1:])
    assert 0 < opp.plan.min_profit <= opp.expected_profit
    assert {POOL, user} <= opp.touches


def test_healthy_accounts_give_nothing() -> None:
    rng = random.Random(1)
    pools = _pools(rng, 1_000_000)
    users = {_addr(10 + i): _aave_account(rng, rng.uniform(1.001, 1.5)) for i in range(8)}
    strategy = AaveV3Liquidation(AAVE_REF, _config(pools))
    assert strategy.evaluate(users, _aave_view(pools, users), _block()) == []


def test_gas_above_profit_gives_nothing() -> None:
    rng = random.Random(2)
    pools = _pools(rng, 3_000_000)
    user = _addr(9)
    account = _aave_account(rng, 0.99)
    view = _aave_view(pools, {user: account})
    strategy = AaveV3Liquidation(AAVE_REF, _config(pools))
    assert strategy.evaluate([user], view, _block(gas_gwei=1)) != []
    assert strategy.evaluate([user], view, _block(gas_gwei=10**7)) == []


def test_process_follows_account_and_price_deltas() -> None:
    rng = random.Random(3)
    pools = _pools(rng, 3_000_000)
    user = _addr(11)
    account = _aave_account(rng, 0.97)
    view, block = _aave_view(pools, {user: account}), _block()
    strategy = AaveV3Liquidation(AAVE_REF, _config(pools))
    key = account_key("aave_v3", POOL, user)
    assert len(strategy.process([Delta(BLOCK, key, None, account)], view, block)) == 1
    held = account.positions[0].asset
    moved = Delta(BLOCK, price_key("aave_v3", POOL, held), 1, 2)
    assert len(strategy.process([moved], view, block)) == 1  # known from the first delta
    other = Delta(BLOCK, price_key("aave_v3", "0x" + "ff" * 20, held), 1, 2)
    assert strategy.process([other], view, block) == []
    category = Delta(BLOCK, emode_key(POOL, account.emode_category), None, None)
    assert len(strategy.process([category], view, block)) == 1  # its category's terms moved
    elsewhere = Delta(BLOCK, emode_key(POOL, account.emode_category + 1), None, None)
    assert strategy.process([elsewhere], view, block) == []


# -- Venus --------------------------------------------------------------------------------------
VTOKENS = {s: _addr(0x500 + i) for i, s in enumerate(ASSETS)}
VENUS_REF = VenusRef(COMPTROLLER, tuple(
    VenusMarketRef(VTOKENS[s], ASSETS[s][0], ASSETS[s][1], 2 * 10**(ASSETS[s][1] + 8))
    for s in ASSETS
))  # fmt: skip
RATES = venus.JumpRateModel(0, 10**10, 10**11, 8 * 10**17)


def _venus_view(
    rng: random.Random, pools: dict[str, V2Pool], user: str, hf: float
) -> tuple[StateView, dict[Any, Any]]:
    entries: dict[Any, Any] = {pool_key(a): p for a, p in pools.items()}
    positions, weighted, syms = [], 0.0, list(ASSETS)
    colls, debts = rng.sample(syms, rng.randint(1, 2)), rng.sample(syms, rng.randint(1, 2))
    for s in syms:
        _, dec, price8, lt, _ = ASSETS[s]
        vt, price = VTOKENS[s], price8 * 10 ** (28 - dec)
        rate = 2 * 10 ** (dec + 8) * 101 // 100  # 0.0202 underlying per vToken (8 decimals)
        cash, borrows = 10**9 * 10**dec // (price8 // 10**8), 10**7 * 10**dec // (price8 // 10**8)
        state = venus.MarketState(cash, borrows, 0, (cash + borrows) * 10**18 // rate, 10**18,
                                  BLOCK, 10**17, 2 * 10 ** (dec + 8), RATES)  # fmt: skip
        entries[reserve_key("venus", COMPTROLLER, vt)] = VenusMarket(
            vt, state, lt * 10**14 - 5 * 10**16, lt * 10**14, 11 * 10**17)  # fmt: skip
        entries[price_key("venus", COMPTROLLER, vt)] = price
        if s in colls:
            usd = rng.uniform(2_000, 400_000)
            tokens = int(usd * 10**18 * 10**18 // price * 10**18 // rate)
            positions.append(VenusPosition(vt, tokens))
            weighted += usd * lt / 1e4
    shares = [rng.random() + 0.1 for _ in debts]
    for s, share in zip(debts, shares, strict=True):
        vt, (_, dec, price8, *_) = VTOKENS[s], ASSETS[s]
        owed = int(weighted / hf * share / sum(shares) / (price8 / 1e8) * 10**dec)
        old = next((p for p in positions if p.vtoken == vt), VenusPosition(vt))
        positions = [p for p in positions if p.vtoken != vt]
        positions.append(replace(old, borrow_principal=owed, interest_index=10**18))
    account = VenusAccount(tuple(VTOKENS[s] for s in syms), tuple(positions))
    entries[account_key("venus", COMPTROLLER, user)] = account
    return StateView(entries), entries


def _venus_pairs(entries: dict[Any, Any], user: str) -> dict[Any, Any]:
    from tallyio.state.positions import venus_assets

    account = entries[account_key("venus", COMPTROLLER, user)]
    accrued = {k: replace(v, state=venus.accrue_interest(v.state, BLOCK + 1))
               for k, v in entries.items() if isinstance(v, VenusMarket)}  # fmt: skip
    assets = venus_assets(lambda k: accrued.get(k, entries.get(k)), VENUS_REF, account)
    cash = {a.vtoken: accrued[reserve_key("venus", COMPTROLLER, a.vtoken)].state.cash
            for a in assets}  # fmt: skip
    under = {m.vtoken: m.underlying for m in VENUS_REF.markets}
    pairs = {}
    for b in (a for a in assets if a.borrow_balance):
        hi = venus.max_close(b.borrow_balance, 5 * 10**17)
        for c in (a for a in assets if a.vtoken_balance):

            def model(x: int, b: Any = b, c: Any = c) -> tuple[int, int] | None:
                try:
                    r = venus.liquidate_borrow(assets, vtoken_borrowed=b.vtoken, collateral=c,
                                               repay_amount=x, close_factor=5 * 10**17)  # fmt: skip
                except venus.ComptrollerError:
                    return None
                got = r.seize_tokens * c.exchange_rate // 10**18
                return None if got > cash[c.vtoken] else (x, got)

            pairs[(under[b.vtoken], under[c.vtoken])] = (hi, model, GAS.venus_liquidation)
    return pairs


@pytest.mark.parametrize("seed", range(12))
def test_venus_choice_matches_the_exhaustive_optimum(seed: int) -> None:
    rng = random.Random(100 + seed)
    pools = _pools(rng, rng.choice((30_000, 300_000, 3_000_000)))
    user = _addr(8)
    view, entries = _venus_view(rng, pools, user, rng.uniform(0.8, 0.995))
    block = _block()
    opps = VenusLiquidation(VENUS_REF, _config(pools)).evaluate([user], view, block)
    optimum = exhaustive(pools, block, _venus_pairs(entries, user))
    if optimum <= 0:
        assert opps == []
        return
    (opp,) = opps
    net = opp.net_profit(block.gas_price)
    assert net >= optimum * 99 // 100, (net, optimum)
    assert opp.strategy == "venus_liquidation"


def test_venus_repays_within_the_close_factor_the_state_follows() -> None:
    """A comptroller whose close factor the state follows (snapshot, NewCloseFactor) at 10%
    caps the repayment there, though the config says 50%."""
    from tallyio.state.lending_keys import close_factor_key

    for seed in range(40):
        rng = random.Random(500 + seed)
        pools = _pools(rng, 3_000_000)
        user = _addr(8)
        view, entries = _venus_view(rng, pools, user, rng.uniform(0.8, 0.95))
        strategy = VenusLiquidation(VENUS_REF, _config(pools))
        wide = strategy.evaluate([user], view, _block())
        entries[close_factor_key(COMPTROLLER)] = 10**17
        narrow = strategy.evaluate([user], StateView(entries), _block())
        if wide and narrow:
            break
    else:
        raise AssertionError("no seed liquidated under both close factors")
    account = entries[account_key("venus", COMPTROLLER, user)]
    debt = narrow[0].detail["debt_asset"]
    vtoken = next(m.vtoken for m in VENUS_REF.markets if m.underlying.lower() == debt.lower())
    owed = next(p.borrow_principal for p in account.positions if p.vtoken == vtoken)
    assert narrow[0].detail["amount"] <= owed * 11 // 100  # 10% of the debt (+ its accrual)
    assert wide[0].detail["amount"] > narrow[0].detail["amount"]


def test_venus_sizes_the_redeem_net_of_the_comptroller_fee() -> None:
    """The comptroller's treasuryPercent the state follows (snapshot, NewTreasuryPercent) takes
    its cut of the redeem: at the same repayment (a 1% close factor caps both) we expect
    exactly the fee-less redeem less venus.redeem_fee's cut; a state without the entry is 0."""
    from tallyio.state.lending_keys import close_factor_key, treasury_percent_key

    fee = 7 * 10**16 + 1
    for seed in range(40):
        rng = random.Random(700 + seed)
        pools = _pools(rng, 3_000_000)
        user = _addr(8)
        _, entries = _venus_view(rng, pools, user, rng.uniform(0.8, 0.95))
        entries[close_factor_key(COMPTROLLER)] = 10**16
        strategy = VenusLiquidation(VENUS_REF, _config(pools))
        plain = strategy.evaluate([user], StateView(entries), _block())
        zero = strategy.evaluate([user], StateView({**entries, treasury_percent_key(
            COMPTROLLER): 0}), _block())  # fmt: skip
        taxed = strategy.evaluate([user], StateView({**entries, treasury_percent_key(
            COMPTROLLER): fee}), _block())  # fmt: skip
        if plain and taxed and plain[0].detail["amount"] == taxed[0].detail["amount"]:
            break
    else:
        raise AssertionError("no seed liquidated at the same repayment with and without a fee")
    assert [o.detail for o in zero] == [o.detail for o in plain]
    p, t = plain[0].detail, taxed[0].detail
    assert (p["debt_asset"], p["collateral_asset"]) == (t["debt_asset"], t["collateral_asset"])
    assert t["seized"] == venus.redeem_fee(p["seized"], fee)[1] < p["seized"]
    assert taxed[0].expected_profit < plain[0].expected_profit
