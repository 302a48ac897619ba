"""Cross-chain arbitrage on two devnets side by side (two anvils, two chain ids, the real
Uniswap V2 bytecode on each): the runner follows both, and after WETH/USDC is dislocated on
one chain it buys WETH on the other from the executor's USDC and sells WETH on the dear chain
from the executor's WETH. Both legs land; what they realised is the model's output to the
wei; the journal holds the imbalance and the rebalancing suggestion."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tallyio.app.cross_chain import CrossChainOptions, build_cross_chain, close_cross_chain
from tallyio.app.runner import deploy_executor
from tallyio.devnet import deploy
from tallyio.devnet.context import attach
from tallyio.devnet.deployer import load_artifact
from tallyio.devnet.scenarios import V2_PAIR, dislocate, v2_amount_out
from tallyio.execution.pipeline import Status
from tallyio.journal import JournalStore
from tallyio.risk.config import ExposureLimit
from tallyio.strategies.cross_chain import (
    CrossChainArbitrage,
    CrossChainConfig,
    CrossPair,
    Venue,
)

pytestmark = pytest.mark.devnet

CHAIN_A, CHAIN_B = 31337, 31338
ETH, USDC = 10**18, 10**6
HELD = {"USDC": 200_000 * USDC, "WETH": 100 * ETH}  # each executor's inventory on each chain


@pytest.fixture(scope="module")
def two_devnets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Two devnets with Uniswap V2 (and SushiSwap) only, an executor on each, funded."""
    dirs = [tmp_path_factory.mktemp(f"devnet{c}") for c in (CHAIN_A, CHAIN_B)]
    manifests: list[dict[str, Any]] = []
    try:
        for chain_id, state_dir in zip((CHAIN_A, CHAIN_B), dirs, strict=True):
            manifests.append(deploy.up(state_dir, chain_id=chain_id, protocols=("uniswap_v2",)))
        for manifest in manifests:
            executor = deploy_executor(manifest)
            ctx = attach(manifest)
            for symbol, amount in HELD.items():
                ctx.fund(symbol, executor, amount)
        yield manifests
    finally:
        for state_dir in dirs:
            deploy.down(state_dir)


def _venue(manifest: dict[str, Any]) -> Venue:
    pair = manifest["uniswap_v2"][0]["pairs"][0]
    assert {pair["symbol0"], pair["symbol1"]} == {"WETH", "USDC"}
    t = manifest["tokens"]
    return Venue(int(manifest["chain_id"]), pair["address"], t["WETH"], t["USDC"], t["WETH"])


def _balance(manifest: dict[str, Any], symbol: str) -> int:
    token = attach(manifest).tokens[symbol]
    return int(token.functions.balanceOf(manifest["tally_executor"]).call())


def _reserves(manifest: dict[str, Any], block: int) -> tuple[int, int]:
    """(WETH, USDC) reserves of the chain's Uniswap V2 WETH/USDC pair at `block`."""
    ctx = attach(manifest)
    pair = ctx.d.at(load_artifact(V2_PAIR), _venue(manifest).pool)
    r0, r1, _ = pair.functions.getReserves().call(block_identifier=block)
    weth_first = pair.functions.token0().call().lower() == ctx.tokens["WETH"].address.lower()
    return (r0, r1) if weth_first else (r1, r0)


