"""Batched liquidations on the devnet: two Aave accounts liquidatable in the same block, one
transaction, and a part that fails on chain leaving the other's profit.

WETH's feed drops 12% and DAI's 5%, so two borrowers owing USDC go under, one with WETH and
one with DAI collateral (sales through different pools). The Aave strategy sizes every seeded
borrower on state loaded from the chain; `app.batching.units` merges the independent ones
(same market, debt asset and lender) into one plan of Guarded parts. It goes through the live
pipeline the runner uses (fork simulation, fees, nonce, sign, send) via `submit_batched`, the
runner's submit hook.

Each part gets its own result (app/batch_results.py): per transaction the parts' gas and
realised profit sum to the receipt's gasUsed and the executor's balance change; a part named in
a GuardedFailed log is reverted with no profit (rejected, in paper). The live engine, both
feeds moved in one block, books a landed batch once in its gate, its metrics and the journal.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from prometheus_client import CollectorRegistry

from liquidation_optimum import block_context, liquidation_config, load_state
from tallyio.app.batching import submit_batched, units
from tallyio.app.report import LiveReport
from tallyio.app.runner import DEVNET_CAPS, EngineOptions, Running, deploy_executor
from tallyio.app.session import run_session, settle
from tallyio.chain import build_client
from tallyio.core.engine import Engine, plan_key
from tallyio.core.opportunity import Opportunity
from tallyio.devnet.scenarios import BPS, pct_to_bps, price_shock
from tallyio.execution.executors import Approved, PaperExecutor, PublicMempoolExecutor
from tallyio.execution.fees import fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.pipeline import Status, Submission
from tallyio.execution.signer import SecretKey, Signer
from tallyio.journal import JournalStore
from tallyio.journal.queries import pnl
from tallyio.metrics import EngineMetrics
from tallyio.paths import repo_root
from tallyio.risk.store import RiskStore
from tallyio.sim import ForkSimulator
from tallyio.state.graph import PoolGraph
from tallyio.state.position_loader import refs_from_manifest
from tallyio.state.store import StateView
from tallyio.strategies.liquidation import AaveV3Liquidation
from tallyio.strategies.liquidation_route import graph_router

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Devnet

pytestmark = pytest.mark.devnet

GUARDED_FAILED = "0x" + keccak(text="GuardedFailed(uint256)").hex()
MAX = 2**256 - 1


def _batch(chain: Devnet) -> tuple[Opportunity, tuple[Opportunity, ...]]:
    """The shock, the strategy's opportunities, and the first unit that batches two or more."""
    m = chain.manifest
    price_shock(chain.context(), "WETH", -12)  # aave_borrower_0: WETH against USDC
    price_shock(chain.context(), "DAI", -5)  # aave_borrower_4 (stablecoin e-mode): DAI, USDC
    lending, pools, raw = asyncio.run(load_state(m))
    view, block = StateView({**pools, **lending}), block_context(m, lending, raw)
    cfg = liquidation_config(m, pools, graph_router(PoolGraph.from_entries(pools)))
    strategy = AaveV3Liquidation(refs_from_manifest(m)[0], cfg)
    opps = strategy.evaluate(m["borrowers"]["aave_v3"], view, block)
    batched = [(u, parts) for u, parts in units(opps) if len(parts) > 1]
    assert batched, ("the shock must make two independent liquidations",
                     [(o.detail["borrower"], o.detail["debt_asset"]) for o in opps])  # fmt: skip
    return batched[0]


