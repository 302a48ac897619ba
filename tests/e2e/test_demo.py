"""`tallyio demo` (what `make demo` runs) brings a devnet up, moves prices and leaves nothing."""

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
    counts = [len(step["liquidatable"]) for step in report["steps"]]
    assert counts == sorted(counts) and counts[-1] > counts[0] > 0
    assert report["left_running"] is False
    assert not pid_alive(report["stopped_pid"])


def test_demo_text_is_readable() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tallyio.cli", "demo"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for heading in ("Tokens", "DEXes", "Lending", "Seeded borrowers", "devnet stopped"):
        assert heading in out.stdout
    assert "[tallyio]" in out.stderr  # progress goes to stderr
