"""TallyExecutor against the real protocols on the devnet.

Runs the forge fork suite (contracts/test/TallyExecutorFork.t.sol: Aave V3 and Venus liquidations
from every flash source) against the session devnet, and drives the deployed contract with
calldata built by tallyio.core.plan, so the Python encoder and the contract agree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import decode
from eth_utils import keccak
from web3.contract import Contract

from tallyio.core.plan import (
    EXECUTE_SELECTOR,
    EXECUTE_SIGNATURE,
    AaveLiquidation,
    FlashLoan,
    FlashSource,
    Plan,
    UniswapV2Swap,
    encode_plan,
)
from tallyio.devnet.deployer import DeployError, load_forge_artifact
from tallyio.paths import contracts_dir, foundry_bin

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

FORK_SUITE = "TallyExecutorForkTest"
USDC = 10**6
SHOCKED_ETH_USD_8 = 1_900 * 10**8  # tips aave borrower 0 (10 WETH vs 15,800 USDC) over


def _selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


# -- the forge suite ----------------------------------------------------------------------------
def test_forge_fork_suite_passes_on_the_devnet(devnet: Devnet) -> None:
    """Forks the devnet inside forge; the fork is local, so the devnet itself is not changed."""
    env = {**os.environ, "TALLYIO_DEVNET_MANIFEST_JSON": json.dumps(devnet.manifest)}
    proc = subprocess.run(
        [str(foundry_bin("forge")), "test", "--match-contract", FORK_SUITE, "-vv"],
        cwd=contracts_dir(), env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    summary = re.search(r"(\d+) tests passed, (\d+) failed, (\d+) skipped", out)
    assert summary is not None, out
    passed, failed, skipped = (int(n) for n in summary.groups())
    assert (failed, skipped) == (0, 0), out
    assert passed >= 12, out  # every test ran: none was skipped for want of a devnet


# -- plan.py calldata against the deployed contract ---------------------------------------------
def _deploy(chain: Devnet) -> Contract:
    searcher = chain.account("searcher")
    artifact = load_forge_artifact("TallyExecutor")
    weth = chain.manifest["tokens"]["WETH"]
    return chain.d.deploy(artifact, searcher, weth, sender=searcher)


def _liquidation(manifest: dict[str, Any], min_profit: int) -> Plan:
    """Flash 5,000 USDC from Balancer, liquidate aave borrower 0, sell the WETH on Uniswap V2."""
    tokens, venue = manifest["tokens"], manifest["uniswap_v2"][0]
    weth, usdc, pair = tokens["WETH"], tokens["USDC"], venue["pairs"][0]
    assert {pair["symbol0"], pair["symbol1"]} == {"WETH", "USDC"}
    borrower = manifest["borrowers"]["aave_v3"][0]
    liquidate = AaveLiquidation(manifest["aave_v3"]["pool"], weth, usdc, borrower)
    sell = UniswapV2Swap(pair["address"], weth, usdc, fee_bps=venue["fee_bps"])
    loan = FlashLoan(FlashSource.BALANCER, manifest["balancer_v2"]["vault"], usdc, 5_000 * USDC)
    return Plan((liquidate, sell), usdc, min_profit, loan)


def _call(chain: Devnet, executor: Contract, plan: Plan, sender: str) -> bytes:
    tx = {"from": sender, "to": executor.address, "data": "0x" + encode_plan(plan).hex()}
    return bytes.fromhex(str(chain.d.rpc("eth_call", tx, "latest"))[2:])


def test_selector_matches_the_built_contract() -> None:
    artifact = json.loads(
        (contracts_dir() / "out" / "TallyExecutor.sol" / "TallyExecutor.json").read_text()
    )
    assert artifact["methodIdentifiers"][EXECUTE_SIGNATURE] == EXECUTE_SELECTOR.hex()


def test_plan_calldata_runs_a_flash_liquidation(chain: Devnet) -> None:
    ctx, searcher = chain.context(), chain.account("searcher")
    executor = _deploy(chain)
    ctx.d.send(ctx.feeds["WETH"].functions.setAnswer(SHOCKED_ETH_USD_8), sender=ctx.deployer)
    plan = _liquidation(chain.manifest, 300 * USDC)
    (simulated,) = decode(["uint256"], _call(chain, executor, plan, searcher))
    calldata = "0x" + encode_plan(plan).hex()
    receipt = chain.d.send_raw_call(executor.address, calldata, sender=searcher)
    kept = ctx.tokens["USDC"].functions.balanceOf(executor.address).call()
    assert kept == simulated >= 300 * USDC  # exact: no time-dependent step in this route
    assert int(receipt["gasUsed"], 16) < 700_000


def test_failing_plans_revert_with_the_contracts_errors(chain: Devnet) -> None:
    ctx, searcher = chain.context(), chain.account("searcher")
    executor = _deploy(chain)
    ctx.d.send(ctx.feeds["WETH"].functions.setAnswer(SHOCKED_ETH_USD_8), sender=ctx.deployer)
    with pytest.raises(DeployError, match=_selector("NotProfitable(int256,uint256)")):
        _call(chain, executor, _liquidation(chain.manifest, 10_000 * USDC), searcher)
    with pytest.raises(DeployError, match=_selector("Unauthorized()")):
        _call(chain, executor, _liquidation(chain.manifest, 0), chain.account("trader"))