async def _submit(chain: Devnet, group: tuple[Opportunity, ...], paper: bool = False) -> list[Any]:
    """The runner's submit: `submit_batched` over the live devnet pipeline (or paper's)."""
    m = chain.manifest
    searcher = m["accounts"]["searcher"]
    executor = await asyncio.to_thread(deploy_executor, m)
    client = build_client(m["rpc_url"])
    signer = Signer(SecretKey.from_hex(searcher["private_key"]))

    async def send_raw(raw: bytes) -> str:
        return str(await client.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    nonces = NonceManager(client, chain_id=int(m["chain_id"]), address=signer.address,
                          sign=signer.sign_transaction, send_raw=send_raw)  # fmt: skip
    common: dict[str, Any] = {"fee_params": fee_params("devnet"), "caps": DEVNET_CAPS}
    simulator = ForkSimulator(m["rpc_url"])
    pipeline = (
        PaperExecutor(client, simulator, owner=signer.address, **common) if paper
        else PublicMempoolExecutor(client, simulator, nonces, poll_interval=0.02, **common)
    )  # fmt: skip
    head = int(await client.request("eth_blockNumber", []), 16)

    async def send(sent: Any) -> list[Any]:
        return await pipeline.execute_group([
            Approved(o.plan, executor, o.expected_profit, o.gas_estimate, head + 1,
                     eth_price=o.eth_price, strategy=o.strategy, plan_id=plan_key(o))
            for o in sent
        ])  # fmt: skip

    async def receipt(tx_hash: str) -> Any:
        return await client.request("eth_getTransactionReceipt", [tx_hash])

    try:
        return await submit_batched(group, send, receipt)
    finally:
        await client.close()


def _debt(chain: Devnet, user: str) -> int:
    """Aave getUserAccountData(user).totalDebtBase."""
    sel = function_signature_to_4byte_selector("getUserAccountData(address)")
    data = "0x" + (sel + encode(["address"], [user])).hex()
    answer = chain.d.rpc("eth_call", {"to": chain.manifest["aave_v3"]["pool"], "data": data})
    return int(answer[2 + 64 : 2 + 128], 16)


def _repay_all(chain: Devnet, part: Opportunity) -> None:
    """The borrower repays its whole debt in the part's debt asset: healthy, not liquidatable."""
    ctx, asset = chain.context(), part.detail["debt_asset"]
    user = to_checksum_address(part.detail["borrower"])
    symbol = next(s for s, t in ctx.tokens.items() if t.address.lower() == asset.lower())
    pool = chain.manifest["aave_v3"]["pool"]
    ctx.fund(symbol, user, ctx.units(symbol, 10_000_000))
    ctx.approve(symbol, user, pool)
    sel = function_signature_to_4byte_selector("repay(address,uint256,uint256,address)")
    args = encode(["address", "uint256", "uint256", "address"], [asset, MAX, 2, user])
    chain.d.send_raw_call(pool, "0x" + (sel + args).hex(), sender=user)


def _logs(chain: Devnet, result: Submission) -> list[dict[str, Any]]:
    receipt = chain.d.rpc("eth_getTransactionReceipt", result.tx_hash)
    return [entry for entry in receipt["logs"] if entry["topics"][0] == GUARDED_FAILED]


def _balance(chain: Devnet, token: str, holder: str, block: int) -> int:
    sel = function_signature_to_4byte_selector("balanceOf(address)")
    data = "0x" + (sel + encode(["address"], [holder])).hex()
    return int(chain.d.rpc("eth_call", {"to": token, "data": data}, hex(block)), 16)


def _mined(chain: Devnet, tx_hash: str, token: str) -> tuple[int, int]:
    """The receipt's gasUsed, and the executor's (the tx's `to`) change in `token` over the
    tx's block, read from the chain (each of our transactions is alone in its block here)."""
    receipt = chain.d.rpc("eth_getTransactionReceipt", tx_hash)
    block, executor = int(receipt["blockNumber"], 16), receipt["to"]
    change = _balance(chain, token, executor, block) - _balance(chain, token, executor, block - 1)
    return int(receipt["gasUsed"], 16), change


def _one_transaction(chain: Devnet, merged: Opportunity, results: list[Any]) -> None:
    """Every part in the batch's one transaction, its gas and profit counted once in total."""
    assert len({r.tx_hash for r in results}) == 1, ("one transaction for every part", results)
    gas, change = _mined(chain, results[0].tx_hash, merged.plan.profit_token)
    assert sum(r.gas_used for r in results) == gas
    assert sum(r.realised_profit for r in results) == change


def test_two_liquidations_land_in_one_transaction(chain: Devnet) -> None:
    merged, parts = _batch(chain)
    assert merged.gas_estimate < sum(p.gas_estimate for p in parts)
    debts = {p.detail["borrower"]: _debt(chain, p.detail["borrower"]) for p in parts}
    results = asyncio.run(_submit(chain, parts))
    result = results[0]  # the first part carries the batch's gas and profit
    assert [r.status for r in results] == [Status.INCLUDED] * len(parts), results
    _one_transaction(chain, merged, results)
    assert all(r.gas_used == 0 and r.realised_profit == 0 for r in results[1:])
    assert not _logs(chain, result), "no part failed"
    for user, before in debts.items():
        assert _debt(chain, user) < before, f"{user} not liquidated"
    assert result.realised_profit >= merged.plan.min_profit
    assert result.realised_profit >= merged.expected_profit * 99 // 100
    print(f"batch of {len(parts)}: gas {result.gas_used} (estimate {merged.gas_estimate}, "
          f"singles {sum(p.gas_estimate for p in parts)}), kept {result.realised_profit} "
          f"of {merged.expected_profit} expected")  # fmt: skip


def test_a_part_gone_before_the_batch_leaves_the_others_profit(chain: Devnet) -> None:
    merged, parts = _batch(chain)
    gone, kept = parts[-1], parts[:-1]
    _repay_all(chain, gone)  # someone else got there first: the account is healthy now
    before = {p.detail["borrower"]: _debt(chain, p.detail["borrower"]) for p in kept}
    results = asyncio.run(_submit(chain, parts))
    result = results[0]
    assert result.status is Status.INCLUDED, result
    failed = _logs(chain, result)
    assert [int(entry["data"], 16) for entry in failed] == [len(parts) - 1]
    assert results[-1].status is Status.REVERTED, results[-1]  # the gone part: failed, no profit
    assert (results[-1].gas_used, results[-1].realised_profit) == (0, 0)
    assert [r.status for r in results[:-1]] == [Status.INCLUDED] * len(kept)
    _one_transaction(chain, merged, results)  # the first part carries all the batch's profit
    assert result.realised_profit == sum(r.realised_profit for r in results)
    for user, debt in before.items():
        assert _debt(chain, user) < debt, f"{user} not liquidated"
    alone = sum(p.expected_profit for p in kept)
    assert result.realised_profit >= merged.plan.min_profit
    assert result.realised_profit >= alone * 99 // 100
    gas_wei = result.gas_used * (result.fees.max_fee_per_gas if result.fees else 0)
    assert result.realised_profit * 10**18 // merged.eth_price > gas_wei // 2, "paid its gas"


def test_paper_a_part_gone_is_rejected_and_the_other_carries_the_simulation(
    chain: Devnet,
) -> None:
    merged, parts = _batch(chain)
    _repay_all(chain, parts[-1])
    results = asyncio.run(_submit(chain, parts, paper=True))  # simulated, never sent
    assert results[-1].status is Status.REJECTED, results[-1]
    assert "reverted in its simulation" in results[-1].reason
    assert [r.status for r in results[:-1]] == [Status.SIMULATED] * (len(parts) - 1)
    simulated = results[0].outcome
    assert simulated is not None and simulated.profit >= merged.plan.min_profit
    assert all(r.outcome is None and r.net_profit == 0 for r in results[1:])


# -- the engine: a landed batch counted once ----------------------------------------------------
LANDED = (Status.INCLUDED, Status.REVERTED)


def _shock_in_one_block(chain: Devnet, moves: dict[str, float]) -> None:
    """The feeds move in one block, so the engine finds both liquidations at once."""
    ctx, d = chain.context(), chain.d
    d.rpc("evm_setAutomine", False)
    try:
        for symbol, pct in moves.items():
            feed = ctx.feeds[symbol]
            new = int(feed.functions.latestAnswer().call()) * (BPS + pct_to_bps(pct)) // BPS
            data = feed.functions.setAnswer(new)._encode_transaction_data()
            d.rpc("eth_sendTransaction", {"from": ctx.deployer, "to": feed.address, "data": data})
        d.mine(1)
    finally:
        d.rpc("evm_setAutomine", True)


def _run_engine(chain: Devnet, tmp: Path) -> tuple[Running, list[tuple[dict[str, Any], int]]]:
    """The live engine (`tallyio run --live`'s session) over the shock; each trade it reported,
    with the gas price it priced that trade's gas at."""
    engine: list[Engine] = []
    trades: list[tuple[dict[str, Any], int]] = []

    def listen(kind: str, data: dict[str, Any]) -> None:
        block = engine[0].block if engine else None
        if kind == "trade" and block is not None:
            trades.append((data, block.gas_price))  # the engine's block when it booked it

    options = EngineOptions(live=True, journal_path=tmp / "journal.db", state_dir=tmp,
                            risk_config=repo_root() / "config" / "risk" / "devnet.toml",
                            poll_interval=0.02, strategies=("aave_v3_liquidation",),
                            metrics=EngineMetrics(CollectorRegistry()),
                            listeners=[listen])  # fmt: skip

    async def scenario(running: Running) -> None:
        engine.append(running.engine)
        await settle(running)
        await asyncio.to_thread(_shock_in_one_block, chain, {"WETH": -12, "DAI": -5})
        await settle(running)

    running = asyncio.run(run_session(chain.manifest, options, LiveReport(quiet=True), scenario))
    return running, trades


def test_the_engine_counts_a_landed_batch_once(chain: Devnet, tmp_path: Path) -> None:
    running, trades = _run_engine(chain, tmp_path)
    by_tx: dict[str, list[tuple[Opportunity, Any]]] = {}
    for opp, r in running.engine.stats.results:
        if getattr(r, "status", None) in LANDED:
            by_tx.setdefault(r.tx_hash, []).append((opp, r))
    history = [(o.detail.get("borrower"), str(getattr(r, "status", r)), getattr(r, "reason", ""))
               for o, r in running.engine.stats.results]  # fmt: skip
    assert any(len(parts) > 1 for parts in by_tx.values()), ("no batch landed", history)
    gas_wei = net_wei = gas_total = realised = 0
    for tx, parts in by_tx.items():
        opp = parts[0][0]
        gas, change = _mined(chain, tx, opp.plan.profit_token)
        assert sum(r.gas_used for _, r in parts) == gas, (tx, parts)
        assert sum(r.realised_profit for _, r in parts) == change, (tx, parts)
        booked = [(d["net_wei"], price) for d, price in trades if d["result"]["tx_hash"] == tx]
        assert len(booked) == len(parts) and len({price for _, price in booked}) == 1
        price = booked[0][1]
        tx_net = change * 10**18 // opp.eth_price - gas * price  # once, as one transaction
        assert sum(net for net, _ in booked) == tx_net, (tx, booked)
        gas_wei, net_wei = gas_wei + gas * price, net_wei + tx_net
        gas_total, realised = gas_total + gas, realised + change
    store = RiskStore(tmp_path)  # the gate's breaker: what it was told
    try:
        told = store.results_since(0.0)
    finally:
        store.close()
    assert len(told) == sum(len(parts) for parts in by_tx.values())
    assert sum(r.gas_spent_wei for r in told) == gas_wei
    assert sum(r.net_profit_wei for r in told) == net_wei
    metrics = running.engine.metrics
    labels = {"strategy": "aave_v3_liquidation"}
    assert metrics.registry.get_sample_value("tallyio_gas_spent_wei_total", labels) == gas_wei
    with JournalStore(tmp_path / "journal.db") as journal:  # the pipeline's, per transaction
        rows = pnl(journal, group_by=("strategy",))
    assert sum(r.included + r.reverted for r in rows) == len(by_tx)
    assert sum(r.gas_used for r in rows) == gas_total
    assert sum(r.realised_profit for r in rows) == realised
    tokens = {opp.plan.profit_token.lower() for parts in by_tx.values() for opp, _ in parts}
    assert {r.token for r in rows} == tokens, "every trade's profit token known, batches too"
