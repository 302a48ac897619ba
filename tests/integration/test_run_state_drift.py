"""`tallyio run` when the market state falls out of step with the chain: a clear stop, nothing
journaled lost, and a restart that loads a fresh snapshot and goes on.

On the devnet, through a chain config (the market discovered on chain, as on mainnet): while the
engine follows the chain, the Aave oracle's admin points WBTC at a feed deployed before the
run's snapshot, whose answer the state never saw. Guessing that price would size liquidations
on a wrong health factor, so the run must stop, say why and how to recover, with the blocks it
followed still in the journal; started again, discovery finds the new source and goes on.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_run_chain_config import ROOT, TALLYIO, run_args, tallyio, write_config

from tallyio.app.runner import deploy_executor
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.devnet.scenarios import block_time
from tallyio.state.position_loader import calldata

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet


def _journaled_blocks(journal: Path) -> list[int]:
    if not journal.exists():
        return []
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            return [int(r[0]) for r in db.execute("SELECT block FROM events ORDER BY block")]
    except sqlite3.OperationalError:  # not created yet
        return []


def _wait(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_unknown_price_source_stops_the_run_clearly_and_a_restart_goes_on(
    chain: Devnet, tmp_path: Path
) -> None:
    m = chain.manifest
    executor = deploy_executor(m)
    app = write_config(tmp_path, m)
    journal = tmp_path / "state" / "localnode" / "journal.db"  # --state-dir / the chain's name
    # a feed that answered before the run's snapshot: the state never sees that answer
    feed = chain.d.deploy(load_forge_artifact("SettableFeed"), 8, "WBTC / USD b", 61_000 * 10**8)
    block_time(chain.d, 1)
    args = run_args(app, tmp_path, executor, "--paper")
    args[args.index("--blocks") + 1] = "120"  # until it stops by itself
    proc = subprocess.Popen([TALLYIO, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait(lambda: len(_journaled_blocks(journal)) >= 2, 60, "the run to follow blocks")
        wbtc, oracle = m["tokens"]["WBTC"], m["aave_v3"]["oracle"]
        data = calldata("setAssetSources(address[],address[])", [wbtc], [feed.address])
        chain.d.send_raw_call(oracle, "0x" + data.hex())
        changed = chain.d.block_number()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        block_time(chain.d, 0)
    assert proc.returncode == 1, (out, err)
    assert "fell out of step with the chain" in err and "AaveOracle moved" in err, err
    assert "restart to load a fresh snapshot" in err and "Traceback" not in err, err
    followed = _journaled_blocks(journal)
    assert followed and max(followed) < changed  # what it followed before the change is kept

    block_time(chain.d, 1)
    try:
        again = tallyio(*run_args(app, tmp_path, executor, "--paper"))
    finally:
        block_time(chain.d, 0)
    assert again.returncode == 0, again.stderr  # discovery found the new source
    assert max(_journaled_blocks(journal)) > changed
