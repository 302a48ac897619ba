"""Emergency exit on the devnet: a real TallyExecutor holding several tokens and ETH is emptied
to its owner, and the global breaker is tripped (function and CLI; dev account and keystore)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

from tallyio.chain import build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.core.clock import FixedClock
from tallyio.core.plan import ZERO_ADDRESS
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.execution.keystore import LIGHT_SCRYPT_N, Keystore, SecretKey
from tallyio.risk import GLOBAL, RiskStore
from tallyio.risk.emergency import DevAccountSender, EmergencyError, emergency_exit

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

TALLYIO = [sys.executable, "-m", "tallyio.cli"]
FUNDING = {"USDC": 12_345 * 10**6, "DAI": 7 * 10**18, "WBTC": 3 * 10**8, "WETH": 5 * 10**18}
ETH_HELD = 10**17
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def built() -> None:
    forge_build()


def _deploy_funded(chain: Devnet, owner: str) -> tuple[str, dict[str, str]]:
    """A TallyExecutor owned by `owner`, holding FUNDING and some ETH; (address, tokens)."""
    ctx, weth = chain.context(), chain.manifest["tokens"]["WETH"]
    searcher = chain.account("searcher")
    executor = chain.d.deploy(load_forge_artifact("TallyExecutor"), owner, weth, sender=searcher)
    for symbol, amount in FUNDING.items():
        ctx.fund(symbol, executor.address, amount)
    chain.d.set_balance(executor.address, ETH_HELD)  # receive() only takes WETH's ETH
    return executor.address, {s: chain.manifest["tokens"][s] for s in FUNDING}


def _balance(chain: Devnet, token: str, holder: str) -> int:
    return int(chain.context().tokens[token].functions.balanceOf(holder).call())


def _balances(chain: Devnet, holder: str) -> dict[str, int]:
    return {s: _balance(chain, s, holder) for s in FUNDING}


def _eth(chain: Devnet, holder: str) -> int:
    return int(chain.d.rpc("eth_getBalance", holder, "latest"), 16)


def _fees_paid(chain: Devnet, tx_hashes: list[str]) -> int:
    total = 0
    for tx_hash in tx_hashes:
        receipt = chain.d.rpc("eth_getTransactionReceipt", tx_hash)
        total += int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    return total


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*TALLYIO, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=120)  # fmt: skip


def _assert_emptied(chain: Devnet, executor: str, owner: str, before: dict[str, int]) -> None:
    assert _balances(chain, executor) == dict.fromkeys(FUNDING, 0)
    assert _eth(chain, executor) == 0
    after = _balances(chain, owner)
    assert {s: after[s] - before[s] for s in FUNDING} == FUNDING


async def test_emergency_exit_empties_the_executor_and_trips_the_breaker(
    chain: Devnet, built: None, tmp_path: Path
) -> None:
    owner = chain.account("searcher")
    executor, tokens = _deploy_funded(chain, owner)
    before, eth_before = _balances(chain, owner), _eth(chain, owner)
    store = RiskStore(tmp_path / "state")
    client = build_client(chain.rpc_url, retry_policy=RetryPolicy(attempts=1),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    try:
        report = await emergency_exit(client, executor, tokens.values(), DevAccountSender(owner),
                                      store, FixedClock(1_000.0))  # fmt: skip
    finally:
        await client.close()
    _assert_emptied(chain, executor, owner, before)
    assert report.emptied and report.owner == owner
    moved = {w.token.lower(): w.amount for w in report.withdrawals}
    assert moved == {**{tokens[s].lower(): a for s, a in FUNDING.items()}, ZERO_ADDRESS: ETH_HELD}
    fees = _fees_paid(chain, [w.tx_hash for w in report.withdrawals])
    assert _eth(chain, owner) == eth_before + ETH_HELD - fees
    (trip,) = store.trips()
    assert (trip.scope, trip.reason) == (GLOBAL, "emergency_exit")


def test_cli_exit_then_operator_reset(chain: Devnet, built: None, tmp_path: Path) -> None:
    owner = chain.account("searcher")
    executor, tokens = _deploy_funded(chain, owner)
    before = _balances(chain, owner)
    state = str(tmp_path / "state")
    token_args = [a for s in ("USDC", "DAI", "WBTC") for a in ("--token", tokens[s])]
    # WETH comes from the risk config's sweep_tokens for this chain.
    risk_config = tmp_path / "risk.toml"
    devnet_toml = Path(__file__).resolve().parents[2] / "config" / "risk" / "devnet.toml"
    risk_config.write_text(devnet_toml.read_text() + f'sweep_tokens = ["{tokens["WETH"]}"]\n')
    (tmp_path / "manifest.json").write_text(json.dumps(chain.manifest))
    done = _cli("emergency-exit", "--rpc", chain.rpc_url, "--executor", executor, *token_args,
                "--risk-config", str(risk_config), "--devnet-account", "searcher",
                "--manifest", str(tmp_path / "manifest.json"), "--state-dir", state, "--json",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert len(report["withdrawals"]) == len(FUNDING) + 1  # and ETH
    _assert_emptied(chain, executor, owner, before)

    status = json.loads(_cli("risk", "status", "--state-dir", state, "--json", cwd=tmp_path).stdout)
    assert status["tripped"] and status["trips"][0]["reason"] == "emergency_exit"
    assert status["trips"][0]["global"]
    human = _cli("risk", "status", "--state-dir", state, cwd=tmp_path).stdout
    assert "everything" in human and "emergency_exit" in human
    # A second run finds nothing left: exit code 0, no withdrawals.
    again = _cli("emergency-exit", "--rpc", chain.rpc_url, "--executor", executor, *token_args,
                 "--state-dir", state, "--json", cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["withdrawals"] == []

    reset = json.loads(_cli("risk", "reset", "--all", "--state-dir", state, "--json",
                            cwd=tmp_path).stdout)  # fmt: skip
    assert [t["scope"] for t in reset["reset"]] == [GLOBAL]
    status = json.loads(_cli("risk", "status", "--state-dir", state, "--json", cwd=tmp_path).stdout)
    assert status == {"tripped": False, "trips": []}


def test_cli_exit_signed_with_a_keystore_key(chain: Devnet, built: None, tmp_path: Path) -> None:
    keys = Keystore(tmp_path / "keys", scrypt_n=LIGHT_SCRYPT_N)
    owner = keys.import_key(SecretKey.generate(), PASSWORD)
    chain.d.set_balance(owner, 10**18)  # gas money for the signed withdrawals
    executor, tokens = _deploy_funded(chain, owner)
    before = _balances(chain, owner)
    state = str(tmp_path / "state")
    token_args = [a for t in tokens.values() for a in ("--token", t)]
    common = ["--rpc", chain.rpc_url, "--executor", executor, *token_args, "--state-dir", state,
              "--keystore-dir", str(keys.directory), "--json"]  # fmt: skip

    wrong = _cli("emergency-exit", *common, "--keystore", owner, "--password-env", "PW",
                 cwd=tmp_path, env={"PW": "not it"})  # fmt: skip
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    done = _cli("emergency-exit", *common, "--keystore", owner, "--password-env", "PW",
                cwd=tmp_path, env={"PW": PASSWORD})  # fmt: skip
    assert done.returncode == 0, done.stderr
    _assert_emptied(chain, executor, owner, before)
    assert json.loads(done.stdout)["sender"] == owner
    store = RiskStore(state)
    assert [t.reason for t in store.trips()] == ["emergency_exit"]


async def test_only_the_owner_can_exit(chain: Devnet, built: None, tmp_path: Path) -> None:
    executor, tokens = _deploy_funded(chain, chain.account("searcher"))
    store = RiskStore(tmp_path / "state")
    client = build_client(chain.rpc_url, retry_policy=RetryPolicy(attempts=1),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    try:
        with pytest.raises(EmergencyError, match="not the executor's owner"):
            await emergency_exit(client, executor, tokens.values(),
                                 DevAccountSender(chain.account("deployer")), store,
                                 FixedClock(0.0))  # fmt: skip
    finally:
        await client.close()
    assert [t.scope for t in store.trips()] == [GLOBAL]  # it stopped sending all the same
    assert _balance(chain, "USDC", executor) == FUNDING["USDC"]
