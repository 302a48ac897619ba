"""Venus core-pool liquidations through Venus's Liquidator contract, as BNB Chain requires.

The devnet deploys the real Liquidator but leaves the comptroller's liquidatorContract unset, so
everything else liquidates directly; each test here sets it (by the comptroller's admin) inside
the `chain` fixture, which reverts it afterwards. Then:
  * the model (split_liquidation_incentive, the treasury's redeem, ours at the rate after it)
    equals real liquidations through the Liquidator to the wei, at several sizes;
  * the strategy's plan through the Liquidator lands with exactly the profit it expected;
  * the direct vToken call is refused by the comptroller (UNAUTHORIZED, the reason);
  * the forge fork suite (contracts/test/TallyExecutorVenusLiquidatorFork.t.sol) passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import decode
from eth_utils import keccak
from test_run_chain_config import chain_toml
from web3.contract import Contract
from web3.logs import DISCARD

from liquidation_optimum import block_context, liquidation_config, load_state
from tallyio.app.chain_market import DiscoveryError, discover_market
from tallyio.app.config import load_chain
from tallyio.app.strategies import build_strategies
from tallyio.chain import ChainClient
from tallyio.chain.reorg import block_from_rpc
from tallyio.core.plan import NO_LOAN, Plan, VenusLiquidation, encode_plan
from tallyio.devnet.deployer import DeployError, load_artifact, load_forge_artifact
from tallyio.devnet.scenarios import price_shock
from tallyio.devnet.venus import vtoken_abi
from tallyio.devnet.venus_liquidator import LIQUIDATOR, set_liquidator_contract
from tallyio.devnet.venus_setup import comptroller_abi
from tallyio.paths import contracts_dir, foundry_bin
from tallyio.protocols import venus
from tallyio.protocols.venus_liquidator import VenusLiquidator, liquidator_seizure
from tallyio.state.graph import PoolGraph
from tallyio.state.position_loader import refs_from_manifest
from tallyio.state.positions import reserve_key
from tallyio.state.store import StateView
from tallyio.strategies.liquidation import VenusLiquidation as VenusStrategy
from tallyio.strategies.liquidation_route import graph_router
from tallyio.strategies.monitored import MonitoredLiquidation

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

USDC = 10**6
SHOCKED_ETH_USD_8 = 1_900 * 10**8  # tips venus borrower 0 (10 WETH vs 15,900 USDC) over
# Deep enough that three liquidations (each cures 9.25% of its repay) leave a shortfall.
DEEP_ETH_USD_8 = 1_700 * 10**8
FAILURE_TOPIC = "0x" + keccak(text="Failure(uint256,uint256,uint256)").hex()
COMPTROLLER_REJECTION = 3  # TokenErrorReporter.Error
UNAUTHORIZED = (
    1  # Comptroller ErrorReporter.Error: liquidateBorrowAllowed's liquidatorContract check
)


def _with_liquidator(chain: Devnet) -> tuple[Contract, VenusLiquidator]:
    v = chain.manifest["venus"]
    comptroller = chain.d.at(comptroller_abi(), v["comptroller"])
    set_liquidator_contract(chain.d, comptroller, v["liquidator"])
    assert comptroller.functions.liquidatorContract().call() == v["liquidator"]
    return comptroller, VenusLiquidator(v["liquidator"].lower(), v["liquidator_treasury_percent"])


def _executor(chain: Devnet) -> Contract:
    searcher = chain.account("searcher")
    weth = chain.manifest["tokens"]["WETH"]
    return chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth, sender=searcher)


def _balance(chain: Devnet, token: str, who: str) -> int:
    data = "0x70a08231" + who[2:].lower().rjust(64, "0")
    return int(chain.d.rpc("eth_call", {"to": token, "data": data}, "latest"), 16)


def _send(chain: Devnet, executor: Contract, plan: Plan) -> tuple[int, dict[str, Any]]:
    """(simulated profit, receipt) of `plan` sent as the searcher."""
    searcher, calldata = chain.account("searcher"), "0x" + encode_plan(plan).hex()
    tx = {"from": searcher, "to": executor.address, "data": calldata}
    (simulated,) = decode(["uint256"], bytes.fromhex(chain.d.rpc("eth_call", tx, "latest")[2:]))
    return simulated, chain.d.send_raw_call(executor.address, calldata, sender=searcher)


def _shock(chain: Devnet, usd_8: int = SHOCKED_ETH_USD_8) -> None:
    ctx = chain.context()
    ctx.d.send(ctx.feeds["WETH"].functions.setAnswer(usd_8), sender=ctx.deployer)


# -- the model against the real Liquidator --------------------------------------------------------
def test_liquidator_split_and_redeems_match_the_model_to_the_wei(chain: Devnet) -> None:
    m, ctx = chain.manifest, chain.context()
    _, liquidator = _with_liquidator(chain)
    _shock(chain, DEEP_ETH_USD_8)
    executor = _executor(chain)
    v = m["venus"]
    v_usdc, v_weth, borrower = (
        v["vtokens"]["USDC"],
        v["vtokens"]["WETH"],
        m["borrowers"]["venus"][0],
    )
    events = chain.d.at(load_artifact(LIQUIDATOR), v["liquidator"]).events
    vusdc = chain.d.at(vtoken_abi(), v_usdc)
    weth, reserve = m["tokens"]["WETH"], v["protocol_share_reserve"]
    for repay in (700 * USDC, 2_500 * USDC, 4_000 * USDC):  # 7,200 < half the 15,900 debt
        ctx.fund("USDC", executor.address, repay)
        lending, _, raw = asyncio.run(load_state(m))  # then the liquidation is the next block
        key = reserve_key("venus", v["comptroller"].lower(), v_weth.lower())
        market = venus.accrue_interest(lending[key].state, int(raw["number"], 16) + 1)
        before = _balance(chain, weth, reserve), _balance(chain, weth, executor.address)
        action = VenusLiquidation(v_usdc, m["tokens"]["USDC"], borrower, v_weth, repay,
                                  liquidator.address)  # fmt: skip
        _, receipt = _send(chain, executor, Plan((action,), weth, 0, NO_LOAN))
        assert int(receipt["blockNumber"], 16) == int(raw["number"], 16) + 1
        (split,) = events.LiquidateBorrowedTokens().process_receipt(receipt, errors=DISCARD)
        (seized,) = vusdc.events.LiquidateBorrow().process_receipt(receipt, errors=DISCARD)
        seize_tokens = seized["args"]["seizeTokens"]
        ours, theirs = venus.split_liquidation_incentive(
            seize_tokens, v["liquidation_incentive"], liquidator.treasury_percent
        )
        args = split["args"]
        assert (args["seizeTokensForTreasury"], args["seizeTokensForLiquidator"]) == (ours, theirs)
        model = liquidator_seizure(
            market, seize_tokens, v["liquidation_incentive"], liquidator.treasury_percent
        )
        assert model is not None
        assert _balance(chain, weth, reserve) - before[0] == model.treasury_underlying > 0
        assert _balance(chain, weth, executor.address) - before[1] == model.redeemed


# -- the strategy's plan through the Liquidator ---------------------------------------------------
def test_strategy_plan_through_the_liquidator_lands_its_expected_profit(chain: Devnet) -> None:
    m = chain.manifest
    _, liquidator = _with_liquidator(chain)
    executor = _executor(chain)  # before the state is read: the plan lands in the next block
    price_shock(chain.context(), "WETH", -12)
    lending, pools, raw = asyncio.run(load_state(m))
    view, block = StateView({**pools, **lending}), block_context(m, lending, raw)
    cfg = liquidation_config(m, pools, graph_router(PoolGraph.from_entries(pools)))
    strategy = VenusStrategy(refs_from_manifest(m)[1], cfg, liquidator=liquidator)
    direct = VenusStrategy(refs_from_manifest(m)[1], cfg)
    opps = strategy.evaluate(m["borrowers"]["venus"], view, block)
    assert opps, "the shock must make a profitable liquidation"
    best = max(opps, key=lambda o: o.net_profit(block.gas_price) * 10**18 // o.eth_price)
    steps = [a for a in best.plan.actions if isinstance(a, VenusLiquidation)]
    assert [s.liquidator.lower() for s in steps] == [liquidator.address]
    # The treasury's cut is priced in: the same account sized directly expects more.
    same = direct.evaluate([steps[0].borrower], view, block)
    assert same and max(o.expected_profit for o in same) > best.expected_profit
    before = _balance(chain, best.profit_token, executor.address)
    simulated, receipt = _send(chain, executor, best.plan)
    assert simulated > 0
    kept = _balance(chain, best.profit_token, executor.address) - before
    assert int(receipt["blockNumber"], 16) == block.block + 1
    print(f"venus via Liquidator: expected {best.expected_profit} kept {kept} "
          f"gas {int(receipt['gasUsed'], 16)} (estimate {best.gas_estimate})")  # fmt: skip
    assert kept == best.expected_profit  # to the wei


# -- why: the direct path is refused --------------------------------------------------------------
def test_direct_liquidation_is_refused_once_the_liquidator_is_set(chain: Devnet) -> None:
    m, ctx = chain.manifest, chain.context()
    _with_liquidator(chain)
    _shock(chain)
    v, trader = m["venus"], chain.account("trader")
    v_usdc, v_weth, borrower = (
        v["vtokens"]["USDC"],
        v["vtokens"]["WETH"],
        m["borrowers"]["venus"][0],
    )
    ctx.fund("USDC", trader, 1_000 * USDC)
    ctx.approve("USDC", trader, v_usdc)
    vusdc = chain.d.at(vtoken_abi(), v_usdc)
    receipt = chain.d.send(vusdc.functions.liquidateBorrow(borrower, 1_000 * USDC, v_weth),
                           sender=trader)  # fmt: skip
    failures = [log for log in receipt["logs"] if _topic(log) == FAILURE_TOPIC]
    assert failures, "a direct liquidation went through"
    error, _, detail = decode(["uint256"] * 3, _bytes(failures[-1]["data"]))
    assert (error, detail) == (COMPTROLLER_REJECTION, UNAUTHORIZED)
    assert _balance(chain, v_weth, trader) == 0
    # Our executor's direct action turns the same answer into a revert.
    executor = _executor(chain)
    ctx.fund("USDC", executor.address, 1_000 * USDC)
    action = VenusLiquidation(v_usdc, m["tokens"]["USDC"], borrower, v_weth, 1_000 * USDC)
    venus_error = "0x" + keccak(text="VenusError(uint256)")[:4].hex()
    with pytest.raises(DeployError, match=f"custom error {venus_error}") as refused:
        _send(chain, executor, Plan((action,), m["tokens"]["WETH"], 0, NO_LOAN))
    # anvil quotes the argument as raw bytes: uint256 3
    assert str(refused.value).endswith("\x00" * 31 + chr(COMPTROLLER_REJECTION))


def _bytes(data: Any) -> bytes:
    return bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)


def _topic(log: Any) -> str:
    topic = log["topics"][0]
    return topic if isinstance(topic, str) else "0x" + bytes(topic).hex()


# -- a chain config naming the Liquidator ---------------------------------------------------------
async def test_chain_config_names_the_liquidator(
    chain: Devnet, node: ChainClient, tmp_path: Path
) -> None:
    m, v = chain.manifest, chain.manifest["venus"]
    comptroller_line = f'comptroller = "{v["comptroller"]}"\n'

    async def discover(liquidator: str | None) -> Any:
        text = chain_toml(m)
        if liquidator:
            text = text.replace(
                comptroller_line, f'{comptroller_line}liquidator = "{liquidator}"\n'
            )
        (tmp_path / "localnode.toml").write_text(text)
        head = int(await node.request("eth_blockNumber", []), 16)
        config = replace(load_chain(tmp_path / "localnode.toml"), rpc_urls=(m["rpc_url"],))
        return await discover_market(node, config, head)

    unset = await discover(v["liquidator"])  # the comptroller names none yet: taken as given
    assert unset.venus_liquidator == VenusLiquidator(v["liquidator"].lower(), 5 * 10**17)
    _with_liquidator(chain)
    named = await discover(v["liquidator"])
    assert named.venus_liquidator == unset.venus_liquidator
    head = block_from_rpc(
        m["chain_id"], await node.request("eth_getBlockByNumber", ["latest", False])
    )
    strategies = build_strategies(named, await named.load_state(node, head), ["venus_liquidation"])
    (venus_strategy,) = strategies
    assert isinstance(venus_strategy, MonitoredLiquidation)
    assert isinstance(venus_strategy.strategy, VenusStrategy)
    assert venus_strategy.strategy.liquidator == named.venus_liquidator
    silent = await discover(None)
    assert silent.venus_liquidator is None
    assert any("only lets" in note for note in silent.notes)
    with pytest.raises(DiscoveryError, match="liquidatorContract"):
        await discover(v["protocol_share_reserve"])


# -- the forge suite ------------------------------------------------------------------------------
def test_forge_liquidator_suite_passes_on_the_devnet(devnet: Devnet) -> None:
    """Forks the devnet inside forge; the fork is local, so the devnet itself is not changed."""
    env = {**os.environ, "TALLYIO_DEVNET_MANIFEST_JSON": json.dumps(devnet.manifest)}
    proc = subprocess.run(
        [str(foundry_bin("forge")), "test", "--match-contract", "VenusLiquidatorFork", "-vv"],
        cwd=contracts_dir(), env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    summary = re.search(r"(\d+) tests passed, (\d+) failed, (\d+) skipped", out)
    assert summary is not None, out
    assert tuple(int(n) for n in summary.groups()) == (3, 0, 0), out