async def test_both_legs_land_and_the_journal_holds_the_rebalance(
    two_devnets: list[dict[str, Any]], tmp_path: Path
) -> None:
    ma, mb = two_devnets
    va, vb = _venue(ma), _venue(mb)
    config = CrossChainConfig((CrossPair("WETH/USDC", (va, vb)),))
    limits = [ExposureLimit(v.chain_id, t, 10**30) for v in (va, vb) for t in (v.base, v.quote)]
    options = CrossChainOptions(live=True, journal_path=tmp_path / "journal.db",
                                poll_interval=0.02, limits=limits)  # fmt: skip
    before = {(m["chain_id"], s): _balance(m, s) for m in (ma, mb) for s in HELD}
    runner = await build_cross_chain([ma, mb], CrossChainArbitrage(config), options)
    try:
        task = asyncio.create_task(runner.run(max_trades=1))
        await asyncio.sleep(0.5)
        assert not runner.results  # the same prices on both chains: nothing to do
        # WETH 3% dearer on chain B: buy it on A, sell it on B
        await asyncio.to_thread(dislocate, attach(mb), vb.pool, 3.0)
        async with asyncio.timeout(60):
            (result,) = await task
    finally:
        await close_cross_chain(runner)
    trade, buy, sell = result.trade, result.buy, result.sell
    assert not isinstance(buy, BaseException) and not isinstance(sell, BaseException)
    assert (buy.status, sell.status) == (Status.INCLUDED, Status.INCLUDED), (buy, sell)
    assert (trade.buy.chain_id, trade.sell.chain_id) == (CHAIN_A, CHAIN_B)
    assert buy.block is not None and sell.block is not None
    # The model, from each pool's reserves just before its leg: the state did not move.
    weth_a, usdc_a = _reserves(ma, buy.block - 1)
    weth_b, usdc_b = _reserves(mb, sell.block - 1)
    assert trade.base_out == v2_amount_out(trade.quote_in, usdc_a, weth_a) == buy.realised_profit
    assert trade.quote_out == v2_amount_out(trade.base_out, weth_b, usdc_b)
    assert sell.realised_profit == trade.quote_out and trade.profit > trade.gas_cost > 0
    # Inventory: USDC became WETH on A, WETH became USDC on B, to the wei.
    after = {(m["chain_id"], s): _balance(m, s) for m in (ma, mb) for s in HELD}
    assert after[CHAIN_A, "USDC"] - before[CHAIN_A, "USDC"] == -trade.quote_in
    assert after[CHAIN_A, "WETH"] - before[CHAIN_A, "WETH"] == trade.base_out
    assert after[CHAIN_B, "WETH"] - before[CHAIN_B, "WETH"] == -trade.base_out
    assert after[CHAIN_B, "USDC"] - before[CHAIN_B, "USDC"] == trade.quote_out
    assert result.done == trade.planned and result.done.hedged
    assert runner.exposure.inventory(CHAIN_A, va.quote) == after[CHAIN_A, "USDC"]
    assert runner.exposure.in_flight(CHAIN_B, vb.base) == 0
    _assert_journal(tmp_path / "journal.db", result)


def _assert_journal(path: Path, result: Any) -> None:
    trade = result.trade
    with JournalStore(path) as journal:
        (done,) = journal.rows("decisions", stage="rebalance")
        (plan,) = journal.rows("decisions", stage="cross_chain", plan_id=done["plan_id"])
        legs = [journal.rows("inclusions", plan_id=plan["payload"][leg])[0]
                for leg in ("buy", "sell")]  # fmt: skip
        opps = journal.rows("opportunities", strategy="cross_chain")
    assert [leg["status"] for leg in legs] == ["included", "included"]
    assert [leg["realised_profit"] for leg in legs] == [trade.base_out, trade.quote_out]
    assert {o["chain_id"] for o in opps} == {CHAIN_A, CHAIN_B}
    assert done["approved"] and done["reason"] == ""
    payload = done["payload"]
    assert payload["imbalance"] == [
        {"chain_id": CHAIN_A, "symbol": "USDC", "change": str(-trade.quote_in)},
        {"chain_id": CHAIN_A, "symbol": "WETH", "change": str(trade.base_out)},
        {"chain_id": CHAIN_B, "symbol": "USDC", "change": str(trade.quote_out)},
        {"chain_id": CHAIN_B, "symbol": "WETH", "change": str(-trade.base_out)},
    ]
    assert payload["moves"] == [  # the rebalancing suggestion
        {"symbol": "USDC", "from_chain": CHAIN_B, "to_chain": CHAIN_A,
         "amount": str(trade.quote_in)},
        {"symbol": "WETH", "from_chain": CHAIN_A, "to_chain": CHAIN_B,
         "amount": str(trade.base_out)},
    ]  # fmt: skip
    assert payload["net"] == {"USDC": str(trade.profit), "WETH": "0"} and payload["hedged"]
    assert payload["legs"]["buy"]["status"] == payload["legs"]["sell"]["status"] == "included"


