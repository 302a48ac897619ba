"""`tallyio risk status|reset`: an operator in another process sees and clears what the engine
tripped (the risk state file is the only channel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tallyio.cli import main
from tallyio.core.clock import FixedClock
from tallyio.risk import GLOBAL, RiskStore
from tallyio.risk.store import Trip


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_status_and_reset_one_strategy_then_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path)
    store = RiskStore(tmp_path)
    now = FixedClock(1_000.0).now()
    store.trip(Trip("arbitrage", "failures", "3 failed transactions", now))
    store.trip(Trip(GLOBAL, "head_lag", "node 9 blocks behind", now))

    status = json.loads(_run(capsys, "risk", "status", "--state-dir", state, "--json"))
    assert status["tripped"] and {t["scope"] for t in status["trips"]} == {"arbitrage", GLOBAL}
    assert "strategy arbitrage" in _run(capsys, "risk", "status", "--state-dir", state)

    out = json.loads(_run(capsys, "risk", "reset", "--strategy", "arbitrage", "--state-dir",
                          state, "--json"))  # fmt: skip
    assert [t["scope"] for t in out["reset"]] == ["arbitrage"]
    assert [t.scope for t in store.trips()] == [GLOBAL]  # the engine's store sees it at once
    assert "reset everything" in _run(capsys, "risk", "reset", "--all", "--state-dir", state)
    assert "no breaker tripped" in _run(capsys, "risk", "status", "--state-dir", state)


def test_reset_needs_a_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["risk", "reset"])
    assert "--strategy" in capsys.readouterr().err
