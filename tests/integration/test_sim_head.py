"""A fork opened from the engine's head (the Block the collector built, as `rpc_header` gives it
back) is the fork opened from the node's own header, and asks the node for no header.

Every simulator here talks to the devnet through a counting relay (tests/rpc_counter.py): what
it counts is every request the simulator and pyrevm make to the real node.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

from rpc_counter import CountingProxy
from tallyio.chain import build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.chain.reorg import block_from_rpc, rpc_header
from tallyio.core.events import Block
from tallyio.core.plan import Plan, UniswapV2Swap
from tallyio.devnet import uniswap_v2 as v2
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import load_artifact, load_forge_artifact
from tallyio.devnet.scenarios import dislocate
from tallyio.execution.executors import Approved, PaperExecutor, Status
from tallyio.execution.fees import FeeCaps, fee_params
from tallyio.execution.submit import ExecutionMetrics
from tallyio.sim import ForkSimulator, NextBlock, NodeSimulator, SimTx, SimulationError

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

HEADER_READS = ("eth_getBlockByNumber", "eth_getBlockByHash")
USDC = 10**6
GWEI = 10**9


@pytest.fixture
def proxy(chain: Devnet) -> Iterator[CountingProxy]:
    with CountingProxy(chain.rpc_url) as p:
        yield p


def engine_head(chain: Devnet) -> Block:
    """The head as the engine holds it: the collector's Block from the node's latest header."""
    chain.d.mine()  # after evm_revert anvil's next base fee can lag its latest header
    raw = chain.d.rpc("eth_getBlockByNumber", "latest", False)
    return block_from_rpc(chain.manifest["chain_id"], raw)


def node_header(chain: Devnet, number: int) -> dict[str, Any]:
    found: dict[str, Any] = chain.d.rpc("eth_getBlockByNumber", hex(number), False)
    return found


def swap(chain: Devnet) -> SimTx:
    """1,000 USDC for WETH through the Uniswap V2 router, from a funded trader."""
    ctx, trader, tokens = chain.context(), chain.account("trader"), chain.manifest["tokens"]
    router = chain.d.at(load_artifact(v2.ROUTER), chain.manifest["uniswap_v2"][0]["router"])
    ctx.fund("USDC", trader, 1_000 * USDC)
    ctx.approve("USDC", trader, router.address)
    fn = router.functions.swapExactTokensForTokens(
        1_000 * USDC, 0, [tokens["USDC"], tokens["WETH"]], trader, 2**64
    )
    return SimTx(trader, router.address, bytes.fromhex(fn._encode_transaction_data()[2:]))


def env_probe(chain: Devnet) -> SimTx:
    """A call returning NUMBER, TIMESTAMP, COINBASE, PREVRANDAO, GASLIMIT, CHAINID: the next
    block's env as the EVM itself sees it."""
    probe = "0x" + "e1" * 20
    body = "".join(
        f"{op}60{i * 32:02x}52" for i, op in enumerate(["43", "42", "41", "44", "45", "46"])
    )
    chain.d.rpc("anvil_setCode", probe, "0x" + body + "60c06000f3")
    return SimTx(chain.account("trader"), probe)


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


# -- the fork simulator ------------------------------------------------------------------------
def test_fork_from_the_engine_head_is_the_fork_from_the_nodes_header(
    chain: Devnet, proxy: CountingProxy
) -> None:
    probe, tx = env_probe(chain), swap(chain)
    head = engine_head(chain)
    raw = node_header(chain, head.number)
    assert (head.miner, head.mix_hash) == (raw["miner"], raw["mixHash"])
    header = rpc_header(head)
    assert header is not None and header["miner"] == raw["miner"]
    weth, trader = chain.manifest["tokens"]["WETH"], chain.account("trader")

    from_head = ForkSimulator(proxy.url)
    ours = from_head.simulate(tx, weth, trader, head.number, header)
    probed = from_head.simulate(probe, None, trader, head.number, header)
    assert proxy.of(*HEADER_READS) == 0 and proxy.of("eth_getStorageAt") > 0  # it did read state

    from_node = ForkSimulator(chain.rpc_url)  # opens its fork from the node's header
    theirs = from_node.simulate(tx, weth, trader, head.number)
    assert from_head.fork is not None and from_node.fork is not None
    assert from_head.fork.next == from_node.fork.next  # number, time, coinbase, randao, base fee
    assert from_head.fork.block_hash == from_node.fork.block_hash == raw["hash"]
    assert ours == theirs and ours.success and ours.profit > 0  # gas, logs, output, profit
    assert probed == from_node.simulate(probe, None, trader, head.number)
    number, timestamp, coinbase, randao, gas_limit, chain_id = words(probed.return_data)
    assert (number, timestamp) == (head.number + 1, head.timestamp + from_head.block_time)
    assert coinbase == int(raw["miner"], 16) and randao == int(raw["mixHash"], 16)
    assert (gas_limit, chain_id) == (int(raw["gasLimit"], 16), chain.manifest["chain_id"])


