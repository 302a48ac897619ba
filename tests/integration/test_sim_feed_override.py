"""Simulating with a price feed's answer overridden (FeedOverride): both lending markets read the
fixed price inside the run, the next plain run reads the real one again, and a liquidation that
reverts at the real price runs at the overridden one, alike on the fork and on the node, with
the collateral the chain pays when its real feed moves to that price in the same block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from eth_utils import keccak

from tallyio.sim import ForkSimulator, NodeSimulator, Outcome, SimTx
from tallyio.sim.overrides import FIXED_FEED_CODE, FeedOverride

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

WETH_AT = 1_900 * 10**8  # USD, 8 decimals: Aave borrower 0 goes under (test_devnet_aave SHOCKS)
REAL_WETH = 2_000 * 10**8  # the devnet's starting price
COVER = 5_000 * 10**6  # USDC, under the 50% close factor of borrower 0's debt
SIMULATORS = (ForkSimulator, NodeSimulator)


# -- helpers --------------------------------------------------------------------------------
def _tx(sender: str, to: str, signature: str, *words: int | str) -> SimTx:
    """A call with static arguments (addresses and uints), ABI-encoded by hand."""
    args = b"".join(
        int(w, 16).to_bytes(32, "big") if isinstance(w, str) else w.to_bytes(32, "big")
        for w in words
    )
    return SimTx(sender, to, keccak(text=signature)[:4] + args)


def _price_reads(chain: Devnet) -> list[SimTx]:
    """AaveOracle.getAssetPrice(WETH), then Venus's oracle on the WETH market."""
    reader, m = chain.account("trader"), chain.manifest
    return [
        _tx(reader, m["aave_v3"]["oracle"], "getAssetPrice(address)", m["tokens"]["WETH"]),
        _tx(reader, m["venus"]["oracle"], "getUnderlyingPrice(address)",
            m["venus"]["vtokens"]["WETH"]),
    ]  # fmt: skip


def _words(outcome: Outcome) -> list[int]:
    assert outcome.success, outcome.revert_reason
    return [int.from_bytes(s.return_data[:32], "big") for s in outcome.steps]


def _weth_override(chain: Devnet, answer: int = WETH_AT) -> FeedOverride:
    return FeedOverride(chain.manifest["price_feeds"]["WETH"], answer, 8)


def _liquidation(chain: Devnet) -> list[SimTx]:
    """The searcher mints USDC, approves the pool and liquidates Aave borrower 0's USDC debt
    for WETH collateral: every step simulated, nothing sent."""
    m, searcher = chain.manifest, chain.account("searcher")
    usdc, weth, pool = m["tokens"]["USDC"], m["tokens"]["WETH"], m["aave_v3"]["pool"]
    borrower = m["borrowers"]["aave_v3"][0]
    return [
        _tx(searcher, usdc, "mint(address,uint256)", searcher, COVER),
        _tx(searcher, usdc, "approve(address,uint256)", pool, COVER),
        _tx(searcher, pool, "liquidationCall(address,address,address,uint256,bool)",
            weth, usdc, borrower, COVER, 0),
    ]  # fmt: skip


def _percent_mul(value: int, bps: int) -> int:
    return (value * bps + 5_000) // 10_000


