"""ArbitrageStrategy on exact pool values: the plan it builds, the lender it picks by cost, and
what it refuses (no price for gas, a profit gas eats, a vault locked by its own loan)."""

from __future__ import annotations

from tallyio.core.opportunity import ETH, BlockContext, Kind
from tallyio.core.plan import ALL_BALANCE, FlashSource, UniswapV2Swap
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.pools import balancer_vault_key, pool_key
from tallyio.state.routes import amount_out
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy, GasTable

WETH, USDC = "0x" + "11" * 20, "0x" + "22" * 20
UNI, SUSHI, V3, BAL, VAULT, AAVE = ("0x" + c * 40 for c in "abcde9")
E18, E6 = 10**18, 10**6
PRICES = {WETH: E18, USDC: 2_000 * E6}  # units per ETH


def entries(uni_usdc: int = 2_000_000 * E6) -> dict[object, object]:
    tick = -200_311  # ~2,000 USDC (6 dp) per WETH (18 dp)
    balancer = WeightedPool(BAL + "00" * 12, BAL, (WETH, USDC), (400 * E18, 200_000 * E6),
                            (ONE * 8 // 10, ONE * 2 // 10), (ONE, ONE * 10**12),
                            3 * 10**15)  # fmt: skip
    return {
        pool_key(UNI): V2Pool(UNI, WETH, USDC, 1_000 * E18, uni_usdc),
        pool_key(SUSHI): V2Pool(SUSHI, WETH, USDC, 1_000 * E18, 2_000_000 * E6),
        pool_key(V3): V3Pool(
            V3, WETH, USDC, 500, 10, get_sqrt_ratio_at_tick(tick), tick, 10**15, {}
        ),
        pool_key(BAL): balancer,
        balancer_vault_key(VAULT): VAULT,
    }


def config(**kw: object) -> ArbitrageConfig:
    base = {"balancer_vault": VAULT, "aave_pool": AAVE, "aave_tokens": frozenset({WETH, USDC}),
            "max_hops": 2}  # fmt: skip
    return ArbitrageConfig(**{**base, **kw})  # type: ignore[arg-type]


def block(gas_gwei: int = 10, prices: dict[str, int] = PRICES) -> BlockContext:
    return BlockContext(1, 100, 0, gas_gwei * 10**9, 0, prices)


def moved(e: dict[object, object], usdc: int) -> list[Delta]:
    before = e[pool_key(UNI)]
    assert isinstance(before, V2Pool)
    after = before.with_reserves(before.reserve0, usdc)
    e[pool_key(UNI)] = after
    return [Delta(100, pool_key(UNI), before, after)]


def test_a_dislocated_pair_becomes_a_balancer_funded_v2_round_trip() -> None:
    e = entries()
    strategy = ArbitrageStrategy.from_entries(config(), e)
    found = strategy.process(moved(e, 2_100_000 * E6), StateView(e), block())  # WETH 5% dearer
    assert found
    best = found[0]
    assert best.kind is Kind.ARBITRAGE and best.block == 100 and best.chain_id == 1
    plan = best.plan
    assert plan.loan.source is FlashSource.BALANCER and plan.loan.lender.lower() == VAULT
    first, second = plan.actions
    assert isinstance(first, UniswapV2Swap) and isinstance(second, UniswapV2Swap)
    assert first.amount_in == plan.loan.amount and second.amount_in == ALL_BALANCE
    assert plan.profit_token.lower() == first.token_in.lower() == plan.loan.token.lower()
    # the expected profit is the exact round trip of the loan (Balancer lends for free here)
    got = plan.loan.amount
    for action in (first, second):
        pool = e[pool_key(action.pair)]
        assert isinstance(pool, V2Pool)
        got = amount_out(pool, action.token_in.lower(), action.token_out.lower(), got) or 0
    assert best.expected_profit == got - plan.loan.amount > 0
    table = GasTable()
    assert best.gas_estimate == table.base + table.flash[FlashSource.BALANCER] + 2 * 66_792
    gas_cost = best.gas_estimate * 10 * 10**9 * best.eth_price // ETH
    assert plan.min_profit >= gas_cost and plan.min_profit <= best.expected_profit
    assert {UNI, SUSHI, VAULT} <= best.touches
    assert all(o.net_profit(10 * 10**9) > 0 for o in found)


def test_a_cycle_through_the_vault_borrows_elsewhere() -> None:
    e = entries()
    strategy = ArbitrageStrategy.from_entries(config(), e)
    found = strategy.process(moved(e, 2_100_000 * E6), StateView(e), block())
    via_vault = [o for o in found if BAL in o.touches]
    assert via_vault, "the Balancer pool is 5% off Uniswap too"
    for o in via_vault:
        assert o.plan.loan.source in (FlashSource.UNISWAP_V3, FlashSource.AAVE_V3)
        assert o.plan.loan.lender.lower() not in {UNI, SUSHI, BAL}


def test_no_price_for_gas_or_gas_above_the_profit_means_nothing() -> None:
    e = entries()
    deltas = moved(e, 2_100_000 * E6)
    strategy = ArbitrageStrategy.from_entries(config(), e)
    assert strategy.process(deltas, StateView(e), block(prices={})) == []
    assert (
        ArbitrageStrategy.from_entries(config(), e).process(
            deltas, StateView(e), block(gas_gwei=10**7)
        )
        == []
    )
    assert strategy.process([], StateView(e), block()) == []


def test_a_small_move_under_two_fees_pays_nothing() -> None:
    e = entries()
    strategy = ArbitrageStrategy.from_entries(config(v3_flash=False, aave_pool=""), e)
    assert strategy.process(moved(e, 2_008_000 * E6), StateView(e), block()) == []
