"""The nonce manager against an in-memory node: reserve, resync on error, replace, cancel, gaps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from tallyio.chain.errors import RpcError, RpcTransportError
from tallyio.execution.fees import Fees, bump
from tallyio.execution.nonce import NonceError, NonceManager, NonceRegistry
from tallyio.execution.signer import tx_hash

ME = "0x" + "ab" * 20
GWEI = 10**9
BASE_TX = {"to": "0x" + "cd" * 20, "value": 1, "gas": 50_000, "data": b"",
           "maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI}  # fmt: skip


class FakeNode:
    """A txpool with geth's rules: pending = mined + contiguous; +10% to replace; can lose txs."""

    def __init__(self, mined: int = 0) -> None:
        self.mined = mined
        self.pool: dict[int, dict[str, Any]] = {}  # nonce -> tx (with "hash")
        self.by_raw: dict[bytes, dict[str, Any]] = {}
        self.sent: list[str] = []
        self.fail_next: Exception | None = None
        self.drop_next = False
        self.calls: list[str] = []

    # the manager's callables
    def sign(self, tx: Mapping[str, Any]) -> bytes:
        raw = json.dumps({k: v.hex() if isinstance(v, bytes) else v for k, v in tx.items()},
                         sort_keys=True).encode()  # fmt: skip
        self.by_raw[raw] = dict(tx)
        return raw

    async def send_raw(self, raw: bytes) -> str:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        tx = {**self.by_raw[raw], "hash": tx_hash(raw)}
        self.sent.append(tx["hash"])
        if self.drop_next:  # accepted, then lost (evicted, node restart)
            self.drop_next = False
            return str(tx["hash"])
        old = self.pool.get(tx["nonce"])
        if old is not None and old["hash"] != tx["hash"]:
            for field in ("maxFeePerGas", "maxPriorityFeePerGas"):
                if tx[field] < old[field] * 110 // 100 or tx[field] <= old[field]:
                    raise _rpc_error("replacement transaction underpriced")
        if tx["nonce"] < self.mined:
            raise _rpc_error("nonce too low")
        self.pool[tx["nonce"]] = tx
        return str(tx["hash"])

    # the node
    def pending(self) -> int:
        n = self.mined
        while n in self.pool:
            n += 1
        return n

    def mine(self) -> list[str]:
        done = []
        while self.mined in self.pool:
            done.append(self.pool.pop(self.mined)["hash"])
            self.mined += 1
        return done

    def _answer(self, method: str, params: Sequence[Any]) -> Any:
        self.calls.append(method)
        if method == "eth_getTransactionCount":
            return hex(self.mined if params[1] == "latest" else self.pending())
        if method == "eth_getTransactionByHash":
            held = {tx["hash"] for tx in self.pool.values()}
            return {"hash": params[0]} if params[0] in held else None
        raise AssertionError(method)

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        return self._answer(method, params)

    async def batch(self, calls: Iterable[Any], *, raise_errors: bool = True) -> list[Any]:
        return [self._answer(m, p) for m, p in calls]


def _rpc_error(message: str) -> RpcError:
    return RpcError("http://node", "eth_sendRawTransaction", -32000, message)


def _manager(node: FakeNode) -> NonceManager:
    return NonceManager(node, chain_id=1, address=ME, sign=node.sign, send_raw=node.send_raw)


async def test_reserve_needs_sync_then_counts_locally() -> None:
    node = FakeNode(mined=5)
    mgr = _manager(node)
    with pytest.raises(NonceError, match="sync"):
        mgr.reserve()
    assert await mgr.sync() == 5
    node.calls.clear()
    assert [mgr.reserve() for _ in range(3)] == [5, 6, 7]
    assert node.calls == []  # no round trips
    mgr.release(7)  # the last one comes back
    assert mgr.reserve() == 7


async def test_send_assigns_nonces_and_records() -> None:
    node = FakeNode(mined=3)
    mgr = _manager(node)
    first = await mgr.send(BASE_TX)  # syncs on first use
    second = await mgr.send(BASE_TX)
    assert (first.nonce, second.nonce) == (3, 4)
    assert first.hash == node.pool[3]["hash"] and first.fees == Fees(10 * GWEI, GWEI)
    assert set(mgr.in_flight()) == {3, 4}
    node.mine()
    await mgr.sync()
    assert mgr.in_flight() == {}  # mined ones are forgotten
    assert mgr.next_nonce == 5


async def test_rejected_send_resyncs_and_frees_the_nonce() -> None:
    node = FakeNode()
    mgr = _manager(node)
    await mgr.send(BASE_TX)
    node.fail_next = _rpc_error("insufficient funds for gas * price + value")
    with pytest.raises(RpcError):
        await mgr.send(BASE_TX)
    assert mgr.attempts(1) == ()
    assert mgr.next_nonce == 1  # resynced from the node: nonce 1 is used again
    assert (await mgr.send(BASE_TX)).nonce == 1


