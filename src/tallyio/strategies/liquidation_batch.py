"""Batching liquidations: several on one market and debt asset in one transaction, one loan.

Merging n plans saves (n - 1) transaction floors and flash-loan overheads. It loses nothing
only when the plans are independent: different borrowers, and sale routes over disjoint pools
(a second sale through a pool the first one moved would earn less than its quote). Loans from
the same lender merge into one loan of the summed amount; Aave's premium is recomputed on the
sum (percentMul rounds once instead of n times).

Each plan becomes one `Guarded` part: the executor runs it in a self-call, so a part that
reverts (an account already liquidated by someone else, a price that moved back) unwinds alone,
its share of the loan repays the lender unspent, and the other parts keep their profit. The
engine still simulates a batch and falls back to its single plans (`detail["parts"]`) when the
batch fails or pays less gas-wise than the singles (app/batching.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tallyio.core.opportunity import Opportunity
from tallyio.core.plan import FlashLoan, FlashSource, Guarded, Plan, Step
from tallyio.protocols.aave_v3_math import percent_mul
from tallyio.strategies.liquidation_sizing import GasModel

__all__ = ["GUARDED_GAS", "batch"]

# What one Guarded part adds (the self-call, its calldata copy and the nested encoding): two
# V2 -> V2/V3 routes as two parts cost 312,964 gas against 299,899 as four plain actions
# (docs/executor.md, TallyExecutorGuarded.t.sol), so ~6.5k a part; rounded up.
GUARDED_GAS = 7_000


def batch(
    opps: Iterable[Opportunity], gas: GasModel | None = None, aave_premium_bps: int = 5
) -> list[Opportunity]:
    """Merge liquidations sharing market, debt asset and lender when independent; others pass
    through. Greedy by net profit: each group keeps the best plan and adds the next one whose
    borrower and pools it does not touch yet, as long as every part alone would still pay the
    whole batch's gas (see `_merge`)."""
    gas = gas or GasModel()
    groups: dict[tuple[object, ...], list[list[Opportunity]]] = {}
    passed: list[Opportunity] = []
    for opp in sorted(opps, key=lambda o: -o.profit_wei()):
        key = _group(opp)
        if key is None:
            passed.append(opp)
            continue
        batches = groups.setdefault(key, [])
        ok = (
            b for b in batches if _independent(b, opp) and _covered(b, opp, gas, aave_premium_bps)
        )
        fits = next(ok, None)
        if fits is None:
            batches.append([opp])
        else:
            fits.append(opp)
    merged = [
        _merge(b, gas, aave_premium_bps) if len(b) > 1 else b[0]
        for batches in groups.values()
        for b in batches
    ]
    return merged + passed


def _group(opp: Opportunity) -> tuple[object, ...] | None:
    d = opp.detail
    if "market" not in d or "lender" not in d or opp.plan.loan.source is FlashSource.NONE:
        return None
    if any(isinstance(a, Guarded) for a in opp.plan.actions):
        return None  # a batch already
    loan = opp.plan.loan
    return (opp.chain_id, opp.strategy, d["market"], loan.token.lower(), loan.lender.lower())


def _own(opp: Opportunity) -> frozenset[str]:
    """What a plan touches besides the shared market and lender."""
    return opp.touches - {str(opp.detail["market"]).lower(), str(opp.detail["lender"]).lower()}


def _independent(batch_: Sequence[Opportunity], opp: Opportunity) -> bool:
    return all(_own(o).isdisjoint(_own(opp)) for o in batch_)


def _covered(batch_: Sequence[Opportunity], opp: Opportunity, gas: GasModel, bps: int) -> bool:
    """Would every part, the only one to land, still pay the whole batch's gas?"""
    merged = _merge([*batch_, opp], gas, bps)
    cost = _gas_cost(merged.detail["parts"], merged.gas_estimate)
    return int(merged.detail["worst_alone"]) >= cost


def _merge(parts: Sequence[Opportunity], gas: GasModel, premium_bps: int) -> Opportunity:
    """One loan of the summed amount, one Guarded part per plan.

    min_profit: the transaction must never lose money, even when every part but the smallest
    one fails. A failed part earns nothing but still burns gas (less than it would have, as it
    stops at its revert), so the batch's whole gas cost at the parts' gas price bounds what any
    landed outcome costs: min_profit is at least that cost, and any part that lands keeps the
    transaction above it. `batch` admits a part only if its profit alone (less the share of an
    Aave premium charged on the others' loan) covers that cost, so min_profit is never more
    than what the worst single survivor makes: the smallest part's own floor, raised to the
    batch's gas cost, capped at what it makes alone.
    """
    first, loan = parts[0], parts[0].plan.loan
    amount = sum(p.plan.loan.amount for p in parts)
    fees = sum(int(p.detail.get("flash_fee", 0)) for p in parts)
    fee = percent_mul(amount, premium_bps) if loan.source is FlashSource.AAVE_V3 else fees
    profit = sum(p.expected_profit for p in parts) + fees - fee
    singles = sum(p.gas_estimate for p in parts)
    shared = (len(parts) - 1) * (gas.base + gas.flash[loan.source]) - len(parts) * GUARDED_GAS
    gas_estimate = singles - shared * (10_000 + gas.margin_bps) // 10_000
    cost = _gas_cost(parts, gas_estimate)
    alone = min(p.expected_profit + int(p.detail.get("flash_fee", 0)) - fee for p in parts)
    floor = max(cost, min(min(p.plan.min_profit for p in parts), alone))
    plan = Plan(
        actions=tuple(Guarded(_steps(p)) for p in parts),
        profit_token=first.plan.profit_token,
        min_profit=min(floor, profit),
        loan=FlashLoan(loan.source, loan.lender, loan.token, amount),
    )
    return Opportunity(
        strategy=first.strategy,
        kind=first.kind,
        chain_id=first.chain_id,
        block=min(p.block for p in parts),
        plan=plan,
        expected_profit=profit,
        gas_estimate=gas_estimate,
        eth_price=first.eth_price,
        touches=frozenset().union(*(p.touches for p in parts)),
        notional_usd=sum(p.notional_usd for p in parts),
        flash_loan_usd=sum(p.flash_loan_usd for p in parts),
        detail={
            **first.detail,
            "batch": len(parts),
            "parts": tuple(parts),
            "flash_fee": fee,
            "borrowers": tuple(p.detail.get("borrower") for p in parts),
            "net_profit": profit - cost,
            "singles_gas": singles,
            "worst_alone": alone,
        },
    )


def _gas_cost(parts: Sequence[Opportunity], gas_estimate: int) -> int:
    """The batch's gas in the profit token, at the gas price the parts were priced at (their
    expected profit less their net profit, per unit of their gas), rounded up."""
    priced = [p for p in parts if "net_profit" in p.detail]
    if not priced:
        return 0
    cost = sum(p.expected_profit - int(p.detail["net_profit"]) for p in priced)
    return -(-max(cost, 0) * gas_estimate // sum(p.gas_estimate for p in priced))


def _steps(opp: Opportunity) -> tuple[Step, ...]:
    steps = tuple(a for a in opp.plan.actions if not isinstance(a, Guarded))
    if len(steps) != len(opp.plan.actions):
        raise ValueError("batch: a part that is a batch already")  # _group keeps them out
    return steps
