"""`tallyio demo` (what `make demo` runs): a devnet, the engine live on it, prices falling step
by step, then pools dislocated one at a time; both lending markets' borrowers liquidated and the
dislocations arbitraged by the engine; nothing left running."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tallyio.devnet.node import pid_alive

pytestmark = [pytest.mark.devnet, pytest.mark.slow]


def test_demo_json_reports_deployment_and_shutdown() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tallyio.cli", "demo", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["borrowers"]) == 10
    assert not any(b["liquidatable"] for b in report["borrowers"])
    assert len(report["steps"]) == 5
    for name in ("aave_v3_liquidation", "venus_liquidation"):
        tally = report["strategies"][name]
        assert tally["landed"] >= 2 and tally["failed"] == 0, tally
        assert all(int(v) > 0 for v in tally["profit"].values()), tally
    assert len(report["dislocations"]) == 4
    arbitrage = report["strategies"]["arbitrage"]
    assert arbitrage["landed"] >= 2 and arbitrage["profit_usd"] > 0, arbitrage
    backrun = report["strategies"]["backrun"]  # the pending swap, backrun through the relay
    assert backrun["landed"] == 1 and backrun["profit_usd"] > 0, backrun
    (ours,) = [t for t in report["trades"] if t["strategy"] == "backrun"]
    assert ours["leading_tx"] == report["backrun"]["user_tx"].lower()
    assert not [t for t in report["trades"] if t["result"]["status"] == "reverted"]
    landed = [t for t in report["trades"] if t["result"]["status"] == "included"]
    by_tx: dict[str, int] = {}  # a batch's parts share one transaction: its profit is theirs
    for t in landed:
        tx = t["result"]["tx_hash"]
        by_tx[tx] = by_tx.get(tx, 0) + int(t["result"]["realised_profit"])
    assert landed and all(profit > 0 for profit in by_tx.values()), by_tx
    assert report["left_running"] is False
    assert not pid_alive(report["stopped_pid"])


def test_demo_text_is_readable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tallyio.cli", "demo"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for heading in (
        "Tokens",
        "DEXes",
        "Lending",
        "Seeded borrowers",
        "LANDED",
        "Summary",
        "aave_v3_liquidation",
        "venus_liquidation",
        "random dislocations",
        "arbitrage",
        "the engine backruns it in a bundle",
        "backrun",
        "devnet stopped",
    ):
        assert heading in out.stdout
    assert "[tallyio]" in out.stderr  # progress goes to stderr
