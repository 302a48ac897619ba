"""Each limit rejects just over and passes at its value; strategy entries override chain ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from risk_helpers import GWEI, Rig, opportunity, rig

from tallyio.core.opportunity import ETH
from tallyio.risk import RiskDecision


@pytest.fixture
def r(tmp_path: Path) -> Rig:
    return rig(tmp_path)


def _ok(decision: RiskDecision) -> None:
    assert decision.approved, decision
    assert decision.reason == "" and decision.detail == ""


def _no(decision: RiskDecision, reason: str) -> None:
    assert not decision.approved
    assert decision.reason == reason, decision
    assert decision.detail


def test_max_notional(r: Rig) -> None:
    _ok(r.gate.check(opportunity(notional_usd=100_000), gas_price_wei=GWEI))
    _no(r.gate.check(opportunity(notional_usd=100_001), gas_price_wei=GWEI), "max_notional")


def test_max_flash_loan(r: Rig) -> None:
    _ok(r.gate.check(opportunity(flash_loan_usd=500_000), gas_price_wei=GWEI))
    _no(r.gate.check(opportunity(flash_loan_usd=500_001), gas_price_wei=GWEI), "max_flash_loan")
    # A plan that borrows without saying how much in USD is an unknown risk.
    _no(r.gate.check(opportunity(flash_loan_usd=0), gas_price_wei=GWEI), "max_flash_loan")


def test_max_gas_price_from_the_chain_entry(r: Rig) -> None:
    _ok(r.gate.check(opportunity(), gas_price_wei=50 * GWEI))  # [chains.ethereum]
    _no(r.gate.check(opportunity(), gas_price_wei=50 * GWEI + 1), "max_gas_price")
    # Elsewhere the global limit applies.
    _ok(r.gate.check(opportunity(chain_id=56), gas_price_wei=100 * GWEI))
    _no(r.gate.check(opportunity(chain_id=56), gas_price_wei=100 * GWEI + 1), "max_gas_price")


def test_gas_budget_per_hour(r: Rig) -> None:
    cost = 100_000 * 10 * GWEI  # this opportunity's gas at 10 gwei
    budget = ETH // 10
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=ETH,
                         gas_spent_wei=budget - cost)  # fmt: skip
    _ok(r.gate.check(opportunity(), gas_price_wei=10 * GWEI))  # reaches the budget exactly
    r.gate.record_result("liquidation", 1, success=True, net_profit_wei=ETH, gas_spent_wei=1)
    _no(r.gate.check(opportunity(), gas_price_wei=10 * GWEI), "gas_budget_hour")
    # The budget is per strategy and chain ...
    _ok(r.gate.check(opportunity(strategy="other"), gas_price_wei=10 * GWEI))
    _ok(r.gate.check(opportunity(chain_id=56), gas_price_wei=10 * GWEI))
    # ... and over the trailing hour.
    r.clock.advance(3600.5)
    _ok(r.gate.check(opportunity(), gas_price_wei=10 * GWEI))


def test_min_profit_after_gas(r: Rig) -> None:
    gas_cost = 100_000 * 10 * GWEI
    at_limit = ETH // 100 + gas_cost  # 0.01 ether after gas
    _ok(r.gate.check(opportunity(expected_profit=at_limit), gas_price_wei=10 * GWEI))
    _no(r.gate.check(opportunity(expected_profit=at_limit - 1), gas_price_wei=10 * GWEI),
        "min_profit")  # fmt: skip
    # The same profit fails at a higher gas price: gas is counted.
    _no(r.gate.check(opportunity(expected_profit=at_limit), gas_price_wei=10 * GWEI + 1),
        "min_profit")  # fmt: skip


def test_min_profit_in_another_profit_token(r: Rig) -> None:
    """A USDC-profit opportunity: profit converts to wei through eth_price (exact integers)."""
    usdc_per_eth = 2_000 * 10**6
    expected = 20 * 10**6 + 200_000  # 0.01 ether = 20 USDC, plus gas 0.0001 ether = 0.2 USDC
    base = opportunity()
    plan = replace(base.plan, min_profit=expected)
    opp = replace(base, expected_profit=expected, eth_price=usdc_per_eth, plan=plan)
    _ok(r.gate.check(opp, gas_price_wei=GWEI))
    _no(r.gate.check(replace(opp, expected_profit=opp.expected_profit - 1), gas_price_wei=GWEI),
        "min_profit")  # fmt: skip


def test_max_slippage_of_the_plan_floor(r: Rig) -> None:
    expected = ETH // 10
    floor = expected * 9_800 // 10_000  # 200 bps below: allowed
    _ok(r.gate.check(opportunity(expected_profit=expected, min_profit=floor), gas_price_wei=GWEI))
    _no(r.gate.check(opportunity(expected_profit=expected, min_profit=floor - 1),
                     gas_price_wei=GWEI), "max_slippage")  # fmt: skip


def test_strategy_entries_override_chain_and_global(r: Rig) -> None:
    arb = {"strategy": "arbitrage", "expected_profit": ETH // 10}
    _ok(r.gate.check(opportunity(**arb, notional_usd=10_000), gas_price_wei=GWEI))
    _no(r.gate.check(opportunity(**arb, notional_usd=10_001), gas_price_wei=GWEI), "max_notional")
    _ok(r.gate.check(opportunity(notional_usd=10_001), gas_price_wei=GWEI))  # other strategy
    # min_profit 0.02 ether for arbitrage, 0.01 for the rest
    low = {"expected_profit": ETH // 100 + 100_000 * GWEI}
    _ok(r.gate.check(opportunity(**low), gas_price_wei=GWEI))
    _no(r.gate.check(opportunity(strategy="arbitrage", **low), gas_price_wei=GWEI), "min_profit")
    # strategy-on-chain: arbitrage on bsc allows 5 gwei, where the chain allows 100
    _ok(r.gate.check(opportunity(**arb, chain_id=56), gas_price_wei=5 * GWEI))
    _no(r.gate.check(opportunity(**arb, chain_id=56), gas_price_wei=5 * GWEI + 1),
        "max_gas_price")  # fmt: skip
    _ok(r.gate.check(opportunity(chain_id=56), gas_price_wei=5 * GWEI + 1))
    # strategy beats chain: arbitrage on ethereum still has the chain's 50 gwei (not overridden)
    _no(r.gate.check(opportunity(**arb), gas_price_wei=50 * GWEI + 1), "max_gas_price")
