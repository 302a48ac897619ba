"""Batching: independent liquidations on one market and debt asset share one loan and floor;
each is a Guarded part, so one that fails on chain leaves the others' profit."""

from __future__ import annotations

from tallyio.core.opportunity import Kind, Opportunity
from tallyio.core.plan import AaveLiquidation, FlashLoan, FlashSource, Guarded, Plan, UniswapV2Swap
from tallyio.strategies.liquidation_batch import GUARDED_GAS, batch
from tallyio.strategies.liquidation_sizing import GasModel

POOL, VAULT = "0x" + "a0" * 20, "0x" + "b0" * 20
USDC, WETH, WBTC = "0x" + "03" * 20, "0x" + "01" * 20, "0x" + "02" * 20


def _opp(
    user: str, coll: str, pair: str, amount: int, profit: int, gas_cost: int | None = None
) -> Opportunity:
    liq = AaveLiquidation(POOL, coll, USDC, user, amount)
    sale = UniswapV2Swap(pair, coll, USDC)
    loan = FlashLoan(FlashSource.BALANCER, VAULT, USDC, amount)
    detail = {"market": POOL, "lender": VAULT, "flash_fee": 0, "borrower": user}
    if gas_cost is not None:  # as the strategy prices it: net = profit - gas at its gas price
        detail["net_profit"] = profit - gas_cost
    return Opportunity("aave_v3_liquidation", Kind.LIQUIDATION, 1, 10,
                       Plan((liq, sale), USDC, profit // 2, loan), profit, 600_000, 2_000 * 10**6,
                       frozenset({POOL, VAULT, user, pair}), 1_000, 1_000, detail)  # fmt: skip


def test_independent_liquidations_merge_into_one_loan() -> None:
    a = _opp("0x" + "11" * 20, WETH, "0x" + "21" * 20, 5_000 * 10**6, 300 * 10**6)
    b = _opp("0x" + "12" * 20, WBTC, "0x" + "22" * 20, 7_000 * 10**6, 400 * 10**6)
    (merged,) = batch([a, b])
    gas = GasModel()
    assert merged.plan.loan.amount == 12_000 * 10**6
    assert merged.expected_profit == 700 * 10**6
    # unpriced parts (no net profit): the smallest part's own floor
    assert merged.plan.min_profit == a.plan.min_profit
    shared = gas.base + gas.flash[FlashSource.BALANCER] - 2 * GUARDED_GAS
    saved = shared * (10_000 + gas.margin_bps) // 10_000
    assert merged.gas_estimate == a.gas_estimate + b.gas_estimate - saved
    assert merged.gas_estimate < a.gas_estimate + b.gas_estimate
    # one Guarded part per plan, most profitable first
    assert merged.plan.actions == (Guarded(b.plan.actions), Guarded(a.plan.actions))  # type: ignore[arg-type]
    assert merged.detail["parts"] == (b, a) and merged.touches == a.touches | b.touches


def test_plans_sharing_a_pool_or_a_borrower_stay_apart() -> None:
    pair = "0x" + "21" * 20
    a = _opp("0x" + "11" * 20, WETH, pair, 5_000 * 10**6, 300 * 10**6)
    b = _opp("0x" + "12" * 20, WETH, pair, 7_000 * 10**6, 400 * 10**6)
    c = _opp("0x" + "11" * 20, WBTC, "0x" + "22" * 20, 1_000 * 10**6, 100 * 10**6)
    assert sorted(o.expected_profit for o in batch([a, b])) == [300 * 10**6, 400 * 10**6]
    assert len(batch([a, c])) == 2
    merged = batch([b, c])
    assert len(merged) == 1 and merged[0].detail["batch"] == 2


def test_min_profit_pays_the_batch_gas_even_if_only_the_smallest_part_lands() -> None:
    # Gas priced at 100 USDC base units a gas unit: 600k gas -> 60 USDC a part.
    a = _opp("0x" + "11" * 20, WETH, "0x" + "21" * 20, 5_000 * 10**6, 150 * 10**6, 60 * 10**6)
    b = _opp("0x" + "12" * 20, WBTC, "0x" + "22" * 20, 7_000 * 10**6, 400 * 10**6, 60 * 10**6)
    (merged,) = batch([a, b])
    cost = -(-120 * 10**6 * merged.gas_estimate // 1_200_000)  # the batch's gas, rounded up
    assert cost < 120 * 10**6 and merged.detail["net_profit"] == 550 * 10**6 - cost
    # floors alone were half the profit (75 and 200 USDC); the batch's gas (~112 USDC) is more
    # than the smallest floor: it rules, and the smallest part alone (150) still clears it
    assert merged.plan.min_profit == cost > a.plan.min_profit
    assert merged.plan.min_profit <= a.expected_profit == merged.detail["worst_alone"]


def test_a_part_too_small_to_pay_the_batch_gas_alone_stays_single() -> None:
    a = _opp("0x" + "11" * 20, WETH, "0x" + "21" * 20, 5_000 * 10**6, 100 * 10**6, 60 * 10**6)
    b = _opp("0x" + "12" * 20, WBTC, "0x" + "22" * 20, 7_000 * 10**6, 400 * 10**6, 60 * 10**6)
    assert sorted(o.expected_profit for o in batch([a, b])) == [100 * 10**6, 400 * 10**6]


def test_min_profit_without_a_gas_price_is_the_smallest_floor_capped_at_its_profit() -> None:
    a = _opp("0x" + "11" * 20, WETH, "0x" + "21" * 20, 5_000 * 10**6, 10 * 10**6)
    b = _opp("0x" + "12" * 20, WBTC, "0x" + "22" * 20, 7_000 * 10**6, 20 * 10**6)
    (merged,) = batch([a, b])
    assert merged.plan.min_profit == 5 * 10**6 and merged.expected_profit == 30 * 10**6


def test_aave_loan_premium_is_taken_once_on_the_sum() -> None:
    def aave(opp: Opportunity, fee: int) -> Opportunity:
        loan = FlashLoan(FlashSource.AAVE_V3, POOL, USDC, opp.plan.loan.amount)
        plan = Plan(opp.plan.actions, USDC, opp.plan.min_profit, loan)
        return Opportunity(opp.strategy, opp.kind, 1, 10, plan, opp.expected_profit,
                           opp.gas_estimate, opp.eth_price, opp.touches - {VAULT}, 1, 1,
                           {**opp.detail, "lender": POOL, "flash_fee": fee})  # fmt: skip

    a = aave(_opp("0x" + "11" * 20, WETH, "0x" + "21" * 20, 3_333_333, 10**6), 1_667)
    b = aave(_opp("0x" + "12" * 20, WBTC, "0x" + "22" * 20, 3_333_333, 10**6), 1_667)
    (merged,) = batch([a, b])
    assert merged.detail["flash_fee"] == (6_666_666 * 5 + 5_000) // 10_000  # percentMul, once
    assert merged.expected_profit == 2 * 10**6 + 2 * 1_667 - merged.detail["flash_fee"]
    assert batch([merged]) == [merged]  # a batch is not batched again
