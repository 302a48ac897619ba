"""The pyrevm fork simulator against the chain itself: a simulated swap must land exactly."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from tallyio.devnet import uniswap_v2 as v2
from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import load_artifact
from tallyio.devnet.scenarios import SPARE
from tallyio.sim import ForkSimulator, SimTx
from tallyio.sim import fork as fork_module

pytestmark = pytest.mark.devnet

DEADLINE = 2**64
USDC_IN = 1_000 * 10**6
GWEI = 10**9


# -- helpers --------------------------------------------------------------------------------
def router(chain: Any) -> Contract:
    return chain.d.at(load_artifact(v2.ROUTER), chain.manifest["uniswap_v2"][0]["router"])


def funded_trader(
    chain: Any, usdc: int = USDC_IN, approve: bool = True
) -> tuple[DeployContext, str]:
    ctx = chain.context()
    trader = chain.account("trader")
    ctx.fund("USDC", trader, usdc)
    if approve:
        ctx.approve("USDC", trader, router(chain).address)
    return ctx, trader


def swap_fn(
    chain: Any, amount_in: int = USDC_IN, min_out: int = 0, deadline: int = DEADLINE
) -> ContractFunction:
    tokens = chain.manifest["tokens"]
    path = [tokens["USDC"], tokens["WETH"]]
    return router(chain).functions.swapExactTokensForTokens(
        amount_in, min_out, path, chain.account("trader"), deadline
    )


def as_tx(fn: ContractFunction, sender: str, **kw: Any) -> SimTx:
    return SimTx(sender, fn.address, bytes.fromhex(fn._encode_transaction_data()[2:]), **kw)


def weth_of(ctx: DeployContext, owner: str) -> int:
    return int(ctx.tokens["WETH"].functions.balanceOf(owner).call())


def send_unchecked(chain: Any, tx: SimTx, gas: int = 2_000_000) -> dict[str, Any]:
    """Send on anvil whether or not it reverts; returns the receipt."""
    full = {"from": tx.sender, "to": tx.to, "data": "0x" + tx.data.hex(), "gas": hex(gas)}
    if tx.value:
        full["value"] = hex(tx.value)
    if tx.gas_price:
        full["gasPrice"] = hex(tx.gas_price)
    receipt: dict[str, Any] = chain.d.wait_receipt(chain.d.rpc("eth_sendTransaction", full))
    return receipt


def land_as_simulated(chain: Any, sim: ForkSimulator) -> None:
    """Give the chain's next block the simulated block's timestamp: on a fresh devnet anvil
    stamps blocks by the wall clock, several per second, and a V2 pair writes its cumulative
    prices only when time has passed since its last update."""
    assert sim.fork is not None
    chain.d.rpc("evm_setNextBlockTimestamp", sim.fork.next.timestamp)


def header(chain: Any, block: str = "latest") -> dict[str, Any]:
    found: dict[str, Any] = chain.d.rpc("eth_getBlockByNumber", block, False)
    return found


# -- one transaction --------------------------------------------------------------------------
def test_swap_matches_sending_it_to_the_chain(chain: Any) -> None:
    ctx, trader = funded_trader(chain)
    fn = swap_fn(chain)
    sim = ForkSimulator(chain.rpc_url)
    outcome = sim.simulate(as_tx(fn, trader), chain.manifest["tokens"]["WETH"], trader)
    assert outcome.success and outcome.revert_reason is None
    assert outcome.block == chain.d.block_number()
    assert len(outcome.logs) == 5  # Transfer in, Transfer out, Sync, Swap ... and the router's
    held = weth_of(ctx, trader)

    land_as_simulated(chain, sim)
    receipt = chain.d.send(fn, sender=trader)

    assert weth_of(ctx, trader) - held == outcome.profit > 0
    assert int(receipt["gasUsed"], 16) == outcome.gas_used  # refunds included on both sides
    assert len(receipt["logs"]) == len(outcome.logs)
    assert [bytes.fromhex(t[2:]) for t in receipt["logs"][-1]["topics"]] == list(
        outcome.logs[-1].topics
    )
    amounts_out = int.from_bytes(outcome.return_data[-32:], "big")
    assert amounts_out == outcome.profit


def test_expired_deadline_reverts_with_the_routers_reason_and_gas(chain: Any) -> None:
    _, trader = funded_trader(chain)
    past = int(header(chain)["timestamp"], 16) - 1
    tx = as_tx(swap_fn(chain, deadline=past), trader)
    sim = ForkSimulator(chain.rpc_url)
    outcome = sim.simulate(tx, chain.manifest["tokens"]["WETH"], trader)
    assert not outcome.success
    assert outcome.revert_reason == "UniswapV2Router: EXPIRED"
    assert outcome.profit == 0 and outcome.logs == ()

    land_as_simulated(chain, sim)
    receipt = send_unchecked(chain, tx)
    assert int(receipt["status"], 16) == 0
    assert int(receipt["gasUsed"], 16) == outcome.gas_used


def test_slippage_limit_reverts_with_insufficient_output(chain: Any) -> None:
    _, trader = funded_trader(chain)
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    fair = sim.simulate(as_tx(swap_fn(chain), trader), weth, trader).profit
    greedy = as_tx(swap_fn(chain, min_out=fair + 1), trader)
    outcome = sim.simulate(greedy, weth, trader)
    assert outcome.revert_reason == "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"
    assert sim.simulate(as_tx(swap_fn(chain, min_out=fair), trader), weth, trader).success


def test_out_of_gas_halts_and_too_little_gas_is_invalid(chain: Any) -> None:
    _, trader = funded_trader(chain)
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    tx = as_tx(swap_fn(chain), trader)
    halted = sim.simulate(replace(tx, gas_limit=60_000), weth, trader)
    assert not halted.success and halted.revert_reason == "halt: OutOfGas(Basic)"
    assert halted.gas_used == 60_000
    invalid = sim.simulate(replace(tx, gas_limit=20_000), weth, trader)
    assert not invalid.success and invalid.gas_used == 0
    assert invalid.revert_reason is not None and invalid.revert_reason.startswith("invalid: ")


def test_eth_profit_pays_gas_like_the_chain(chain: Any) -> None:
    trader, other = chain.account("trader"), chain.account("competitor")
    tx = SimTx(trader, other, value=10**18, gas_limit=21_000, gas_price=2 * GWEI)
    sim = ForkSimulator(chain.rpc_url)
    paid = sim.simulate(tx, None, trader)
    got = sim.simulate(tx, None, other)
    assert paid.gas_used == 21_000
    assert paid.profit == -(10**18 + 21_000 * 2 * GWEI)
    assert got.profit == 10**18

    before = int(chain.d.rpc("eth_getBalance", trader, "latest"), 16)
    receipt = send_unchecked(chain, tx, gas=21_000)
    assert int(receipt["effectiveGasPrice"], 16) == 2 * GWEI
    assert int(chain.d.rpc("eth_getBalance", trader, "latest"), 16) - before == paid.profit


# -- isolation, sequences, blocks -------------------------------------------------------------
def test_each_simulation_starts_from_the_block_state(chain: Any) -> None:
    _, trader = funded_trader(chain, usdc=3 * USDC_IN)
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    block = chain.d.block_number()
    tx = as_tx(swap_fn(chain), trader)
    first = sim.simulate(tx, weth, trader, block=block)
    bigger = sim.simulate(as_tx(swap_fn(chain, 3 * USDC_IN), trader), weth, trader, block=block)
    again = sim.simulate(tx, weth, trader, block=block)
    assert bigger.success and bigger.profit > first.profit
    assert again == first  # same gas (slots cold again), same output, same logs
    assert chain.d.block_number() == block  # nothing reached the chain


def test_sequence_sees_earlier_steps(chain: Any) -> None:
    """A swap needs the approval before it: alone it fails, after it in sequence it pays."""
    ctx, trader = funded_trader(chain, approve=False)
    weth = chain.manifest["tokens"]["WETH"]
    approve_fn = ctx.tokens["USDC"].functions.approve(router(chain).address, 2**256 - 1)
    swap = as_tx(swap_fn(chain), trader)
    sim = ForkSimulator(chain.rpc_url)
    alone = sim.simulate(swap, weth, trader)
    assert alone.revert_reason == "TransferHelper: TRANSFER_FROM_FAILED"
    both = sim.simulate_sequence([as_tx(approve_fn, trader), swap], weth, trader)
    assert both.success and both.profit > 0
    assert [s.success for s in both.steps] == [True, True]
    assert both.gas_used == sum(s.gas_used for s in both.steps)


def test_sequence_of_two_swaps_matches_one_block_with_both(chain: Any) -> None:
    ctx, trader = funded_trader(chain, usdc=2 * USDC_IN)
    weth = chain.manifest["tokens"]["WETH"]
    tx = as_tx(swap_fn(chain), trader)
    sim = ForkSimulator(chain.rpc_url)
    outcome = sim.simulate_sequence([tx, tx], weth, trader)
    held = weth_of(ctx, trader)
    land_as_simulated(chain, sim)

    chain.d.rpc("evm_setAutomine", False)
    try:
        hashes = [chain.d.rpc("eth_sendTransaction", {
            "from": trader, "to": tx.to, "data": "0x" + tx.data.hex(), "gas": hex(500_000),
        }) for _ in range(2)]  # fmt: skip
        chain.d.rpc("evm_mine")
    finally:
        chain.d.rpc("evm_setAutomine", True)
    receipts = [chain.d.wait_receipt(h) for h in hashes]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]

    assert outcome.success and weth_of(ctx, trader) - held == outcome.profit
    # each step runs cold, priced against the state the earlier one left, as on chain
    assert [s.gas_used for s in outcome.steps] == [int(r["gasUsed"], 16) for r in receipts]


def test_a_new_block_replaces_the_fork(chain: Any) -> None:
    _, trader = funded_trader(chain, usdc=2 * USDC_IN)
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    tx = as_tx(swap_fn(chain), trader)
    first = sim.simulate(tx, weth, trader)
    old = sim.fork
    assert old is not None and old.block == first.block

    chain.d.send(swap_fn(chain), sender=trader)  # the real swap moves the price: block + 1

    assert sim.simulate(tx, weth, trader, block=first.block) == first  # pinned, not moved
    assert sim.fork is old
    moved = sim.simulate(tx, weth, trader)
    assert moved.block == first.block + 1 and sim.fork is not old
    assert moved.success and moved.profit < first.profit


def test_a_reorg_to_the_same_height_replaces_the_fork(chain: Any) -> None:
    """Pinned by number alone a fork would outlive a reorg; given the hash, it must not."""
    _, trader = funded_trader(chain, usdc=2 * USDC_IN)
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    chain.d.mine()
    head = chain.d.block_number()
    old_hash = chain.d.rpc("eth_getBlockByNumber", hex(head), False)["hash"]
    old = sim.at_block(head, old_hash)
    # one transfer in the replacement block: an empty one mined in the same second as the
    # block it replaces would have the same hash (no reorg at all)
    chain.d.rpc("anvil_reorg", 1, [[{"from": SPARE, "to": SPARE, "value": "0x1"}, 0]])
    new_hash = chain.d.rpc("eth_getBlockByNumber", hex(head), False)["hash"]
    assert new_hash != old_hash and chain.d.block_number() == head
    fresh = sim.at_block(head, new_hash)
    assert fresh is not old and fresh.block_hash == new_hash
    assert sim.at_block(head, new_hash) is fresh  # reused while the branch holds
    with pytest.raises(fork_module.SimulationError, match="is now"):
        sim.at_block(head, old_hash)
    assert sim.simulate(as_tx(swap_fn(chain), trader), weth, trader, block=head).success


def test_warming_prefetches_without_warming_gas(chain: Any) -> None:
    """Prefetched accounts sit in the fork's cache, not in EIP-2929's warm set."""
    _, trader = funded_trader(chain)
    tokens = chain.manifest["tokens"]
    pair = chain.manifest["uniswap_v2"][0]["pairs"][0]["address"]  # WETH/USDC
    tx = as_tx(swap_fn(chain), trader)
    warmed = ForkSimulator(chain.rpc_url)
    warmed.warm([tx.to, pair, tokens["USDC"], tokens["WETH"], trader], {pair: range(6, 10)})
    plain = ForkSimulator(chain.rpc_url).simulate(tx, tokens["WETH"], trader)
    assert warmed.simulate(tx, tokens["WETH"], trader) == plain


# -- the simulated block -----------------------------------------------------------------------
def env_probe_code() -> str:
    """Runtime code returning NUMBER, TIMESTAMP, COINBASE, BASEFEE, GASLIMIT, CHAINID."""
    ops = ["43", "42", "41", "48", "45", "46"]
    body = "".join(f"{op}60{i * 32:02x}52" for i, op in enumerate(ops))
    return "0x" + body + "60c06000f3"


def test_simulated_block_is_the_next_one(chain: Any) -> None:
    probe = "0x" + "e0" * 20
    chain.d.rpc("anvil_setCode", probe, env_probe_code())
    chain.d.mine()  # after evm_revert anvil's next base fee can lag its latest header
    parent = header(chain)
    sim = ForkSimulator(chain.rpc_url, block_time=2)
    outcome = sim.simulate(SimTx(chain.account("trader"), probe), None, probe)
    words = [int.from_bytes(outcome.return_data[i : i + 32], "big") for i in range(0, 192, 32)]
    number, timestamp, coinbase, basefee, gas_limit, chain_id = words
    assert number == int(parent["number"], 16) + 1
    assert timestamp == int(parent["timestamp"], 16) + 2
    assert coinbase == int(parent["miner"], 16)
    assert basefee == 0  # pyrevm 0.3.7's message_call zeroes BASEFEE; the fork still knows it:
    assert gas_limit == int(parent["gasLimit"], 16)
    assert chain_id == chain.manifest["chain_id"]

    chain.d.mine()
    assert sim.fork is not None
    assert sim.fork.next.base_fee == int(header(chain)["baseFeePerGas"], 16)


def test_sequence_through_a_fresh_account_and_back_to_the_block_state(chain: Any) -> None:
    """Step 2 spends ETH that step 1 gave an account the chain has never seen."""
    trader, other = chain.account("trader"), chain.account("competitor")
    fresh = "0x" + "5e" * 20
    sim = ForkSimulator(chain.rpc_url)
    block = chain.d.block_number()
    pay = SimTx(trader, other, value=10**18, gas_limit=21_000)
    alone = sim.simulate(pay, None, other, block=block)
    relay = [SimTx(trader, fresh, value=10**18), SimTx(fresh, other, value=4 * 10**17)]
    outcome = sim.simulate_sequence(relay, None, other, block=block)
    assert outcome.success and outcome.profit == 4 * 10**17
    assert [s.gas_used for s in outcome.steps] == [21_000, 21_000]
    assert sim.simulate_sequence(relay, None, fresh, block=block).profit == 6 * 10**17
    assert sim.simulate(pay, None, other, block=block) == alone


def test_sequence_falls_back_to_one_journal(chain: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a step's writes cannot be laid into the fork, the sequence runs in one journal:
    the same outputs and profit, later steps' gas lower (what the first warmed stays warm)."""
    _, trader = funded_trader(chain, usdc=2 * USDC_IN)
    weth = chain.manifest["tokens"]["WETH"]
    tx = as_tx(swap_fn(chain), trader)
    sim = ForkSimulator(chain.rpc_url)
    layered = sim.simulate_sequence([tx, tx], weth, trader)

    def refuse(journal: str) -> dict[tuple[str, int], tuple[int, int]]:
        raise fork_module._LayerError("refused")

    monkeypatch.setattr(fork_module, "_changed_slots", refuse)
    fallback = sim.simulate_sequence([tx, tx], weth, trader)
    assert fallback.profit == layered.profit and fallback.return_data == layered.return_data
    assert fallback.steps[0] == layered.steps[0]
    assert fallback.steps[1].gas_used < layered.steps[1].gas_used
    assert sim.simulate_sequence([tx], weth, trader) == sim.simulate(tx, weth, trader)