async def test_a_leg_that_fails_leaves_the_other_recorded_and_the_books_unhedged(
    two_devnets: list[dict[str, Any]], tmp_path: Path
) -> None:
    ma, mb = two_devnets
    va, vb = _venue(ma), _venue(mb)
    strategy = CrossChainArbitrage(CrossChainConfig((CrossPair("WETH/USDC", (va, vb)),)))
    limits = [ExposureLimit(v.chain_id, t, 10**30) for v in (va, vb) for t in (v.base, v.quote)]
    options = CrossChainOptions(live=True, journal_path=tmp_path / "journal.db", limits=limits)
    await asyncio.to_thread(dislocate, attach(mb), vb.pool, 4.0)  # WETH dearer on B
    runner = await build_cross_chain([ma, mb], strategy, options)
    try:
        await runner.refresh_inventory()
        (trade,) = strategy.process(runner.sides())
        # B's price falls back before the legs go: selling there now pays under the floor
        await asyncio.to_thread(dislocate, attach(mb), vb.pool, -4.0)
        before = {s: _balance(ma, s) for s in HELD}
        result = await runner.trade(trade)
    finally:
        await close_cross_chain(runner)
    buy, sell = result.buy, result.sell
    assert not isinstance(buy, BaseException) and not isinstance(sell, BaseException)
    assert buy.status is Status.INCLUDED and buy.realised_profit == trade.base_out
    assert sell.status is Status.REJECTED and "reverted" in sell.reason, sell
    done = result.done
    assert not done.hedged and done.moves == ()
    assert done.net == (("USDC", -trade.quote_in), ("WETH", trade.base_out))
    assert _balance(ma, "USDC") - before["USDC"] == -trade.quote_in
    assert _balance(ma, "WETH") - before["WETH"] == trade.base_out
    assert runner.exposure.in_flight(CHAIN_B, vb.base) == 0  # the refused leg released its WETH
    with JournalStore(tmp_path / "journal.db") as journal:
        (row,) = journal.rows("decisions", stage="rebalance")
    assert not row["approved"] and "unhedged" in row["reason"]
    assert row["payload"]["net"] == {"USDC": str(-trade.quote_in), "WETH": str(trade.base_out)}
    assert row["payload"]["legs"]["sell"]["status"] == "rejected"
    assert row["payload"]["planned"]["hedged"] is True


async def test_paper_by_default_simulates_both_legs_and_moves_nothing(
    two_devnets: list[dict[str, Any]], tmp_path: Path
) -> None:
    ma, mb = two_devnets
    va, vb = _venue(ma), _venue(mb)
    strategy = CrossChainArbitrage(CrossChainConfig((CrossPair("WETH/USDC", (va, vb)),)))
    limits = [ExposureLimit(v.chain_id, t, 10**30) for v in (va, vb) for t in (v.base, v.quote)]
    await asyncio.to_thread(dislocate, attach(ma), va.pool, -3.0)  # WETH cheaper on A
    runner = await build_cross_chain(
        [ma, mb], strategy, CrossChainOptions(journal_path=tmp_path / "j.db", limits=limits)
    )
    before = {(m["chain_id"], s): _balance(m, s) for m in (ma, mb) for s in HELD}
    try:
        await runner.refresh_inventory()
        (trade,) = strategy.process(runner.sides())
        result = await runner.trade(trade)
    finally:
        await close_cross_chain(runner)
    for leg, opp in ((result.buy, trade.buy), (result.sell, trade.sell)):
        assert not isinstance(leg, BaseException) and leg.status is Status.SIMULATED
        assert leg.outcome is not None and leg.outcome.profit == opp.expected_profit
    assert {(m["chain_id"], s): _balance(m, s) for m in (ma, mb) for s in HELD} == before
    with JournalStore(tmp_path / "j.db") as journal:
        (row,) = journal.rows("decisions", stage="rebalance")
    assert not row["approved"] and row["reason"].startswith("paper")
    assert row["payload"]["moves"] == [] and row["payload"]["planned"]["moves"]
