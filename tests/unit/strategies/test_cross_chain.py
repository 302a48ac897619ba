"""CrossChainArbitrage on exact V2 models: sizing against an exhaustive search, no trade under
fees or gas, inventory bounds, the legs' plans, and the rebalance values."""

from __future__ import annotations

import random

import pytest

from tallyio.core.opportunity import ETH, BlockContext
from tallyio.core.plan import FlashSource, UniswapV2Swap
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.pools import pool_key
from tallyio.state.store import StateView
from tallyio.strategies.cross_chain import (
    ChainSide,
    CrossChainArbitrage,
    CrossChainConfig,
    CrossPair,
    Move,
    Venue,
    leg_changes,
    maximize,
    rebalance,
)

WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
POOL_A = "0x" + "aa" * 20
POOL_B = "0x" + "bb" * 20
A, B = 1, 10


def _pool(address: str, weth: int, usdc: int) -> V2Pool:
    return V2Pool(address, WETH, USDC, weth, usdc)


def _side(chain: int, pool: V2Pool, budget: dict[str, int], base_fee: int = 0) -> ChainSide:
    block = BlockContext(chain, 100, 0, base_fee)
    return ChainSide(StateView({pool_key(pool.address): pool}), block, budget)


def _strategy(**kw: int) -> CrossChainArbitrage:
    venues = (Venue(A, POOL_A, WETH, USDC, WETH), Venue(B, POOL_B, WETH, USDC, WETH))
    return CrossChainArbitrage(CrossChainConfig((CrossPair("WETH/USDC", venues),), **kw))


