"""The three executors on the devnet, end to end: a real TallyExecutor, a real arbitrage.

Each test deploys TallyExecutor from the searcher, dislocates the Uniswap V2 WETH/USDC pair by
3% against SushiSwap's, and hands the executors a Plan that buys WETH on Sushi and sells it on
Uniswap from the contract's own USDC. Paper simulates and journals; public sends through the
node (stuck transactions replaced, nonce gaps filled); bundle goes through the devnet relay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient
from tallyio.core.plan import Plan, UniswapV2Swap
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import load_artifact, load_forge_artifact
from tallyio.devnet.relay import DevnetRelay
from tallyio.devnet.scenarios import V2_PAIR, dislocate, v2_amount_out
from tallyio.execution.executors import (
    Approved,
    BundleExecutor,
    PaperExecutor,
    PublicMempoolExecutor,
    Status,
)
from tallyio.execution.fees import FeeCaps, FeePolicy, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.relays import RelayClient, RelayEndpoint, RelayMetrics
from tallyio.execution.signer import SecretKey, Signer
from tallyio.execution.submit import ExecutionMetrics
from tallyio.journal import JournalStore
from tallyio.sim import ForkSimulator

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

GWEI = 10**9
USDC = 10**6
DEVNET_GAS_LIMIT = 60_000_000  # start_anvil's --gas-limit
CAPS = FeeCaps(max_fee_per_gas=1_000 * GWEI, max_priority_fee_per_gas=200 * GWEI)


@dataclass(frozen=True)
class Arbitrage:
    executor: str  # the deployed TallyExecutor
    plan: Plan
    expected_profit: int  # USDC base units, from the pools' reserves
    eth_price: int  # USDC base units per ETH, from the devnet's WETH feed
    usdc: str

    def approved(self, chain: Devnet, **kw: Any) -> Approved:
        return Approved(self.plan, self.executor, self.expected_profit, 150_000,
                        chain.d.block_number() + 1, eth_price=self.eth_price,
                        strategy="arbitrage", **kw)  # fmt: skip


@pytest.fixture(scope="module")
def built() -> None:
    forge_build()


def _reserves(chain: Devnet, pair: str, usdc: str) -> tuple[int, int]:
    """(USDC reserve, WETH reserve) of a WETH/USDC pair."""
    contract = chain.d.at(load_artifact(V2_PAIR), pair)
    r0, r1, _ = contract.functions.getReserves().call()
    return (r0, r1) if contract.functions.token0().call() == usdc else (r1, r0)


def _best_size(cheap: tuple[int, int], dear: tuple[int, int]) -> tuple[int, int]:
    """(USDC in, profit) of the best round trip on a 500 USDC grid: buy WETH where it is
    cheap, sell it where it is dear (UniswapV2Library math, 30 bps each)."""
    best = (0, 0)
    for amount in range(500 * USDC, 100_000 * USDC, 500 * USDC):
        weth = v2_amount_out(amount, *cheap)
        back = v2_amount_out(weth, dear[1], dear[0])
        best = max(best, (amount, back - amount), key=lambda t: t[1])
    return best


@pytest.fixture
def arb(chain: Devnet, built: None) -> Arbitrage:
    ctx, manifest, searcher = chain.context(), chain.manifest, chain.account("searcher")
    weth, usdc = manifest["tokens"]["WETH"], manifest["tokens"]["USDC"]
    contract = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher)  # fmt: skip
    uni, sushi = (manifest["uniswap_v2"][i]["pairs"][0]["address"] for i in (0, 1))
    dislocate(ctx, uni, 3.0)  # WETH (token0) 3% dearer on Uniswap than on SushiSwap
    amount, profit = _best_size(_reserves(chain, sushi, usdc), _reserves(chain, uni, usdc))
    assert profit > 10 * USDC
    ctx.fund("USDC", contract.address, amount)
    plan = Plan((UniswapV2Swap(sushi, usdc, weth, amount), UniswapV2Swap(uni, weth, usdc)),
                profit_token=usdc, min_profit=1)  # fmt: skip
    eth_usd_8 = int(ctx.feeds["WETH"].functions.latestAnswer().call())
    return Arbitrage(contract.address, plan, profit, eth_usd_8 * USDC // 10**8, usdc)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JournalStore]:
    with JournalStore(tmp_path / "journal.db") as store:
        yield store


def _signer(chain: Devnet, name: str = "searcher") -> Signer:
    return Signer(SecretKey.from_hex(chain.manifest["accounts"][name]["private_key"]))


def _nonces(chain: Devnet, node: ChainClient, signer: Signer) -> NonceManager:
    async def send_raw(raw: bytes) -> str:
        return str(await node.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    return NonceManager(node, chain_id=chain.manifest["chain_id"], address=signer.address,
                        sign=signer.sign_transaction, send_raw=send_raw)  # fmt: skip


def _common(chain: Devnet, journal: JournalStore, **kw: Any) -> dict[str, Any]:
    return {"fee_params": fee_params("devnet"), "caps": CAPS, "journal": journal,
            "metrics": ExecutionMetrics(CollectorRegistry()), "poll_interval": 0.02,
            **kw}  # fmt: skip


def _public(chain: Devnet, node: ChainClient, journal: JournalStore,
            **kw: Any) -> PublicMempoolExecutor:  # fmt: skip
    nonces = _nonces(chain, node, _signer(chain))
    return PublicMempoolExecutor(node, ForkSimulator(chain.rpc_url), nonces,
                                 **_common(chain, journal, **kw))  # fmt: skip


def _usdc_of(chain: Devnet, who: str) -> int:
    return int(chain.context().tokens["USDC"].functions.balanceOf(who).call())


def _nonce(chain: Devnet, who: str, tag: str = "latest") -> int:
    return int(chain.d.rpc("eth_getTransactionCount", who, tag), 16)


async def _row(journal: JournalStore, task: asyncio.Task[Any], table: str, **where: Any) -> Any:
    """The latest row of `table` matching `where`, once `task` has written it (20 s at most)."""
    deadline = time.monotonic() + 20
    while True:
        rows = journal.rows(table, **where)
        if rows:
            return rows[-1]
        assert not task.done(), f"no {table} row {where}; the executor ended: {task.result()}"
        assert time.monotonic() < deadline, f"no {table} row {where}"
        await asyncio.sleep(0.02)


# -- paper, public, bundle ----------------------------------------------------------------------
async def test_paper_simulates_and_journals_and_changes_nothing(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    searcher = chain.account("searcher")
    paper = PaperExecutor(node, ForkSimulator(chain.rpc_url), owner=searcher,
                          **_common(chain, journal))  # fmt: skip
    block, nonce = chain.d.block_number(), _nonce(chain, searcher)
    held = _usdc_of(chain, arb.executor)
    approved = arb.approved(chain)
    result = await paper.execute(approved)
    assert result.status is Status.SIMULATED and result.tx_hash is None
    assert result.outcome is not None and result.outcome.success
    assert result.outcome.profit == arb.expected_profit  # the pools' math, to the unit
    assert 0 < result.net_profit < result.outcome.profit  # type: ignore[operator]
    (sim,) = journal.rows("simulations", plan_id=approved.plan_id)
    assert sim["success"] and sim["profit"] == result.outcome.profit and sim["block"] == block
    assert sim["payload"]["calldata"] == "0x" + approved.calldata.hex()
    (decision,) = journal.rows("decisions", plan_id=approved.plan_id)
    assert decision["approved"] and decision["stage"] == "executor"
    (row,) = journal.rows("submissions", plan_id=approved.plan_id)
    assert (row["mode"], row["status"], row["tx_hash"]) == ("paper", "simulated", None)
    assert chain.d.block_number() == block and _nonce(chain, searcher) == nonce
    assert _usdc_of(chain, arb.executor) == held


async def test_public_lands_and_earns_what_it_simulated(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    public = _public(chain, node, journal)
    held = _usdc_of(chain, arb.executor)
    approved = arb.approved(chain, fee_policy=FeePolicy(priority_fee=GWEI))
    result = await public.execute(approved)
    assert result.status is Status.INCLUDED, result.reason
    assert result.outcome is not None and result.block is not None
    assert result.realised_profit == result.outcome.profit == arb.expected_profit
    assert _usdc_of(chain, arb.executor) - held == result.outcome.profit
    receipt = chain.d.rpc("eth_getTransactionReceipt", result.tx_hash)
    assert receipt["status"] == "0x1" and int(receipt["gasUsed"], 16) == result.gas_used
    assert result.gas_used <= result.gas_limit  # type: ignore[operator]
    (sent,) = journal.rows("submissions", plan_id=approved.plan_id)
    assert (sent["status"], sent["tx_hash"]) == ("sent", result.tx_hash)
    (inclusion,) = journal.for_tx(result.tx_hash or "")["inclusions"]
    assert inclusion["status"] == "included" and inclusion["block"] == result.block
    assert inclusion["realised_profit"] == inclusion["payload"]["simulated_profit"]
    assert inclusion["payload"]["net_profit"] > 0


@pytest.fixture
async def relay(chain: Devnet) -> AsyncIterator[DevnetRelay]:
    async with DevnetRelay(chain.rpc_url, poll_interval=0.02) as r:
        yield r


def _bundle(chain: Devnet, node: ChainClient, journal: JournalStore,
            endpoints: list[RelayEndpoint]) -> BundleExecutor:  # fmt: skip
    signer = _signer(chain)
    relays = RelayClient(endpoints, _signer(chain, "relay_signer"),
                         metrics=RelayMetrics(CollectorRegistry()))  # fmt: skip
    return BundleExecutor(node, ForkSimulator(chain.rpc_url), _nonces(chain, node, signer),
                          signer, relays, **_common(chain, journal))  # fmt: skip


async def test_bundle_lands_atomically_through_the_devnet_relay(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore, relay: DevnetRelay
) -> None:
    bundle = _bundle(chain, node, journal, [RelayEndpoint(relay.url, "devnet")])
    held = _usdc_of(chain, arb.executor)
    approved = arb.approved(chain)
    try:
        result = await bundle.execute(approved)
    finally:
        await bundle.relays.close()
    assert result.status is Status.INCLUDED, result.reason
    assert result.block == result.target_block  # the first target block
    block = chain.d.rpc("eth_getBlockByNumber", hex(result.block or 0), False)
    assert block["transactions"] == [result.tx_hash]
    assert result.realised_profit == result.outcome.profit == arb.expected_profit  # type: ignore[union-attr]
    assert _usdc_of(chain, arb.executor) - held == result.realised_profit
    (sent,) = journal.rows("submissions", plan_id=approved.plan_id)
    assert (sent["mode"], sent["status"], sent["endpoint"]) == ("bundle", "accepted", "devnet")
    assert sent["payload"]["bundle_hash"] == result.relays[0].bundle_hash
    assert relay.outcomes[sent["payload"]["bundle_hash"]] == f"included in block {result.block}"
    (inclusion,) = journal.rows("inclusions", plan_id=approved.plan_id)
    assert inclusion["status"] == "included" and inclusion["tx_hash"] == result.tx_hash
    _assert_no_keys(chain, journal)


def _assert_no_keys(chain: Devnet, journal: JournalStore) -> None:
    """Neither the funds key nor the relay key is anywhere in the journal's files."""
    files = b"".join(p.read_bytes() for p in journal.path.parent.glob(journal.path.name + "*"))
    for name in ("searcher", "relay_signer"):
        key = chain.manifest["accounts"][name]["private_key"].removeprefix("0x")
        assert key.encode() not in files.lower() and bytes.fromhex(key) not in files