async def test_ambiguous_send_keeps_the_record() -> None:
    node = FakeNode()
    mgr = _manager(node)
    node.fail_next = RpcTransportError("http://node", "eth_sendRawTransaction", "timed out")
    with pytest.raises(RpcTransportError):
        await mgr.send(BASE_TX)
    assert len(mgr.attempts(0)) == 1  # it may have arrived: keep it for gap repair
    assert mgr.next_nonce == 1  # ... and do not hand its nonce out again


async def test_already_known_is_success() -> None:
    node = FakeNode()
    mgr = _manager(node)
    node.fail_next = _rpc_error("already known")
    sent = await mgr.send(BASE_TX)
    assert mgr.attempts(0) == (sent,)


async def test_resync_skips_nonces_in_flight() -> None:
    node = FakeNode()
    mgr = _manager(node)
    await mgr.sync()
    n0 = mgr.reserve()
    await mgr.send({**BASE_TX, "nonce": n0 + 1})  # queued behind n0 by the node
    mgr.reserve()  # the counter skips the nonce just used
    assert node.pending() == 0
    await mgr.sync()
    assert mgr.next_nonce == 2  # 0 is reserved, 1 is in flight


async def test_replace_bumps_by_an_eighth() -> None:
    node = FakeNode()
    mgr = _manager(node)
    first = await mgr.send(BASE_TX)
    second = await mgr.replace(first.nonce)
    assert second.fees == bump(first.fees) == Fees(11_250_000_000, 1_125_000_000)
    assert node.pool[0]["hash"] == second.hash
    assert mgr.attempts(0) == (first, second)
    assert second.tx["to"] == BASE_TX["to"] and second.tx["value"] == 1
    higher = await mgr.replace(0, Fees(50 * GWEI, 2 * GWEI))  # market moved: at least these
    assert higher.fees == Fees(50 * GWEI, 2 * GWEI)  # both above the 12.5% bump
    with pytest.raises(NonceError):
        await mgr.replace(9)


async def test_underpriced_replacement_is_not_recorded() -> None:
    node = FakeNode()
    mgr = NonceManager(node, chain_id=1, address=ME, sign=node.sign, send_raw=node.send_raw,
                       bump_bps=500)  # fmt: skip
    first = await mgr.send(BASE_TX)
    with pytest.raises(RpcError, match="underpriced"):
        await mgr.replace(first.nonce)
    assert mgr.attempts(0) == (first,)


async def test_cancel_is_a_zero_value_self_transfer() -> None:
    node = FakeNode()
    mgr = _manager(node)
    first = await mgr.send(BASE_TX)
    cancel = await mgr.cancel(first.nonce)
    assert cancel.tx["to"] == mgr.address and cancel.tx["value"] == 0
    assert cancel.tx["gas"] == 21_000 and cancel.fees == bump(first.fees)
    with pytest.raises(NonceError, match="fees"):
        await mgr.cancel(7)  # nothing recorded and no fees given


async def test_gap_of_an_abandoned_reservation_is_cancelled() -> None:
    node = FakeNode()
    mgr = _manager(node)
    await mgr.sync()
    lost = mgr.reserve()
    sent = await mgr.send(BASE_TX)
    assert sent.nonce == lost + 1
    assert (await mgr.find_gaps()).missing == ()  # a reservation in progress is no gap
    mgr.release(lost)  # the executor gave up on it
    report = await mgr.find_gaps()
    assert report.missing == (lost,) and (report.pending, report.local_next) == (0, 2)
    filled = await mgr.fill_gaps(Fees(10 * GWEI, GWEI))
    assert [f.tx["to"] for f in filled] == [mgr.address]
    assert node.mine() == [filled[0].hash, sent.hash]


async def test_gap_of_a_lost_transaction_is_resent() -> None:
    node = FakeNode()
    mgr = _manager(node)
    node.drop_next = True
    lost = await mgr.send(BASE_TX)
    kept = await mgr.send(BASE_TX)
    assert (await mgr.find_gaps()).missing == (0,)
    filled = await mgr.fill_gaps()
    assert filled == [lost]  # the very same signed bytes
    assert node.mine() == [lost.hash, kept.hash]
    assert (await mgr.find_gaps()).missing == ()


async def test_no_gap_when_in_step() -> None:
    node = FakeNode()
    mgr = _manager(node)
    await mgr.send(BASE_TX)
    report = await mgr.find_gaps()
    assert report.missing == () and report.pending == report.local_next == 1
    assert await mgr.fill_gaps() == []


async def test_wrong_hash_from_node_is_loud() -> None:
    node = FakeNode()

    async def liar(raw: bytes) -> str:
        return "0x" + "00" * 32

    mgr = NonceManager(node, chain_id=1, address=ME, sign=node.sign, send_raw=liar)
    with pytest.raises(NonceError, match="hash"):
        await mgr.send(BASE_TX)


def test_registry_one_manager_per_account() -> None:
    node = FakeNode()
    registry = NonceRegistry()
    mgr = registry.add(_manager(node))
    assert registry.get(1, ME.upper().replace("0X", "0x")) is mgr
    with pytest.raises(NonceError):
        registry.add(_manager(node))
    with pytest.raises(NonceError):
        registry.get(2, ME)
    assert len(registry) == 1
