"""Batching: independent liquidations on one market and debt asset share one loan and floor."""

from __future__ import annotations

from tallyio.core.opportunity import Kind, Opportunity
from tallyio.core.plan import AaveLiquidation, FlashLoan, FlashSource, Plan, UniswapV2Swap
from tallyio.strategies.liquidation_batch import batch
from tallyio.strategies.liquidation_sizing import GasModel

POOL, VAULT = "0x" + "a0" * 20, "0x" + "b0" * 20
USDC, WETH, WBTC = "0x" + "03" * 20, "0x" + "01" * 20, "0x" + "02" * 20


def _opp(user: str, coll: str, pair: str, amount: int, profit: int) -> Opportunity:
    liq = AaveLiquidation(POOL, coll, USDC, user, amount)
    sale = UniswapV2Swap(pair, coll, USDC)
    loan = FlashLoan(FlashSource.BALANCER, VAULT, USDC, amount)
    detail = {"market": POOL, "lender": VAULT, "flash_fee": 0, "borrower": user}
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
    assert merged.plan.min_profit == a.plan.min_profit + b.plan.min_profit
    saved = (gas.base + gas.flash[FlashSource.BALANCER]) * (10_000 + gas.margin_bps) // 10_000
    assert merged.gas_estimate == a.gas_estimate + b.gas_estimate - saved
    assert merged.plan.actions == (*b.plan.actions, *a.plan.actions)  # most profitable first
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
