"""Backruns: ours can only ever follow the user's transaction; the strategy is pure and leaves
its graph as the confirmed state left it.

- BackrunBundle's order is fixed (user, ours): swapping the two, or passing one of our own
  transactions as the "user's", is refused, so we can never go first (no front-run, no
  sandwich);
- BackrunStrategy emits Kind.BACKRUN opportunities naming the user's transaction, skips our
  own transactions, and restores its graph after each pending transaction.
"""

from __future__ import annotations

from typing import Any

import pytest

from tallyio.core.events import PendingTx
from tallyio.core.opportunity import ETH, BlockContext, Kind
from tallyio.execution.backrun import BackrunBundle, BackrunError, sender_of
from tallyio.execution.signer import SecretKey, Signer
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage import ArbitrageConfig
from tallyio.strategies.backrun import LEADING_TX, BackrunStrategy, leading_tx

US = Signer(SecretKey.from_hex("0x" + "11" * 32))
USER = Signer(SecretKey.from_hex("0x" + "22" * 32))
OTHER = Signer(SecretKey.from_hex("0x" + "33" * 32))
A, B = "0x" + "0a" * 20, "0x" + "0b" * 20  # token0 < token1
POOL_1, POOL_2 = "0x" + "01" * 20, "0x" + "02" * 20


def _raw(signer: Signer, nonce: int = 0) -> bytes:
    tx: dict[str, Any] = {"chainId": 1, "nonce": nonce, "gas": 200_000, "to": POOL_1,
                          "maxFeePerGas": 3 * 10**10, "maxPriorityFeePerGas": 10**9,
                          "value": 0, "data": b"\x12"}  # fmt: skip
    return signer.sign_transaction(tx)


# -- the bundle's order ----------------------------------------------------------------------
def test_a_backrun_bundle_always_starts_with_the_users_transaction() -> None:
    user, ours = _raw(USER), _raw(US)
    bundle = BackrunBundle(user, ours, US.address)
    assert bundle.txs == (user, ours)
    assert sender_of(bundle.txs[0]) == USER.address and sender_of(bundle.txs[1]) == US.address


def test_our_transaction_can_never_be_ordered_first() -> None:
    user, ours = _raw(USER), _raw(US)
    with pytest.raises(BackrunError, match="we never go first"):
        BackrunBundle(ours, user, US.address)  # swapped: ours in the user's place
    with pytest.raises(BackrunError, match="we never go first"):
        BackrunBundle(_raw(US, 1), ours, US.address)  # a "user" tx of our own: a sandwich
    with pytest.raises(BackrunError, match="not signed by our key"):
        BackrunBundle(user, _raw(OTHER), US.address)
    with pytest.raises(BackrunError):
        BackrunBundle(b"", ours, US.address)  # no user transaction: not a backrun


# -- the strategy ------------------------------------------------------------------------------
def _strategy(own: tuple[str, ...] = ()) -> tuple[BackrunStrategy, dict[Any, V2Pool]]:
    entries: dict[Any, V2Pool] = {
        ("pool", POOL_1): V2Pool(POOL_1, A, B, 1_000 * ETH, 1_000 * ETH),
        ("pool", POOL_2): V2Pool(POOL_2, A, B, 1_000 * ETH, 1_000 * ETH),
    }
    config = ArbitrageConfig(aave_pool="0x" + "aa" * 20, aave_tokens=frozenset({A, B}),
                             v3_flash=False)  # fmt: skip
    return BackrunStrategy.from_entries(config, entries, own=own), entries


def _pending(sender: str) -> PendingTx:
    return PendingTx(1, "0x" + "ab" * 32, sender.lower(), POOL_1, "0x", 0, 200_000, None, None, 0)


BLOCK = BlockContext(1, 100, 0, 1, 0, {A: ETH, B: ETH})


def _swap_deltas(entries: dict[Any, V2Pool]) -> list[Delta]:
    """What a user's large A -> B swap on POOL_1 does to it."""
    before = entries[("pool", POOL_1)]
    after = V2Pool(POOL_1, A, B, 1_100 * ETH, 909 * ETH)
    return [Delta(100, ("pool", POOL_1), before, after)]


def test_a_pending_swap_yields_one_backrun_naming_it_and_leaves_the_graph_as_it_was() -> None:
    strategy, entries = _strategy()
    tx = _pending(USER.address)
    found = strategy.process_pending(tx, _swap_deltas(entries), StateView(entries), BLOCK)
    assert len(found) == 1
    (opp,) = found
    assert opp.kind is Kind.BACKRUN and opp.strategy == "backrun"
    assert leading_tx(opp) == tx.hash and opp.detail[LEADING_TX] == tx.hash
    assert f"tx:{tx.hash}" in opp.touches and POOL_1 in opp.touches
    assert opp.expected_profit > 0 and opp.plan.min_profit > 0
    # the pending swap was laid in for the search only
    assert strategy.search.graph.pools[POOL_1] == entries[("pool", POOL_1)]
    assert strategy.process_pending(tx, [], StateView(entries), BLOCK) == []


def test_our_own_pending_transactions_are_never_backrun() -> None:
    strategy, entries = _strategy(own=(US.address,))
    tx = _pending(US.address)
    assert strategy.process_pending(tx, _swap_deltas(entries), StateView(entries), BLOCK) == []


def test_confirmed_blocks_are_followed_but_never_traded_by_the_backrun_strategy() -> None:
    strategy, entries = _strategy()
    deltas = _swap_deltas(entries)
    assert strategy.process(deltas, StateView(entries), BLOCK) == []
    assert strategy.search.graph.pools[POOL_1] == deltas[0].after
