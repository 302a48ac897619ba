"""Batching liquidations: several on one market and debt asset in one transaction, one loan.

Merging n plans saves (n - 1) transaction floors and flash-loan overheads. It loses nothing
only when the plans are independent: different borrowers, and sale routes over disjoint pools
(a second sale through a pool the first one moved would earn less than its quote). Loans from
the same lender merge into one loan of the summed amount; Aave's premium is recomputed on the
sum (percentMul rounds once instead of n times).

The current TallyExecutor runs the actions in one call: one failing liquidation (an account
already liquidated by someone else, a price that moved back) reverts the whole transaction.
The engine must therefore simulate a batch and fall back to its single plans when the batch
fails; the singles are in `detail["parts"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tallyio.core.opportunity import Opportunity
from tallyio.core.plan import FlashLoan, FlashSource, Plan
from tallyio.protocols.aave_v3_math import percent_mul
from tallyio.strategies.liquidation_sizing import GasModel

__all__ = ["batch"]


def batch(
    opps: Iterable[Opportunity], gas: GasModel | None = None, aave_premium_bps: int = 5
) -> list[Opportunity]:
    """Merge liquidations sharing market, debt asset and lender when independent; others pass
    through. Greedy by net profit: each group keeps the best plan and adds the next one whose
    borrower and pools it does not touch yet."""
    gas = gas or GasModel()
    groups: dict[tuple[object, ...], list[list[Opportunity]]] = {}
    passed: list[Opportunity] = []
    for opp in sorted(opps, key=lambda o: -o.profit_wei()):
        key = _group(opp)
        if key is None:
            passed.append(opp)
            continue
        batches = groups.setdefault(key, [])
        fits = next((b for b in batches if _independent(b, opp)), None)
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
    loan = opp.plan.loan
    return (opp.chain_id, opp.strategy, d["market"], loan.token.lower(), loan.lender.lower())


def _own(opp: Opportunity) -> frozenset[str]:
    """What a plan touches besides the shared market and lender."""
    return opp.touches - {str(opp.detail["market"]).lower(), str(opp.detail["lender"]).lower()}


def _independent(batch_: Sequence[Opportunity], opp: Opportunity) -> bool:
    return all(_own(o).isdisjoint(_own(opp)) for o in batch_)


def _merge(parts: Sequence[Opportunity], gas: GasModel, premium_bps: int) -> Opportunity:
    first, loan = parts[0], parts[0].plan.loan
    amount = sum(p.plan.loan.amount for p in parts)
    fees = sum(int(p.detail.get("flash_fee", 0)) for p in parts)
    fee = percent_mul(amount, premium_bps) if loan.source is FlashSource.AAVE_V3 else fees
    profit = sum(p.expected_profit for p in parts) + fees - fee
    saved = (len(parts) - 1) * (gas.base + gas.flash[loan.source])
    gas_estimate = sum(p.gas_estimate for p in parts) - saved * (10_000 + gas.margin_bps) // 10_000
    plan = Plan(
        actions=tuple(a for p in parts for a in p.plan.actions),
        profit_token=first.plan.profit_token,
        min_profit=min(sum(p.plan.min_profit for p in parts), profit),
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
        detail={**first.detail, "batch": len(parts), "parts": tuple(parts), "flash_fee": fee},
    )
