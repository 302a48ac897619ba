"""Vault.PoolBalanceManaged (asset managers): the decoder on eth_abi bytes and the handler's
exact arithmetic (total = cash + managed moves by cashDelta + managedDelta), following
Vault.managePoolBalance: WITHDRAW (-x, +x), DEPOSIT (+x, -x), UPDATE (0, new - old).
tests/integration/test_balancer_managed_state.py drives the real vault on the devnet.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from tallyio.core.events import Log, Reorg
from tallyio.protocols import events as ev
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.state.pools import balancer_vault_key, pool_handlers, pool_key
from tallyio.state.store import MarketState, StateInvariantError

VAULT = "0x" + "c3" * 20
BPOOL = "0x" + "d4" * 20
POOL_ID = BPOOL + "0002" + "00" * 9 + "07"
T0, T1, T2 = ("0x" + c * 40 for c in "123")
MANAGER = "0x" + "5a" * 20
VAULT_ABI = Path(__file__).parents[3] / (
    "node_modules/@balancer-labs/v2-deployments/dist/tasks/20210418-vault/abi/Vault.json"
)


def word(abi_type: str, value: Any) -> str:
    return "0x" + encode([abi_type], [value]).hex()


def log(address: str, topics: list[str], types: list[str], values: list[Any], block: int) -> Log:
    data = "0x" + encode(types, values).hex()
    return Log(1, block, f"0xb{block}", "0xt", 0, address, tuple(topics), data)


def weighted() -> WeightedPool:
    return WeightedPool(
        pool_id=POOL_ID, address=BPOOL, tokens=(T0, T1, T2),
        balances=(10**21, 2 * 10**12, 5 * 10**20),
        weights=(4 * ONE // 10, 4 * ONE // 10, 2 * ONE // 10),
        scaling_factors=(ONE, 10**30, ONE), swap_fee=10**15,
    )  # fmt: skip


def state() -> MarketState:
    entries = {pool_key(BPOOL): weighted(), balancer_vault_key(VAULT): VAULT}
    return MarketState(entries, pool_handlers(), block=10, block_hash="0xb10")


def managed(token: str, cash: int, managed_delta: int, pool_id: str = POOL_ID,
            address: str = VAULT, block: int = 11) -> Log:  # fmt: skip
    topics = [ev.BALANCER_POOL_BALANCE_MANAGED, pool_id, word("address", MANAGER),
              word("address", token)]  # fmt: skip
    return log(address, topics, ["int256", "int256"], [cash, managed_delta], block)


def test_topic_is_the_vaults_event() -> None:
    abi = json.loads(VAULT_ABI.read_text())
    (event,) = [e for e in abi if e.get("name") == "PoolBalanceManaged"]
    signature = f"PoolBalanceManaged({','.join(i['type'] for i in event['inputs'])})"
    assert "0x" + keccak(text=signature).hex() == ev.BALANCER_POOL_BALANCE_MANAGED
    assert ev.BALANCER_POOL_BALANCE_MANAGED in ev.POOL_TOPICS


def test_decoder_reads_signed_deltas() -> None:
    got = ev.decode_pool_balance_managed(managed(T1, -(2**255), 2**255 - 1))
    assert got == ev.PoolBalanceManaged(POOL_ID, MANAGER, T1, -(2**255), 2**255 - 1)
    bad = managed(T1, 1, 2)
    with pytest.raises(ev.EventDecodeError):
        ev.decode_pool_balance_managed(replace(bad, topics=bad.topics[:3]))


def test_withdraw_and_deposit_keep_the_total_update_moves_it() -> None:
    s, start = state(), weighted().balances
    s.apply(managed(T0, -(4 * 10**20), 4 * 10**20))  # WITHDRAW: cash -> managed
    s.apply(managed(T2, 10**20, -(10**20)))  # DEPOSIT: managed -> cash
    assert s.get(pool_key(weighted().address)).balances == start
    s.apply(managed(T0, 0, 7 * 10**18 + 3))  # UPDATE: the manager earned
    s.apply(managed(T1, 0, -(5 * 10**11)))  # UPDATE: the manager lost
    got = s.get(pool_key(weighted().address)).balances
    assert got == (start[0] + 7 * 10**18 + 3, start[1] - 5 * 10**11, start[2])


def test_other_emitters_and_pools_change_nothing_and_a_reorg_rewinds() -> None:
    s, start = state(), weighted().balances
    other_id = "0x" + "99" * 20 + POOL_ID[42:]
    assert s.apply(managed(T0, 0, 5, address="0x" + "77" * 20)) == []
    assert s.apply(managed(T0, 0, 5, pool_id=other_id)) == []
    s.apply(managed(T0, 0, 5, block=12))
    assert s.get(pool_key(weighted().address)).balances[0] == start[0] + 5
    s.apply(Reorg(1, 11, ("0xb12",)))
    assert s.get(pool_key(weighted().address)).balances == start


def test_a_loss_beyond_the_balance_is_a_broken_invariant() -> None:
    with pytest.raises(StateInvariantError):
        state().apply(managed(T1, 0, -(2 * 10**12) - 1))
