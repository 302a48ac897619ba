"""`tallyio devnet up --json` prints the manifest; `tallyio devnet down` leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tallyio.devnet.node import pid_alive, rpc_call

pytestmark = pytest.mark.devnet

TOP_KEYS = {
    *("rpc_url", "ws_url", "chain_id", "pid", "accounts", "tokens", "borrowers"),
    *("uniswap_v2", "uniswap_v3", "aave_v3", "balancer_v2", "venus"),
}


def tallyio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tallyio.cli", *args], capture_output=True, text=True, timeout=180
    )


def test_up_prints_manifest_and_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "devnet"
    up = tallyio("devnet", "up", "--json", "--state-dir", str(state))
    assert up.returncode == 0, up.stderr
    manifest = json.loads(up.stdout)
    try:
        assert manifest.keys() >= TOP_KEYS
        assert json.loads((state / "manifest.json").read_text()) == manifest
        assert manifest["rpc_url"].startswith("http://127.0.0.1:")
        assert manifest["ws_url"].startswith("ws://127.0.0.1:")
        assert int(str(rpc_call(manifest["rpc_url"], "eth_chainId")), 16) == manifest["chain_id"]
        assert {"factory", "router", "quoter", "pools"} <= manifest["uniswap_v3"].keys()
        assert {"pool", "addresses_provider", "data_provider", "oracle", "price_feeds"} <= manifest[
            "aave_v3"
        ].keys()
        assert {"vault", "pools"} <= manifest["balancer_v2"].keys()
        assert {"comptroller", "vtokens", "oracle"} <= manifest["venus"].keys()
        assert len(manifest["uniswap_v2"]) == 2
        assert manifest["borrowers"]["aave_v3"] and manifest["borrowers"]["venus"]
        assert pid_alive(manifest["pid"])

        again = tallyio("devnet", "up", "--state-dir", str(state))
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        down = tallyio("devnet", "down", "--json", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {"stopped": True, "pid": manifest["pid"]}
    assert not pid_alive(manifest["pid"])
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    port = manifest["rpc_url"].rsplit(":", 1)[1]
    assert f"--port {port}" not in ps


def test_down_without_devnet_is_a_clear_no_op(tmp_path: Path) -> None:
    down = tallyio("devnet", "down", "--state-dir", str(tmp_path))
    assert down.returncode == 0
    assert "no devnet" in down.stdout


def test_unknown_protocol_is_a_clear_error(tmp_path: Path) -> None:
    up = tallyio("devnet", "up", "--only", "uniswap_v9", "--state-dir", str(tmp_path))
    assert up.returncode == 1
    assert "unknown protocol 'uniswap_v9'" in up.stderr
    assert not (tmp_path / "anvil.pid").exists()
