"""The node simulator (eth_simulateV1) against the chain itself and against the pyrevm fork:
the same plans give the same gas, logs, output, revert reasons and profit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from web3.contract.contract import ContractFunction

from tallyio.devnet import uniswap_v2 as v2
from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import load_artifact
from tallyio.sim import ForkSimulator, NodeSimulator, Outcome, SimTx

pytestmark = pytest.mark.devnet

DEADLINE = 2**64
USDC_IN = 1_000 * 10**6
GWEI = 10**9


def funded_trader(chain: Any, usdc: int = USDC_IN) -> tuple[DeployContext, str]:
    ctx = chain.context()
    trader = chain.account("trader")
    ctx.fund("USDC", trader, usdc)
    ctx.approve("USDC", trader, chain.manifest["uniswap_v2"][0]["router"])
    return ctx, trader


def swap_fn(chain: Any, amount_in: int = USDC_IN, deadline: int = DEADLINE) -> ContractFunction:
    tokens = chain.manifest["tokens"]
    router = chain.d.at(load_artifact(v2.ROUTER), chain.manifest["uniswap_v2"][0]["router"])
    path = [tokens["USDC"], tokens["WETH"]]
    return router.functions.swapExactTokensForTokens(
        amount_in, 0, path, chain.account("trader"), deadline
    )


def as_tx(fn: ContractFunction, sender: str, **kw: Any) -> SimTx:
    return SimTx(sender, fn.address, bytes.fromhex(fn._encode_transaction_data()[2:]), **kw)


def weth_of(ctx: DeployContext, owner: str) -> int:
    return int(ctx.tokens["WETH"].functions.balanceOf(owner).call())


def send(chain: Any, tx: SimTx, gas: int = 2_000_000) -> dict[str, Any]:
    full = {"from": tx.sender, "to": tx.to, "data": "0x" + tx.data.hex(), "gas": hex(gas)}
    if tx.value:
        full["value"] = hex(tx.value)
    if tx.gas_price:
        full["gasPrice"] = hex(tx.gas_price)
    receipt: dict[str, Any] = chain.d.wait_receipt(chain.d.rpc("eth_sendTransaction", full))
    return receipt


def both(chain: Any, txs: list[SimTx], token: str | None, owner: str) -> tuple[Outcome, Outcome]:
    block = chain.d.block_number()
    node = NodeSimulator(chain.rpc_url).simulate_sequence(txs, token, owner, block)
    fork = ForkSimulator(chain.rpc_url).simulate_sequence(txs, token, owner, block)
    return node, fork


def land_as_simulated(chain: Any) -> None:
    """The next block at the simulated block's time (parent + 12 s), as the fork test does."""
    parent = int(chain.d.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    chain.d.rpc("evm_setNextBlockTimestamp", parent + 12)


def test_swap_matches_the_chain_and_the_fork(chain: Any) -> None:
    ctx, trader = funded_trader(chain)
    tx = as_tx(swap_fn(chain), trader)
    weth = chain.manifest["tokens"]["WETH"]
    node, fork = both(chain, [tx], weth, trader)
    assert node.success and node.revert_reason is None
    assert node == fork  # gas, output, every log, profit, the block
    held = weth_of(ctx, trader)
    land_as_simulated(chain)
    receipt = send(chain, tx)
    assert weth_of(ctx, trader) - held == node.profit > 0
    assert int(receipt["gasUsed"], 16) == node.gas_used
    landed = [(lg["address"].lower(), [bytes.fromhex(t[2:]) for t in lg["topics"]],
               bytes.fromhex(lg["data"][2:])) for lg in receipt["logs"]]  # fmt: skip
    assert landed == [(lg.address.lower(), list(lg.topics), lg.data) for lg in node.logs]


def test_revert_reason_and_gas_match_the_fork_and_the_chain(chain: Any) -> None:
    _, trader = funded_trader(chain)
    past = int(chain.d.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) - 1
    tx = as_tx(swap_fn(chain, deadline=past), trader)
    node, fork = both(chain, [tx], chain.manifest["tokens"]["WETH"], trader)
    assert node.revert_reason == "UniswapV2Router: EXPIRED" and not node.success
    assert node == fork
    land_as_simulated(chain)
    receipt = send(chain, tx)
    assert int(receipt["status"], 16) == 0 and int(receipt["gasUsed"], 16) == node.gas_used


def test_out_of_gas_is_a_halt(chain: Any) -> None:
    _, trader = funded_trader(chain)
    tx = replace(as_tx(swap_fn(chain), trader), gas_limit=60_000)
    node, fork = both(chain, [tx], chain.manifest["tokens"]["WETH"], trader)
    assert not node.success and node.gas_used == fork.gas_used == 60_000
    assert node.revert_reason is not None and node.revert_reason.startswith("halt: ")


def test_sequence_of_two_swaps_matches_the_fork_step_by_step(chain: Any) -> None:
    _, trader = funded_trader(chain, usdc=2 * USDC_IN)
    tx = as_tx(swap_fn(chain), trader)
    node, fork = both(chain, [tx, tx], chain.manifest["tokens"]["WETH"], trader)
    assert node.success and node.steps == fork.steps and node.profit == fork.profit
    assert node.steps[1].gas_used < node.steps[0].gas_used  # the second sees the first's writes


def test_eth_profit_pays_gas_like_the_fork(chain: Any) -> None:
    trader, other = chain.account("trader"), chain.account("competitor")
    tx = SimTx(trader, other, value=10**18, gas_limit=21_000, gas_price=2 * GWEI)
    paid, fork_paid = both(chain, [tx], None, trader)
    got, fork_got = both(chain, [tx], None, other)
    assert paid.profit == fork_paid.profit == -(10**18 + 21_000 * 2 * GWEI)
    assert got.profit == fork_got.profit == 10**18


async def test_awaitable_run_equals_the_synchronous_one(chain: Any) -> None:
    _, trader = funded_trader(chain)
    tx = as_tx(swap_fn(chain), trader)
    weth, block = chain.manifest["tokens"]["WETH"], chain.d.block_number()
    header = chain.d.rpc("eth_getBlockByNumber", hex(block), False)
    sim = NodeSimulator(chain.rpc_url)
    try:
        got = await sim.simulate_sequence_async([tx], weth, trader, block, header)
        again = await sim.simulate_sequence_async([tx], weth, trader, block)  # header cached
    finally:
        await sim.aclose()
    assert got == again == NodeSimulator(chain.rpc_url).simulate(tx, weth, trader, block)
