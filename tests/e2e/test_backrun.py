"""A backrun end to end on the devnet: a large pending swap, the engine sees it in the mempool,
simulates it on a fork, finds the cycle it opens, and the devnet relay lands the bundle
[user's swap, our backrun] in one block, the user's first.

What is proven, on the chain itself:
- the block holds exactly the user's transaction, then ours;
- the user got exactly what the same swap gives alone on a fork of the parent block (our
  transaction did not touch their price);
- our executor's realised profit equals the simulation's and the strategy's expectation;
- the engine's own state was not moved by the pending transaction's preview.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient
from tallyio.chain.reorg import block_from_rpc
from tallyio.collectors.mempool import MempoolCollector, merge
from tallyio.collectors.node import NodeCollector
from tallyio.core.engine import Engine, plan_key
from tallyio.core.events import Block, Log, PendingTx
from tallyio.core.opportunity import BlockContext, Kind, Opportunity
from tallyio.devnet.context import TOKENS, forge_build
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.devnet.relay import DevnetRelay
from tallyio.devnet.scenarios import find_pool, pending_victim_swap
from tallyio.execution.executors import Approved, BundleExecutor, Status
from tallyio.execution.fees import FeeCaps, FeePolicy, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.relays import RelayClient, RelayEndpoint, RelayMetrics
from tallyio.execution.signer import SecretKey, Signer
from tallyio.execution.submit import ExecutionMetrics
from tallyio.sim import ForkSimulator, SimTx
from tallyio.sim.pending import simulate_pending
from tallyio.state.pool_loader import load_pools, sources_from_manifest
from tallyio.state.pools import pool_key
from tallyio.strategies.arbitrage import ArbitrageConfig
from tallyio.strategies.backrun import BackrunStrategy, leading_tx

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

GWEI = 10**9
USDC = 10**6
CAPS = FeeCaps(max_fee_per_gas=1_000 * GWEI, max_priority_fee_per_gas=200 * GWEI)
SWAP_USDC = 250_000 * USDC  # an eighth of the pair's USDC side: a large swap


@pytest.fixture
async def relay(chain: Devnet) -> AsyncIterator[DevnetRelay]:
    async with DevnetRelay(chain.rpc_url, poll_interval=0.02) as r:
        yield r


@pytest.fixture
def executor(chain: Devnet) -> Iterator[str]:
    forge_build()
    searcher = chain.account("searcher")
    weth = chain.manifest["tokens"]["WETH"]
    contract = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher)  # fmt: skip
    try:
        yield contract.address
    finally:
        chain.d.rpc("evm_setAutomine", True)  # the scenario turned it off


def _signer(chain: Devnet, name: str) -> Signer:
    return Signer(SecretKey.from_hex(chain.manifest["accounts"][name]["private_key"]))


def _bundle_executor(chain: Devnet, node: ChainClient, relay: DevnetRelay) -> BundleExecutor:
    signer = _signer(chain, "searcher")

    async def send_raw(raw: bytes) -> str:
        return str(await node.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    nonces = NonceManager(node, chain_id=chain.manifest["chain_id"], address=signer.address,
                          sign=signer.sign_transaction, send_raw=send_raw)  # fmt: skip
    relays = RelayClient([RelayEndpoint(relay.url, "devnet")], _signer(chain, "relay_signer"),
                         metrics=RelayMetrics(CollectorRegistry()))  # fmt: skip
    return BundleExecutor(node, ForkSimulator(chain.rpc_url), nonces, signer, relays,
                          fee_params=fee_params("devnet"), caps=CAPS, poll_interval=0.02,
                          metrics=ExecutionMetrics(CollectorRegistry()))  # fmt: skip


def _config(manifest: dict[str, Any]) -> ArbitrageConfig:
    aave = manifest["aave_v3"]
    return ArbitrageConfig(
        balancer_vault=manifest["balancer_v2"]["vault"],
        balancer_fee=int(manifest["balancer_v2"]["flash_loan_fee_percentage"]),
        aave_pool=aave["pool"],
        aave_premium_bps=int(aave["flashloan_premium_bps"]),
        aave_tokens=frozenset(a.lower() for a in manifest["tokens"].values()),
    )


def _context(chain: Devnet) -> Any:
    """Each block's fees, and each token's units per ETH from the devnet's feeds (read once)."""
    ctx, manifest = chain.context(), chain.manifest
    usd = {s: int(f.functions.latestAnswer().call()) for s, f in ctx.feeds.items()}
    decimals = {s: TOKENS.get(s, ("", 18))[1] for s in manifest["tokens"]}
    prices = {manifest["tokens"][s].lower(): 10 ** decimals[s] * usd["WETH"] // usd[s]
              for s in manifest["tokens"] if s in usd}  # fmt: skip

    def build(block: Block, view: Any) -> BlockContext:
        return BlockContext(manifest["chain_id"], block.number, block.timestamp,
                            block.base_fee or 0, GWEI, prices)  # fmt: skip

    return build


@dataclass
class Run:
    engine: Engine
    task: asyncio.Task[Any]
    stop: asyncio.Event


