"""`tallyio health` in a subprocess against the devnet: every Aave HF equals getUserAccountData's,
every Venus HF agrees with getAccountLiquidity's shortfall; clear errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tallyio.state.position_loader import calldata

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tallyio.health_cli", "health", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _call(chain: Devnet, to: str, sig: str, *args: Any) -> list[int]:
    raw = chain.d.rpc("eth_call", {"to": to, "data": "0x" + calldata(sig, *args).hex()}, "latest")
    data = bytes.fromhex(raw[2:])
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


def test_aave_health_matches_get_user_account_data(chain: Devnet) -> None:
    pool = chain.manifest["aave_v3"]["pool"]
    out = _cli("--rpc", chain.rpc_url, "--protocol", "aave_v3", "--market", pool, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    borrowers = {b.lower() for b in chain.manifest["borrowers"]["aave_v3"]}
    assert borrowers <= {r["account"] for r in rows}
    hfs = [int(r["health_factor"]) for r in rows]
    assert hfs == sorted(hfs)
    for r in rows:
        coll, debt, _, _, _, hf = _call(chain, pool, "getUserAccountData(address)", r["account"])
        assert (int(r["health_factor"]), int(r["collateral_base"]), int(r["debt_base"])) == (
            hf, coll, debt)  # fmt: skip


def test_venus_health_matches_account_liquidity(chain: Devnet) -> None:
    comptroller = chain.manifest["venus"]["comptroller"]
    out = _cli("--rpc", chain.rpc_url, "--protocol", "venus", "--market", comptroller, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {b.lower() for b in chain.manifest["borrowers"]["venus"]} <= {r["account"] for r in rows}
    for r in rows:
        _, liquidity, shortfall = _call(
            chain, comptroller, "getAccountLiquidity(address)", r["account"]
        )
        coll, debt = int(r["collateral_base"]), int(r["debt_base"])
        assert (max(coll - debt, 0), max(debt - coll, 0)) == (liquidity, shortfall)
        assert (int(r["health_factor"]) < 10**18) == (shortfall > 0)


def test_below_filter_and_table(chain: Devnet) -> None:
    pool = chain.manifest["aave_v3"]["pool"]
    out = _cli("--rpc", chain.rpc_url, "--protocol", "aave_v3", "--market", pool, "--below", "1.05")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("account")
    assert all(float(line.split()[1]) < 1.05 for line in lines[1:])


def test_clear_errors(chain: Devnet) -> None:
    pool = chain.manifest["aave_v3"]["pool"]
    wrong = _cli("--rpc", chain.rpc_url, "--protocol", "venus", "--market", pool)
    assert wrong.returncode == 2 and "venus market" in wrong.stderr
    down = _cli("--rpc", "http://127.0.0.1:9", "--protocol", "aave_v3", "--market", pool)
    assert down.returncode == 3 and "cannot reach the RPC" in down.stderr
