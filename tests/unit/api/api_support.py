"""Shared by the API tests: one key per role, a JWT secret, and a journal's worth of rows."""

from __future__ import annotations

from tallyio.api.auth import Role
from tallyio.core.clock import FixedClock
from tallyio.journal import JournalStore

KEYS = {Role.VIEWER: "tio_viewer-key", Role.OPERATOR: "tio_operator-key", Role.ADMIN: "tio_admin"}
SECRET = b"s" * 32
DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
BIG = 3 * 10**30  # past 2**64: must come back exact


def headers(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def fill(journal: JournalStore, clock: FixedClock) -> None:
    """Two days of journal: arbitrage (paper, then a mined public trade) and a liquidation."""
    journal.record_opportunity("arb-1", block=10, strategy="arbitrage", expected_profit=500)
    journal.record_decision("arb-1", stage="risk", approved=True)
    journal.record_simulation("arb-1", block=10, success=True, profit=480, gas_used=150_000,
                              payload={"strategy": "arbitrage", "net_profit": 400})  # fmt: skip
    journal.record_submission("arb-1", mode="paper", status="simulated")
    clock.advance(DAY)
    journal.record_opportunity("liq-1", block=20, strategy="liquidation", expected_profit=BIG)
    journal.record_decision("liq-1", stage="risk", approved=True)
    journal.record_simulation("liq-1", block=20, success=True, profit=BIG, gas_used=300_000,
                              payload={"strategy": "liquidation"})  # fmt: skip
    journal.record_submission("liq-1", mode="public", status="sent", tx_hash="0xAB", nonce=3)
    journal.record_inclusion("liq-1", status="included", tx_hash="0xab", block=21,
                             gas_used=290_000, realised_profit=BIG,
                             payload={"net_profit": BIG - 7})  # fmt: skip
    journal.record_opportunity("arb-2", block=22, strategy="arbitrage", expected_profit=90)
    journal.record_decision("arb-2", stage="risk", approved=False, reason="below min profit")
