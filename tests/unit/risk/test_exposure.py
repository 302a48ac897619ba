"""Exposure: inventory-funded plans reserve their input; limits and known inventory cap it."""

from __future__ import annotations

from pathlib import Path

import pytest
from risk_helpers import GWEI, USDC, WETH, Rig, opportunity, rig

from tallyio.core.opportunity import ETH
from tallyio.core.plan import ALL_BALANCE
from tallyio.risk import Exposure, ExposureError, ExposureLimit, inventory_spend


@pytest.fixture
def r(tmp_path: Path) -> Rig:
    return rig(tmp_path)


def test_inventory_spend_reads_the_first_action() -> None:
    assert inventory_spend(opportunity().plan) is None  # flash loan: nothing of ours
    assert inventory_spend(opportunity(loan_amount=0, amount_in=7).plan) == (WETH, 7)


def test_gate_reserves_up_to_the_limit_and_releases(r: Rig) -> None:
    own = {"loan_amount": 0, "flash_loan_usd": 0}
    full = r.gate.check(opportunity(**own, amount_in=10 * ETH), gas_price_wei=GWEI)
    assert full.approved and full.reservation is not None
    assert full.reservation.amount == 10 * ETH
    assert r.gate.exposure.in_flight(1, WETH) == 10 * ETH
    over = r.gate.check(opportunity(**own, amount_in=1), gas_price_wei=GWEI)
    assert (over.approved, over.reason) == (False, "exposure")
    r.gate.release(full.reservation)
    assert r.gate.exposure.in_flight(1, WETH) == 0
    again = r.gate.check(opportunity(**own, amount_in=10 * ETH + 1), gas_price_wei=GWEI)
    assert (again.approved, again.reason) == (False, "exposure")
    # Flash-loan plans do not touch inventory.
    assert r.gate.check(opportunity(), gas_price_wei=GWEI).reservation is None


def test_a_token_without_a_limit_cannot_fund_a_trade(r: Rig) -> None:
    opp = opportunity(loan_amount=0, flash_loan_usd=0, chain_id=56)
    decision = r.gate.check(opp, gas_price_wei=GWEI)
    assert (decision.approved, decision.reason) == (False, "exposure")
    assert "no exposure limit" in decision.detail


def test_known_inventory_caps_reservations_and_settle_updates_it() -> None:
    book = Exposure([ExposureLimit(1, USDC, 1_000)])
    book.set_inventory(1, USDC, 600)
    first = book.reserve(1, USDC, 400)
    assert book.refusal(1, USDC, 200) == ""
    assert "only 600 held" in book.refusal(1, USDC, 201)
    with pytest.raises(ExposureError):
        book.reserve(1, USDC, 201)
    book.settle(first, returned=450)  # spent 400, got 450 back
    assert book.inventory(1, USDC) == 650 and book.in_flight(1, USDC) == 0
    everything = book.reserve(1, USDC.upper().replace("0X", "0x"), ALL_BALANCE)
    assert everything.amount == 650
    with pytest.raises(ValueError, match="not open"):
        book.release(first)
    book.release(everything)
    assert book.in_flight(1, USDC) == 0


def test_whole_balance_needs_a_known_inventory() -> None:
    book = Exposure([ExposureLimit(1, WETH, 10)])
    assert "not known" in book.refusal(1, WETH, ALL_BALANCE)
    book.set_inventory(1, WETH, 11)
    assert "limit 10" in book.refusal(1, WETH, ALL_BALANCE)
