"""The nonce manager on anvil: a stuck transaction replaced at +12.5%, nonce gaps filled.

Mining is manual here (`evm_setAutomine false`), so what sits in the pool is under the test's
control; transactions are signed by our own Signer and sent through the real chain client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tallyio.chain import ChainClient, build_client
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.devnet.node import AnvilNode, rpc_call, start_anvil, stop_pid
from tallyio.execution.fees import Fees, bump
from tallyio.execution.nonce import NonceManager, SendRaw
from tallyio.execution.signer import SecretKey, Signer

pytestmark = pytest.mark.devnet

GWEI = 10**9


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_anvil(Path(tmp_path_factory.mktemp("nonce-anvil")))
    try:
        yield node
    finally:
        stop_pid(node.pid)


def _rpc(node: AnvilNode, method: str, *params: Any) -> Any:
    return rpc_call(node.rpc_url, method, list(params))


@pytest.fixture
def manual(anvil: AnvilNode) -> Iterator[AnvilNode]:
    """The anvil with automine off, reverted and back on automine afterwards."""
    snap = _rpc(anvil, "evm_snapshot")
    _rpc(anvil, "evm_setAutomine", False)
    try:
        yield anvil
    finally:
        _rpc(anvil, "evm_setAutomine", True)
        assert _rpc(anvil, "evm_revert", snap) is True


@pytest.fixture
async def client(anvil: AnvilNode) -> AsyncIterator[ChainClient]:
    c = build_client(anvil.rpc_url, retry_policy=RetryPolicy(attempts=1),
                     rpc_metrics=RpcMetrics(CollectorRegistry()))  # fmt: skip
    try:
        yield c
    finally:
        await c.close()


def _sender(client: ChainClient) -> SendRaw:
    async def send_raw(raw: bytes) -> str:
        return str(await client.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    return send_raw


def _manager(
    node: AnvilNode, client: ChainClient, index: int, send_raw: SendRaw | None = None
) -> NonceManager:
    signer = Signer(SecretKey.from_hex(node.accounts[index].private_key))
    return NonceManager(
        client,
        chain_id=node.chain_id,
        address=signer.address,
        sign=signer.sign_transaction,
        send_raw=send_raw or _sender(client),
    )


async def _next_base(client: ChainClient) -> int:
    """The node's own next base fee (anvil's pending block; after evm_revert it need not follow
    from the latest header, as anvil keeps its fee state across a revert)."""
    pending = await client.request("eth_getBlockByNumber", ["pending", False])
    return int(pending["baseFeePerGas"], 16)


async def _receipt(client: ChainClient, tx_hash: str) -> dict[str, Any] | None:
    answer = await client.request("eth_getTransactionReceipt", [tx_hash])
    return answer if isinstance(answer, dict) else None


def _transfer(to: str) -> dict[str, Any]:
    return {"to": to, "value": 12345, "gas": 21_000, "data": b""}


BURN = bytes.fromhex("5b600056")  # init code that loops until out of gas
SMALL_BLOCK = 100_000


async def _outbid(node: AnvilNode, client: ChainClient, index: int) -> None:
    """A competitor that pays 40 gwei a gas and fills a small block on its own."""
    rival = Signer(SecretKey.from_hex(node.accounts[index].private_key))
    nonce = int(await client.request("eth_getTransactionCount", [rival.address, "pending"]), 16)
    raw = rival.sign_eip1559(
        chain_id=node.chain_id, nonce=nonce, max_fee_per_gas=100 * GWEI,
        max_priority_fee_per_gas=40 * GWEI, gas=90_000, to=None, data=BURN,
    )  # fmt: skip
    await _sender(client)(raw)


async def test_stuck_transaction_replaced_at_an_eighth_more(
    manual: AnvilNode, client: ChainClient
) -> None:
    mgr = _manager(manual, client, 1)
    base = await _next_base(client)
    stuck = await mgr.send(
        {**_transfer(manual.accounts[9].address), **Fees(2 * base, GWEI).tx_fields()}
    )
    _rpc(manual, "anvil_setBlockGasLimit", hex(SMALL_BLOCK))
    try:
        await _outbid(manual, client, 5)
        _rpc(manual, "evm_mine")  # the rival's transaction takes the whole block
        assert await _receipt(client, stuck.hash) is None
        pooled = await client.request("eth_getTransactionByHash", [stuck.hash])
        assert pooled is not None and pooled.get("blockNumber") is None, "still pending"

        replacement = await mgr.replace(stuck.nonce)
    finally:
        _rpc(manual, "anvil_setBlockGasLimit", hex(manual_gas_limit(manual)))
    assert replacement.nonce == stuck.nonce
    assert replacement.fees == bump(stuck.fees)
    assert replacement.fees.max_fee_per_gas == -(-9 * (stuck.fees.max_fee_per_gas or 0) // 8)
    _rpc(manual, "evm_mine")
    receipt = await _receipt(client, replacement.hash)
    assert receipt is not None and receipt["status"] == "0x1"
    assert await _receipt(client, stuck.hash) is None
    await mgr.sync()
    assert mgr.in_flight() == {} and mgr.next_nonce == stuck.nonce + 1


def manual_gas_limit(node: AnvilNode) -> int:
    return 60_000_000  # start_anvil's --gas-limit


async def test_evicted_by_a_base_fee_spike_then_replaced_at_market_fees(
    manual: AnvilNode, client: ChainClient
) -> None:
    """anvil drops a transaction whose max fee falls below the base fee (geth would queue it):
    the manager sees a gap, the node refuses the same bytes, so it replaces at market fees."""
    mgr = _manager(manual, client, 2)
    base = await _next_base(client)
    sent = await mgr.send(
        {**_transfer(manual.accounts[9].address), **Fees(2 * base, GWEI).tx_fields()}
    )
    _rpc(manual, "anvil_setNextBlockBaseFeePerGas", hex(100 * base))
    _rpc(manual, "evm_mine")
    assert await client.request("eth_getTransactionByHash", [sent.hash]) is None
    assert (await mgr.find_gaps()).missing == (sent.nonce,)

    market = Fees(2 * await _next_base(client), GWEI)
    filled = await mgr.fill_gaps(market)
    assert [f.nonce for f in filled] == [sent.nonce]
    assert filled[0].fees == Fees(market.max_fee_per_gas, bump(sent.fees).max_priority_fee_per_gas)
    _rpc(manual, "evm_mine")
    receipt = await _receipt(client, filled[0].hash)
    assert receipt is not None and receipt["status"] == "0x1"


async def test_gap_from_an_abandoned_nonce_is_cancelled(
    manual: AnvilNode, client: ChainClient
) -> None:
    mgr = _manager(manual, client, 3)
    await mgr.sync()
    base = await _next_base(client)
    fees = Fees(2 * base, GWEI)
    skipped = mgr.reserve()
    later = await mgr.send({**_transfer(manual.accounts[9].address), **fees.tx_fields()})
    assert later.nonce == skipped + 1
    mgr.release(skipped)  # e.g. the executor dropped that plan
    report = await mgr.find_gaps()
    assert report.missing == (skipped,)
    assert report.pending == skipped and report.local_next == skipped + 2
    _rpc(manual, "evm_mine")
    assert await _receipt(client, later.hash) is None, "queued behind the gap"

    filled = await mgr.fill_gaps(fees)
    assert [f.nonce for f in filled] == [skipped] and filled[0].tx["to"] == mgr.address
    _rpc(manual, "evm_mine")
    for sent in (filled[0], later):
        receipt = await _receipt(client, sent.hash)
        assert receipt is not None and receipt["status"] == "0x1"
    assert (await mgr.find_gaps()).missing == ()


async def test_gap_from_a_lost_transaction_is_resent(
    manual: AnvilNode, client: ChainClient
) -> None:
    real = _sender(client)
    lose = {"next": True}

    async def lossy(raw: bytes) -> str:  # the first send "succeeds" but never reaches the node
        if lose.pop("next", False):
            from tallyio.execution.signer import tx_hash

            return tx_hash(raw)
        return await real(raw)

    mgr = _manager(manual, client, 4, lossy)
    fees = Fees(2 * await _next_base(client), GWEI)
    lost = await mgr.send({**_transfer(manual.accounts[9].address), **fees.tx_fields()})
    later = await mgr.send({**_transfer(manual.accounts[9].address), **fees.tx_fields()})
    assert (await mgr.find_gaps()).missing == (lost.nonce,)
    assert await mgr.fill_gaps() == [lost]  # the recorded bytes, sent again
    _rpc(manual, "evm_mine")
    for sent in (lost, later):
        receipt = await _receipt(client, sent.hash)
        assert receipt is not None and receipt["status"] == "0x1"
