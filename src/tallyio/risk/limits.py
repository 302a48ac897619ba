"""The per-opportunity limits as pure checks: an Opportunity and its Limits in, a Violation out.

Each check names the limit it enforces (the Violation's `reason` is that stable code) and passes
a value exactly at its limit. Money is exact integers throughout: USD in whole dollars, gas and
profit in wei of the chain's native coin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tallyio.core.opportunity import ETH, Opportunity
from tallyio.core.plan import FlashSource
from tallyio.risk.config import BPS, Limits


@dataclass(frozen=True, slots=True)
class Violation:
    reason: str  # stable code: max_notional, max_flash_loan, max_gas_price, gas_budget_hour, ...
    detail: str  # for people


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a check sees besides the limits: the opportunity and the moment's gas facts."""

    opp: Opportunity
    gas_price_wei: int
    gas_spent_hour_wei: int  # this strategy on this chain, over the last hour


def net_profit_wei(opp: Opportunity, gas_price_wei: int) -> int:
    """Expected profit after gas, in wei (rounded down like the profit-token conversion)."""
    return opp.net_profit(gas_price_wei) * ETH // opp.eth_price


def slippage_bps(expected: int, realised: int) -> int:
    """How far `realised` fell short of `expected`, in bps of expected (0 when it did not)."""
    if expected <= 0 or realised >= expected:
        return 0
    return (expected - realised) * BPS // expected


def _notional(x: Inputs, lim: Limits) -> Violation | None:
    if x.opp.notional_usd > lim.max_notional_usd:
        return Violation(
            "max_notional", f"notional {x.opp.notional_usd} USD > {lim.max_notional_usd} USD"
        )
    return None


def _flash_loan(x: Inputs, lim: Limits) -> Violation | None:
    usd = x.opp.flash_loan_usd
    if x.opp.plan.loan.source is not FlashSource.NONE and usd <= 0:
        return Violation("max_flash_loan", "the plan borrows but flash_loan_usd is not given")
    if usd > lim.max_flash_loan_usd:
        return Violation("max_flash_loan", f"flash loan {usd} USD > {lim.max_flash_loan_usd} USD")
    return None


def _gas_price(x: Inputs, lim: Limits) -> Violation | None:
    if x.gas_price_wei > lim.max_gas_price:
        return Violation("max_gas_price", f"gas price {x.gas_price_wei} wei > {lim.max_gas_price}")
    return None


def _gas_budget(x: Inputs, lim: Limits) -> Violation | None:
    total = x.gas_spent_hour_wei + x.opp.gas_estimate * x.gas_price_wei
    if total > lim.max_gas_spend_per_hour:
        detail = f"gas this hour would reach {total} wei > {lim.max_gas_spend_per_hour}"
        return Violation("gas_budget_hour", detail)
    return None


def _min_profit(x: Inputs, lim: Limits) -> Violation | None:
    net = net_profit_wei(x.opp, x.gas_price_wei)
    if net < lim.min_profit:
        return Violation("min_profit", f"profit after gas {net} wei < {lim.min_profit} wei")
    return None


def _slippage(x: Inputs, lim: Limits) -> Violation | None:
    """The plan's min_profit is the executor's revert line: it must not leave more room below
    the expected profit than max_slippage_bps allows."""
    floor, expected = x.opp.plan.min_profit, x.opp.expected_profit
    if floor * BPS < expected * (BPS - lim.max_slippage_bps):
        room = slippage_bps(expected, floor)
        detail = f"min_profit {floor} leaves {room} bps below {expected} > {lim.max_slippage_bps}"
        return Violation("max_slippage", detail)
    return None


CHECKS: tuple[Callable[[Inputs, Limits], Violation | None], ...] = (
    _notional,
    _flash_loan,
    _gas_price,
    _gas_budget,
    _min_profit,
    _slippage,
)


def check_limits(inputs: Inputs, limits: Limits) -> Violation | None:
    """The first limit the opportunity breaks, or None."""
    for check in CHECKS:
        violation = check(inputs, limits)
        if violation is not None:
            return violation
    return None