def _percent_div(value: int, bps: int) -> int:
    return (value * 10_000 + bps // 2) // bps


def _collateral_paid(chain: Devnet, weth_price: int) -> int:
    """LiquidationLogic._calculateAvailableCollateralToLiquidate for COVER at `weth_price`,
    less the protocol's share of the bonus (as test_devnet_aave checks on the chain)."""
    bonus = chain.manifest["aave_v3"]["reserves"]["WETH"]["liquidation_bonus"]
    with_bonus = _percent_mul(10**8 * COVER * 10**18 // (weth_price * 10**6), bonus)
    return with_bonus - _percent_mul(with_bonus - _percent_div(with_bonus, bonus), 1_000)


def _storage(chain: Devnet, address: str, slot: int) -> int:
    return int(chain.d.rpc("eth_getStorageAt", address, hex(slot), "latest"), 16)


# -- both oracles read the override -----------------------------------------------------------
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_both_oracles_read_the_overridden_price_and_then_the_real_one(
    chain: Devnet, simulator: type[ForkSimulator | NodeSimulator]
) -> None:
    sim, reads = simulator(chain.rpc_url), _price_reads(chain)
    block, trader = chain.d.block_number(), chain.account("trader")
    for answer in (WETH_AT, 1, 123_456_789_012):
        got = sim.simulate_sequence(
            reads, None, trader, block, overrides=[_weth_override(chain, answer)]
        )
        # Venus scales an 8-decimal USD feed to 36 - 18 decimals for an 18-decimal token.
        assert _words(got) == [answer, answer * 10**10]
        # Undone: the same simulator, the same block, no override: the real feed again.
        assert _words(sim.simulate_sequence(reads, None, trader, block)) == [
            REAL_WETH, REAL_WETH * 10**10,
        ]  # fmt: skip


def test_the_fork_puts_the_feeds_code_storage_and_balances_back(chain: Devnet) -> None:
    feed, trader = chain.manifest["price_feeds"]["WETH"], chain.account("trader")
    weth = chain.manifest["tokens"]["WETH"]
    sim = ForkSimulator(chain.rpc_url)
    # The first run on a fresh fork is the overridden one: the balances it caches are the block's.
    sim.simulate_sequence(_price_reads(chain), weth, trader, overrides=[_weth_override(chain)])
    fork = sim.fork
    assert fork is not None
    with fork._isolated():
        code = fork._evm.basic(feed).code
        slots = [fork._evm.storage(feed, i) for i in (0, 1)]
    assert code is not None and code != FIXED_FEED_CODE
    assert code == bytes.fromhex(chain.d.rpc("eth_getCode", feed, "latest")[2:])
    assert slots == [_storage(chain, feed, 0), _storage(chain, feed, 1)]
    assert slots[1] == REAL_WETH  # SettableFeed keeps latestAnswer in slot 1
    balance = chain.context().tokens["WETH"].functions.balanceOf(trader).call()
    assert fork.balance(weth, trader) == balance
    assert not fork.broken


def test_an_override_of_the_same_feed_twice_answers_the_later_and_undoes_to_the_real(
    chain: Devnet,
) -> None:
    sim, reads, trader = ForkSimulator(chain.rpc_url), _price_reads(chain), chain.account("trader")
    twice = [_weth_override(chain, 7), _weth_override(chain, WETH_AT)]
    assert _words(sim.simulate_sequence(reads, None, trader, overrides=twice))[0] == WETH_AT
    assert _words(sim.simulate_sequence(reads, None, trader))[0] == REAL_WETH


# -- a liquidation at the overridden price ----------------------------------------------------
def test_liquidation_reverts_at_the_real_price_and_runs_at_the_overridden_one(
    chain: Devnet,
) -> None:
    weth, searcher = chain.manifest["tokens"]["WETH"], chain.account("searcher")
    block, txs = chain.d.block_number(), _liquidation(chain)
    outcomes: dict[str, Outcome] = {}
    for simulator in SIMULATORS:
        sim = simulator(chain.rpc_url)
        real = sim.simulate_sequence(txs, weth, searcher, block)
        assert not real.success
        assert real.revert_reason is not None and real.revert_reason.startswith("45")
        assert all(s.success for s in real.steps[:2])  # the mint and approve still ran
        at = sim.simulate_sequence(txs, weth, searcher, block, overrides=[_weth_override(chain)])
        assert at.success, at.revert_reason
        assert at.profit == _collateral_paid(chain, WETH_AT) > 0
        again = sim.simulate_sequence(txs, weth, searcher, block)
        assert again == real  # the override left nothing behind
        outcomes[simulator.__name__] = at
    fork, node = outcomes["ForkSimulator"], outcomes["NodeSimulator"]
    assert [s.gas_used for s in fork.steps] == [s.gas_used for s in node.steps]
    assert fork == node  # gas, outputs, every log, profit, the block


def test_the_chain_pays_what_the_override_simulated_when_its_feed_moves_in_the_block(
    chain: Devnet,
) -> None:
    """The real feed set to the same price in the same block as the liquidation: the collateral
    paid is the simulated profit to the wei (the gas differs: the real feed's code is another)."""
    weth, searcher = chain.manifest["tokens"]["WETH"], chain.account("searcher")
    txs = _liquidation(chain)
    sim = ForkSimulator(chain.rpc_url)
    simulated = sim.simulate_sequence(txs, weth, searcher, overrides=[_weth_override(chain)])
    assert sim.fork is not None
    ctx = chain.context()
    held = ctx.tokens["WETH"].functions.balanceOf(searcher).call()
    set_answer = ctx.feeds["WETH"].functions.setAnswer(WETH_AT)
    sends = [{"from": chain.account("deployer"), "to": set_answer.address,
              "data": set_answer._encode_transaction_data()}]  # fmt: skip
    sends += [{"from": t.sender, "to": t.to, "data": "0x" + t.data.hex(), "gas": hex(2_000_000)}
              for t in txs]  # fmt: skip
    chain.d.rpc("evm_setAutomine", False)
    try:
        hashes = [chain.d.rpc("eth_sendTransaction", s) for s in sends]
        chain.d.rpc("evm_mine", sim.fork.next.timestamp)
    finally:
        chain.d.rpc("evm_setAutomine", True)
    receipts: list[dict[str, Any]] = [chain.d.wait_receipt(h) for h in hashes]
    assert {r["blockNumber"] for r in receipts} == {hex(sim.fork.next.number)}
    assert all(int(r["status"], 16) == 1 for r in receipts)
    received = ctx.tokens["WETH"].functions.balanceOf(searcher).call() - held
    assert received == simulated.profit == _collateral_paid(chain, WETH_AT)
    # The mint and approve touch no feed: their gas is the chain's.
    assert [int(r["gasUsed"], 16) for r in receipts[1:3]] == [
        s.gas_used for s in simulated.steps[:2]
    ]