async def _silent_server() -> tuple[asyncio.Server, str]:
    """A builder that accepts connections and never answers."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_a_dead_relay_endpoint_does_not_hold_the_bundle_back(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore, relay: DevnetRelay
) -> None:
    server, silent = await _silent_server()
    endpoints = [RelayEndpoint(silent, "silent", timeout=1.0),
                 RelayEndpoint("http://127.0.0.1:9", "refused", timeout=1.0),
                 RelayEndpoint(relay.url, "devnet", timeout=1.0)]  # fmt: skip
    bundle = _bundle(chain, node, journal, endpoints)
    try:
        result = await bundle.execute(arb.approved(chain))
    finally:
        await bundle.relays.close()
        server.close()
    assert result.status is Status.INCLUDED, result.reason
    first = {r.endpoint: r for r in result.relays[:3]}
    assert first["silent"].kind == "timeout" and first["refused"].kind == "transport"
    assert first["devnet"].ok and first["devnet"].latency < 1.0
    rows = journal.rows("submissions", target_block=result.target_block)
    assert {(r["endpoint"], r["status"]) for r in rows} == {
        ("silent", "error"), ("refused", "error"), ("devnet", "accepted"),
    }  # fmt: skip
    assert all(r["latency_ms"] is not None for r in rows)


async def _accepting_builder() -> tuple[web.AppRunner, str]:
    """A builder that takes every bundle and includes none."""

    async def accept(request: web.Request) -> web.StreamResponse:
        rid = (await request.json())["id"]
        return web.json_response({"jsonrpc": "2.0", "id": rid, "result": {"bundleHash": "0x0b"}})

    app = web.Application()
    app.router.add_post("/", accept)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _mining(chain: Devnet, until: asyncio.Task[Any]) -> asyncio.Task[None]:
    """A block every 0.1 s while `until` runs."""

    async def mine() -> None:
        while not until.done():
            chain.d.rpc("evm_mine")
            await asyncio.sleep(0.1)

    return asyncio.create_task(mine())


async def test_a_bundle_no_builder_includes_is_retargeted_then_given_up(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    runner, url = await _accepting_builder()
    bundle = _bundle(chain, node, journal, [RelayEndpoint(url, "lazy")])
    bundle.max_blocks = 3
    searcher = chain.account("searcher")
    nonce = _nonce(chain, searcher)
    approved = arb.approved(chain)
    task = asyncio.create_task(bundle.execute(approved))
    miner = _mining(chain, task)
    try:
        result = await asyncio.wait_for(task, 30)
    finally:
        await miner
        await bundle.relays.close()
        await runner.cleanup()
    assert result.status is Status.NOT_INCLUDED and result.block is None
    targets = [r["target_block"] for r in journal.rows("submissions", plan_id=approved.plan_id)]
    assert len(targets) == 3 and targets == sorted(set(targets))  # a later block each time
    assert targets[0] == result.target_block
    (end,) = journal.rows("inclusions", plan_id=approved.plan_id)
    assert end["status"] == "not_included" and end["tx_hash"] == result.tx_hash
    assert _nonce(chain, searcher) == nonce  # never mined
    assert bundle.nonces.next_nonce == nonce  # and the nonce is free again


async def test_a_bundle_every_relay_refuses_fails_and_frees_its_nonce(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    bundle = _bundle(chain, node, journal, [RelayEndpoint("http://127.0.0.1:9", "refused")])
    try:
        result = await bundle.execute(arb.approved(chain))
    finally:
        await bundle.relays.close()
    assert result.status is Status.FAILED and result.reason.startswith("every relay refused")
    assert bundle.nonces.next_nonce == _nonce(chain, chain.account("searcher"))
    assert [r["status"] for r in journal.rows("inclusions")] == ["failed"]


# -- refusals -----------------------------------------------------------------------------------
async def test_an_unprofitable_plan_is_never_sent(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    public = _public(chain, node, journal, caps=FeeCaps(10**5 * GWEI, 10**5 * GWEI))
    searcher = chain.account("searcher")
    nonce, block = _nonce(chain, searcher), chain.d.block_number()
    greedy = Plan(arb.plan.actions, arb.plan.profit_token, min_profit=10 * arb.expected_profit)
    reverts = await public.execute(Approved(greedy, arb.executor, arb.expected_profit, 150_000,
                                            block + 1, eth_price=arb.eth_price))  # fmt: skip
    assert reverts.status is Status.REJECTED and reverts.tx_hash is None
    assert reverts.reason.startswith("simulation reverted: NotProfitable(gained=")
    # Profitable before gas, not after: a tip that costs more than the trade makes.
    tip = 2 * arb.expected_profit * 10**18 // arb.eth_price // 150_000
    costly = arb.approved(chain, fee_policy=FeePolicy(priority_fee=tip))
    unpaid = await public.execute(costly)
    assert unpaid.status is Status.REJECTED and unpaid.outcome is not None
    assert unpaid.outcome.success and unpaid.outcome.profit > 0 and unpaid.net_profit < 0  # type: ignore[operator]
    assert unpaid.reason.startswith("not profitable after gas")
    decisions = journal.rows("decisions", stage="executor")
    assert [(d["approved"], d["reason"]) for d in decisions] == [
        (False, reverts.reason), (False, unpaid.reason),
    ]  # fmt: skip
    assert journal.rows("submissions") == []
    assert _nonce(chain, searcher, "pending") == nonce and chain.d.block_number() == block


# -- a stuck transaction, a nonce gap ----------------------------------------------------------
@pytest.fixture
def manual(chain: Devnet, arb: Arbitrage) -> Iterator[Devnet]:
    """Mining by hand (once the arbitrage is set up); automine and the gas limit put back."""
    chain.d.rpc("evm_setAutomine", False)
    try:
        yield chain
    finally:
        chain.d.rpc("anvil_setBlockGasLimit", hex(DEVNET_GAS_LIMIT))
        chain.d.rpc("evm_setAutomine", True)


def _rival_burn(chain: Devnet, gas: int) -> str:
    """The competitor, paying far more per gas, burns `gas` (init code that loops to OOG)."""
    rival = _signer(chain, "competitor")
    raw = rival.sign_eip1559(
        chain_id=chain.manifest["chain_id"], nonce=_nonce(chain, rival.address, "pending"),
        max_fee_per_gas=900 * GWEI, max_priority_fee_per_gas=100 * GWEI, gas=gas, to=None,
        data=bytes.fromhex("5b600056"),
    )  # fmt: skip
    return str(chain.d.rpc("eth_sendRawTransaction", "0x" + raw.hex()))


async def test_a_stuck_transaction_is_replaced_and_lands(
    manual: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    chain = manual
    public = _public(chain, node, journal, replace_after_blocks=1, timeout_blocks=5)
    approved = arb.approved(chain, fee_policy=FeePolicy(priority_fee=GWEI))
    task = asyncio.create_task(public.execute(approved))
    try:
        sent = await _row(journal, task, "submissions", status="sent")
        # Outbid: a rival fills a small block, ours no longer fits and waits in the pool.
        chain.d.rpc("anvil_setBlockGasLimit", hex(sent["payload"]["gas_limit"] + 50_000))
        rival = _rival_burn(chain, 100_000)
        chain.d.rpc("evm_mine")
        assert chain.d.rpc("eth_getTransactionReceipt", rival)["status"] == "0x0"  # out of gas
        assert chain.d.rpc("eth_getTransactionReceipt", sent["tx_hash"]) is None
        replaced = await _row(journal, task, "submissions", status="replaced")
        chain.d.rpc("anvil_setBlockGasLimit", hex(DEVNET_GAS_LIMIT))
        chain.d.rpc("evm_mine")
        result = await asyncio.wait_for(task, 20)
    finally:
        task.cancel()
    assert result.status is Status.INCLUDED, result.reason
    assert result.tx_hash == replaced["tx_hash"] != sent["tx_hash"]
    assert replaced["nonce"] == sent["nonce"] == result.nonce
    old, new = sent["payload"]["fees"], replaced["payload"]["fees"]
    assert new["maxPriorityFeePerGas"] >= old["maxPriorityFeePerGas"] * 9 // 8
    assert result.realised_profit == result.outcome.profit  # type: ignore[union-attr]


async def test_a_nonce_gap_is_found_and_filled(
    chain: Devnet, arb: Arbitrage, node: ChainClient, journal: JournalStore
) -> None:
    public = _public(chain, node, journal, replace_after_blocks=1, timeout_blocks=10)
    nonces = public.nonces
    await nonces.sync()
    skipped, later = nonces.reserve(), nonces.reserve()
    nonces.release(skipped)  # e.g. a plan dropped after reserving while a later one was not:
    nonces.release(later)  # the later nonce is handed out again, the earlier one is a gap
    assert nonces.next_nonce == skipped + 1
    approved = arb.approved(chain, fee_policy=FeePolicy(priority_fee=GWEI))
    task = asyncio.create_task(public.execute(approved))
    miner = _mining(chain, task)
    try:
        result = await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
        await miner
    assert result.status is Status.INCLUDED, result.reason
    assert result.nonce == skipped + 1
    (filler,) = journal.rows("submissions", status="gap_fill")
    assert filler["nonce"] == skipped
    receipt = chain.d.rpc("eth_getTransactionReceipt", filler["tx_hash"])
    assert receipt["status"] == "0x1" and receipt["to"] == chain.account("searcher").lower()
    assert int(receipt["blockNumber"], 16) <= (result.block or 0)
    assert result.realised_profit == result.outcome.profit  # type: ignore[union-attr]