def _exhaustive(
    cheap: V2Pool, dear: V2Pool, quote_budget: int, base_budget: int
) -> tuple[int, int]:
    """(x, profit): the smallest x of the largest profit, trying every x the budgets allow."""
    best = (0, 0)
    for x in range(1, quote_budget + 1):
        b = cheap.amount_out(USDC, x)
        if b > base_budget:
            break
        if b == 0:
            continue
        profit = dear.amount_out(WETH, b) - x
        if profit > best[1]:
            best = (x, profit)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sizing_equals_an_exhaustive_search(seed: int) -> None:
    rng = random.Random(seed)
    usdc = rng.randrange(300_000, 600_000)
    weth = usdc * 10**12 // 2000  # WETH at 2,000 USDC
    cheap = _pool(POOL_A, weth, usdc)
    dear = _pool(POOL_B, weth, usdc * (10_000 + rng.randrange(150, 600)) // 10_000)
    budget = usdc // 8
    sides = {A: _side(A, cheap, {USDC: budget}), B: _side(B, dear, {WETH: 10**30})}
    (trade,) = _strategy().process(sides)
    x, profit = _exhaustive(cheap, dear, budget, 10**30)
    assert 0 < x < budget  # the optimum is inside the budget: sizing, not the bound
    assert (trade.quote_in, trade.profit) == (x, profit)
    assert trade.base_out == cheap.amount_out(USDC, x)
    assert trade.quote_out == dear.amount_out(WETH, trade.base_out)


def test_no_trade_when_the_spread_is_under_the_fees() -> None:
    usdc = 2_000_000 * 10**6
    weth = usdc * 10**12 // 2000
    cheap = _pool(POOL_A, weth, usdc)
    dear = _pool(POOL_B, weth, usdc * 10_055 // 10_000)  # 0.55% < two 0.3% fees
    sides = {A: _side(A, cheap, {USDC: usdc}), B: _side(B, dear, {WETH: weth})}
    assert _strategy().process(sides) == []


def test_no_trade_when_the_spread_does_not_pay_both_legs_gas() -> None:
    usdc = 20_000 * 10**6
    weth = usdc * 10**12 // 2000
    cheap = _pool(POOL_A, weth, usdc)
    dear = _pool(POOL_B, weth, usdc * 10_100 // 10_000)  # 1%: pays fees, a few USDC at most
    budgets = ({USDC: usdc}, {WETH: weth})
    free = {A: _side(A, cheap, budgets[0]), B: _side(B, dear, budgets[1])}
    (trade,) = _strategy().process(free)
    assert trade.gas_cost == 0 and trade.profit > 0
    gwei = 10**9
    dear_gas = {A: _side(A, cheap, budgets[0], 10 * gwei), B: _side(B, dear, budgets[1], 10 * gwei)}
    assert _strategy().process(dear_gas) == []  # 2 x 150k gas at 10 gwei = 6 USDC > profit
    (cheap_gas,) = _strategy().process(
        {A: _side(A, cheap, budgets[0], gwei // 100), B: _side(B, dear, budgets[1], gwei // 100)}
    )
    price_a = cheap.amount_out(WETH, ETH // 1000) * 1000  # USDC per ETH, gas pricing only
    price_b = dear.amount_out(WETH, ETH // 1000) * 1000
    each = 150_000 * (gwei // 100)
    assert cheap_gas.gas_cost == each * price_a // ETH + each * price_b // ETH
    assert 0 < cheap_gas.gas_cost < cheap_gas.profit


def test_inventory_bounds_are_respected() -> None:
    usdc = 400_000
    weth = usdc * 10**12 // 2000
    cheap = _pool(POOL_A, weth, usdc)
    dear = _pool(POOL_B, weth, usdc * 10_400 // 10_000)
    free_x, _ = _exhaustive(cheap, dear, usdc // 4, 10**30)
    # quote held on the cheap chain below the optimum: spend all of it
    sides = {A: _side(A, cheap, {USDC: free_x // 3}), B: _side(B, dear, {WETH: 10**30})}
    (trade,) = _strategy().process(sides)
    assert (trade.quote_in, trade.profit) == _exhaustive(cheap, dear, free_x // 3, 10**30)
    assert free_x // 4 < trade.quote_in <= free_x // 3  # all of it, to the pools' rounding
    # base held on the dear chain caps what can be bought
    cap = cheap.amount_out(USDC, free_x) // 2
    sides = {A: _side(A, cheap, {USDC: usdc}), B: _side(B, dear, {WETH: cap})}
    (trade,) = _strategy().process(sides)
    assert trade.base_out <= cap
    assert (trade.quote_in, trade.profit) == _exhaustive(cheap, dear, usdc // 4, cap)
    # nothing held: nothing to do
    assert _strategy().process({A: _side(A, cheap, {}), B: _side(B, dear, {WETH: cap})}) == []


def test_buys_where_cheap_and_sells_where_dear_from_inventory() -> None:
    usdc = 1_000_000 * 10**6
    weth = usdc * 10**12 // 2000
    dear = _pool(POOL_A, weth, usdc * 10_300 // 10_000)  # chain A is the dear one this time
    cheap = _pool(POOL_B, weth, usdc)
    sides = {A: _side(A, dear, {WETH: 100 * ETH}), B: _side(B, cheap, {USDC: usdc})}
    (trade,) = _strategy(slippage_bps=10).process(sides)
    buy, sell = trade.buy, trade.sell
    assert (buy.chain_id, sell.chain_id) == (B, A)
    assert buy.plan.loan.source is FlashSource.NONE is sell.plan.loan.source
    assert buy.plan.actions == (UniswapV2Swap(POOL_B, USDC, WETH, trade.quote_in),)
    assert sell.plan.actions == (UniswapV2Swap(POOL_A, WETH, USDC, trade.base_out),)
    # each leg's profit token is its output; min_profit is the output less 10 bps
    assert (buy.plan.profit_token.lower(), buy.expected_profit) == (WETH, trade.base_out)
    assert (sell.plan.profit_token.lower(), sell.expected_profit) == (USDC, trade.quote_out)
    assert buy.plan.min_profit == trade.base_out * 9_990 // 10_000
    assert sell.plan.min_profit == trade.quote_out * 9_990 // 10_000
    assert buy.eth_price == ETH and sell.eth_price == dear.amount_out(WETH, ETH // 1000) * 1000
    assert trade.planned.moves == (
        Move("USDC", A, B, trade.quote_in),  # quote back to the chain that spent it
        Move("WETH", B, A, trade.base_out),  # base to the chain that sold it
    )
    assert trade.planned.net == (("USDC", trade.profit), ("WETH", 0))
    assert trade.planned.hedged


def test_one_leg_alone_leaves_an_unhedged_position() -> None:
    usdc = 1_000_000 * 10**6
    weth = usdc * 10**12 // 2000
    cheap, dear = _pool(POOL_A, weth, usdc), _pool(POOL_B, weth, usdc * 10_300 // 10_000)
    sides = {A: _side(A, cheap, {USDC: usdc}), B: _side(B, dear, {WETH: 100 * ETH})}
    (trade,) = _strategy().process(sides)
    only_buy = leg_changes(trade, [(trade.buy, trade.base_out), (trade.sell, None)])
    done = rebalance(trade.pair, only_buy)
    assert done.moves == () and not done.hedged
    assert done.net == (("USDC", -trade.quote_in), ("WETH", trade.base_out))
    both = leg_changes(trade, [(trade.buy, trade.base_out), (trade.sell, trade.quote_out)])
    assert rebalance(trade.pair, both) == trade.planned
    assert trade.planned.as_dict()["hedged"] is True


def test_maximize_scans_the_last_bracket() -> None:
    assert maximize(lambda x: -((x - 12_345) ** 2), 0, 10**9) == 12_345
    assert maximize(lambda x: None, 1, 100) is None
    assert maximize(lambda x: 5, 3, 2) is None
    assert maximize(lambda x: 7 if x % 2 else 0, 1, 10) == 1  # ties: the smallest