async def _start(chain: Devnet, node: ChainClient, relay: DevnetRelay, executor: str) -> Run:
    snapshot = await load_pools(node, chain.manifest["multicall"],
                                sources_from_manifest(chain.manifest))  # fmt: skip
    state = snapshot.market_state()
    searcher = chain.account("searcher")
    backrun = BackrunStrategy.from_entries(_config(chain.manifest), snapshot.entries,
                                           own=[searcher])  # fmt: skip
    bundles = _bundle_executor(chain, node, relay)
    sim = ForkSimulator(chain.rpc_url)
    # Our tip is below the user's, so anvil's own fee order agrees with the bundle's. Above it,
    # the devnet relay's first try mines us first (ours reverts there, unprofitable alone) and
    # rebuilds the block in order; that try's block is briefly visible to whoever polls.
    policy = FeePolicy(priority_fee=0)

    async def preview(tx: PendingTx) -> Sequence[Log]:
        def run() -> Sequence[Log]:
            return simulate_pending(sim, tx, sim.latest_block()).logs

        return await asyncio.to_thread(run)

    async def submit(group: Sequence[Opportunity], block: BlockContext) -> list[Any]:
        out = []
        for opp in group:
            user = leading_tx(opp)
            assert user is not None and opp.kind is Kind.BACKRUN, opp
            approved = Approved(opp.plan, executor, opp.expected_profit, opp.gas_estimate,
                                block.block + 1, fee_policy=policy, eth_price=opp.eth_price,
                                strategy=opp.strategy, plan_id=plan_key(opp))  # fmt: skip
            out.append(await bundles.execute_backrun(approved, user))
        return out

    engine = Engine(state, [backrun], submit, _context(chain), preview=preview)
    latest = await node.request("eth_getBlockByNumber", ["latest", False])
    head = block_from_rpc(chain.manifest["chain_id"], latest)
    blocks = NodeCollector(node, chain.manifest["chain_id"], start=head, poll_interval=0.02)
    pending = MempoolCollector(node, chain.manifest["chain_id"], poll_interval=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(merge(blocks.events(), pending.events()), stop=stop))
    task.add_done_callback(lambda _: asyncio.ensure_future(bundles.relays.close()))
    return Run(engine, task, stop)


async def _until(what: Any, run: Run, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert not run.task.done(), f"the engine stopped: {run.task}"
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _balance(chain: Devnet, symbol: str, who: str, block: int | str = "latest") -> int:
    token = chain.context().tokens[symbol]
    return int(token.functions.balanceOf(who).call(block_identifier=block))


async def test_a_large_pending_swap_is_backrun_in_its_block_at_the_users_own_price(
    chain: Devnet, node: ChainClient, relay: DevnetRelay, executor: str
) -> None:
    venue = next(v for v in chain.manifest["uniswap_v2"] if v["name"] == "uniswap_v2")
    pair = next(p for p in venue["pairs"] if {p["symbol0"], p["symbol1"]} == {"WETH", "USDC"})
    ref = find_pool(chain.manifest, pair["address"])
    user = chain.account("trader")
    run = await _start(chain, node, relay, executor)
    try:
        chain.d.mine()  # one block the engine sees: its prices and fees
        await _until(lambda: run.engine.block is not None, run)
        before = run.engine.state.get(pool_key(pair["address"]))
        # the user buys WETH with USDC on the Uniswap V2 pair; automine goes off
        h = pending_victim_swap(chain.context(), pair["address"], SWAP_USDC,
                                zero_for_one=ref.symbol0 == "USDC", sender="trader")  # fmt: skip
        await _until(lambda: run.engine.stats.results, run)
        landed = run.engine.stats.results[0][1].block or 0
        await _until(lambda: run.engine.state.block >= landed, run)  # the engine saw it
    finally:
        run.task.cancel()  # mining here could race the relay still building the block
        await asyncio.gather(run.task, return_exceptions=True)

    (opp, result), *_ = run.engine.stats.results
    assert opp.kind is Kind.BACKRUN and leading_tx(opp) == h.lower()
    assert result.status is Status.INCLUDED, result.reason
    block = chain.d.rpc("eth_getBlockByNumber", hex(result.block), False)
    assert [t.lower() for t in block["transactions"]] == [h.lower(), result.tx_hash.lower()]
    assert run.engine.state.get(pool_key(pair["address"])) != before  # the block, not the preview

    # the user's output, exactly as the same swap alone on a fork of the parent block
    tx = chain.d.rpc("eth_getTransactionByHash", h)
    alone = ForkSimulator(chain.rpc_url).simulate(
        SimTx(user, tx["to"], bytes.fromhex(tx["input"][2:]), 0, int(tx["gas"], 16)),
        chain.manifest["tokens"]["WETH"], user, result.block - 1,
    )  # fmt: skip
    got = _balance(chain, "WETH", user, result.block) - _balance(
        chain, "WETH", user, result.block - 1
    )
    assert alone.success and got == alone.profit > 0

    # our profit: realised on chain == simulated (behind the user's swap) == the strategy's
    tokens = {a.lower(): s for s, a in chain.manifest["tokens"].items()}
    token = tokens[opp.profit_token.lower()]
    held = _balance(chain, token, executor, result.block) - _balance(
        chain, token, executor, result.block - 1
    )
    assert result.outcome is not None
    assert held == result.realised_profit == result.outcome.profit == opp.expected_profit > 0
