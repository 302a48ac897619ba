"""`tallyio run --api-port 0 --api-keys FILE`: the CLI serves the API beside the engine.

The run is a real subprocess over the devnet (paper mode, --blocks 3). The test reads the URL
it prints, asks /status and /strategies with a viewer key (and is refused without one), mines
the blocks that end the run, and checks the process exits cleanly; it is killed by PID if not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tallyio.api.auth import Role, key_entry
from tallyio.paths import repo_root

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet
KEY = "tio_run-cli-viewer"


def test_run_serves_the_api_beside_the_engine(chain: Devnet, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(chain.manifest))
    config = tmp_path / "devnet.toml"
    config.write_text(f'mode = "paper"\n[devnet]\nmanifest = "{manifest}"\n')
    keys = tmp_path / "keys.toml"
    keys.write_text(key_entry("cli-test", Role.VIEWER, KEY))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tallyio.cli", "run", "--config", str(config), "--paper",
         "--blocks", "3", "--api-port", "0", "--api-keys", str(keys), "--state-dir",
         str(tmp_path), "--journal", str(tmp_path / "journal.db"), "--json"],
        cwd=repo_root(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        while not any("API at" in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"the run ended before serving: {''.join(lines)}"
            lines.append(line)
        url = next(line for line in lines if "API at" in line).split()[2]
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/status").status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        status = httpx.get(f"{url}/status", headers=headers).json()
        assert status["mode"] == "paper" and status["running"] and not status["read_only"]
        names = {s["name"] for s in httpx.get(f"{url}/strategies", headers=headers).json()}
        assert {"aave_v3_liquidation", "venus_liquidation"} <= names
        for _ in range(3):
            chain.d.rpc("evm_mine")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out)["mode"] == "paper"
        assert KEY not in out + err + "".join(lines)  # keys never in output
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