def test_a_head_without_miner_is_fetched_never_a_key_error(
    chain: Devnet, proxy: CountingProxy
) -> None:
    """The head as collectors built it before Block carried miner and mixHash: its header once
    reached NextBlock.after (KeyError 'miner' in `make demo`). It is now refused there with a
    clear error, and both simulators ask the node for the whole header instead."""
    tx = swap(chain)
    head = replace(engine_head(chain), miner=None, mix_hash=None)
    header = rpc_header(head)
    assert header is not None and "miner" not in header and "mixHash" not in header
    with pytest.raises(SimulationError, match="has no miner"):
        NextBlock.after(header, 12)
    weth, trader = chain.manifest["tokens"]["WETH"], chain.account("trader")
    expected = ForkSimulator(chain.rpc_url).simulate(tx, weth, trader, head.number)

    assert ForkSimulator(proxy.url).simulate(tx, weth, trader, head.number, header) == expected
    assert proxy.of(*HEADER_READS) == 1
    node = NodeSimulator(proxy.url)
    assert node.simulate(tx, weth, trader, head.number, header).success
    assert proxy.of(*HEADER_READS) == 2


async def test_node_simulator_from_the_engine_head_asks_no_header(
    chain: Devnet, proxy: CountingProxy
) -> None:
    tx = swap(chain)
    head = engine_head(chain)
    weth, trader = chain.manifest["tokens"]["WETH"], chain.account("trader")
    sim = NodeSimulator(proxy.url)
    try:
        ours = await sim.simulate_sequence_async([tx], weth, trader, head.number, rpc_header(head))
        assert proxy.of(*HEADER_READS) == 0 and proxy.of("eth_simulateV1") == 1
        fresh = NodeSimulator(chain.rpc_url)
        assert ours == fresh.simulate(tx, weth, trader, head.number) and ours.success
        stale = replace(head, miner=None)  # the earlier failure mode, on the async path
        sim.forget()
        again = await sim.simulate_sequence_async([tx], weth, trader, head.number,
                                                  rpc_header(stale))  # fmt: skip
        assert again == ours and proxy.of(*HEADER_READS) == 1
    finally:
        await sim.aclose()


# -- the pipeline, as the engine's submit drives it ------------------------------------------------
async def test_pipeline_simulates_from_the_engine_head_without_a_header_request(
    chain: Devnet, proxy: CountingProxy, tmp_path: Any
) -> None:
    """A paper executor given the engine's head (app/routing.py passes `rpc_header(head)`)
    simulates a real arbitrage on TallyExecutor with no header read by anyone."""
    forge_build()
    ctx, manifest, searcher = chain.context(), chain.manifest, chain.account("searcher")
    weth, usdc = manifest["tokens"]["WETH"], manifest["tokens"]["USDC"]
    executor = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher).address  # fmt: skip
    uni, sushi = (manifest["uniswap_v2"][i]["pairs"][0]["address"] for i in (0, 1))
    dislocate(ctx, uni, 3.0)  # WETH 3% dearer on Uniswap than on SushiSwap
    ctx.fund("USDC", executor, 10_000 * USDC)
    plan = Plan((UniswapV2Swap(sushi, usdc, weth, 10_000 * USDC), UniswapV2Swap(uni, weth, usdc)),
                profit_token=usdc, min_profit=1)  # fmt: skip
    head = engine_head(chain)
    client = build_client(proxy.url, retry_policy=RetryPolicy(attempts=1),
                          rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    paper = PaperExecutor(client, ForkSimulator(proxy.url), owner=searcher,
                          fee_params=fee_params("devnet"),
                          caps=FeeCaps(1_000 * GWEI, 200 * GWEI),
                          metrics=ExecutionMetrics(CollectorRegistry()))  # fmt: skip
    approved = Approved(plan, executor, 1, 150_000, head.number + 1, eth_price=3_000 * USDC,
                        strategy="arbitrage")  # fmt: skip
    try:
        (result,) = await paper.execute_group([approved], header=rpc_header(head))
    finally:
        await client.close()
    assert result.status is Status.SIMULATED, result.reason
    assert result.outcome is not None and result.outcome.profit > 0
    assert result.simulated_block == head.number
    assert proxy.of(*HEADER_READS) == 0 and proxy.of("eth_getStorageAt") > 0
