"""Emergency exit: stop sending, then withdraw every token the executor holds to its owner.

The global breaker trips first (so the engine sends nothing more, even while this runs), then
each named token with a balance, and any ETH, leaves TallyExecutor through its owner-only
`withdraw(token, amount)`. Transactions come from a `Sender`: a devnet's unlocked dev account
(chain 31337 only, `eth_sendTransaction`), or a key unlocked from the keystore and signed here.
The sender must be the contract's owner; the report says what moved and what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from tallyio.chain.rpc import RpcClient
from tallyio.core.clock import Clock
from tallyio.core.plan import ZERO_ADDRESS
from tallyio.execution.signer import Signer
from tallyio.risk.store import GLOBAL, RiskStore, Trip

DEVNET_CHAIN_ID = 31337
GAS_MARGIN_BPS = 12_500  # estimates can shift between estimate and inclusion
RECEIPT_POLLS = 600  # x POLL_SECONDS: about two minutes
POLL_SECONDS = 0.2

WITHDRAW = function_signature_to_4byte_selector("withdraw(address,uint256)")
OWNER = function_signature_to_4byte_selector("owner()")
BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")


class EmergencyError(RuntimeError):
    """The exit cannot go ahead (wrong sender, a reverted withdrawal); never holds key material."""


@dataclass(frozen=True, slots=True)
class Withdrawal:
    token: str  # EIP-55; the zero address for ETH
    amount: int
    tx_hash: str
    left: int  # the executor's balance after


@dataclass(frozen=True, slots=True)
class ExitReport:
    chain_id: int
    executor: str
    owner: str
    sender: str
    checked: tuple[str, ...]  # every token looked at (the zero address: ETH)
    withdrawals: tuple[Withdrawal, ...]
    trip: Trip

    @property
    def emptied(self) -> bool:
        return all(w.left == 0 for w in self.withdrawals)


class Sender(Protocol):
    address: str

    async def send(self, client: RpcClient, to: str, data: bytes) -> str:
        """Send a transaction; its hash."""
        ...


class DevAccountSender:
    """An unlocked anvil account: the node signs (devnet only)."""

    def __init__(self, address: str) -> None:
        self.address: str = str(to_checksum_address(address))

    async def send(self, client: RpcClient, to: str, data: bytes) -> str:
        chain_id = int(await client.request("eth_chainId"), 16)
        if chain_id != DEVNET_CHAIN_ID:
            raise EmergencyError(f"chain {chain_id} is not the devnet: use a keystore key")
        tx = {"from": self.address, "to": to, "data": "0x" + data.hex()}
        return str(await client.request("eth_sendTransaction", [tx]))


class KeystoreSender:
    """A key from the keystore; transactions are signed here (EIP-1559, or legacy where the
    chain has no base fee), nonces counted from the pending count."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self.address = signer.address
        self._nonce: int | None = None

    async def send(self, client: RpcClient, to: str, data: bytes) -> str:
        chain_id, pending, block, gas = await client.batch([
            ("eth_chainId", []),
            ("eth_getTransactionCount", [self.address, "pending"]),
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_estimateGas", [{"from": self.address, "to": to, "data": "0x" + data.hex()}]),
        ])  # fmt: skip
        nonce = max(int(pending, 16), self._nonce or 0)
        self._nonce = nonce + 1
        tx: dict[str, Any] = {
            "chainId": int(chain_id, 16), "nonce": nonce, "to": to, "data": data, "value": 0,
            "gas": int(gas, 16) * GAS_MARGIN_BPS // 10_000,
        }  # fmt: skip
        tx.update(await _fees(client, block))
        raw = self._signer.sign_transaction(tx)
        return str(await client.request("eth_sendRawTransaction", ["0x" + raw.hex()]))


async def _fees(client: RpcClient, block: dict[str, Any]) -> dict[str, int]:
    """Pay well to get out: twice the base fee plus the node's suggested tip."""
    if block.get("baseFeePerGas") is None:
        return {"gasPrice": int(await client.request("eth_gasPrice"), 16) * 2}
    tip = int(await client.request("eth_maxPriorityFeePerGas"), 16)
    return {"maxFeePerGas": 2 * int(block["baseFeePerGas"], 16) + tip, "maxPriorityFeePerGas": tip}


# -- reads ----------------------------------------------------------------------------------------


async def _call(client: RpcClient, to: str, data: bytes) -> bytes:
    answer = await client.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    return bytes.fromhex(str(answer).removeprefix("0x"))


async def executor_owner(client: RpcClient, executor: str) -> str:
    (owner,) = decode(["address"], await _call(client, executor, OWNER))
    return str(to_checksum_address(owner))


async def balance(client: RpcClient, holder: str, token: str) -> int:
    """`holder`'s balance of `token` (the zero address: ETH)."""
    if int(token, 16) == 0:
        return int(await client.request("eth_getBalance", [holder, "latest"]), 16)
    data = BALANCE_OF + encode(["address"], [holder])
    (amount,) = decode(["uint256"], await _call(client, token, data))
    return int(amount)


async def wait_receipt(client: RpcClient, tx_hash: str) -> dict[str, Any]:
    for _ in range(RECEIPT_POLLS):
        receipt = await client.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        await asyncio.sleep(POLL_SECONDS)
    raise EmergencyError(f"{tx_hash}: no receipt after {RECEIPT_POLLS * POLL_SECONDS:.0f} s")


# -- the exit -------------------------------------------------------------------------------------


def stop_sending(store: RiskStore, clock: Clock, executor: str) -> Trip:
    """Trip the global breaker: the engine sends nothing until an operator resets it."""
    detail = f"emergency exit of executor {executor}"
    return store.trip(Trip(GLOBAL, "emergency_exit", detail, clock.now()))


async def emergency_exit(
    client: RpcClient, executor: str, tokens: Iterable[str], sender: Sender,
    store: RiskStore, clock: Clock,
) -> ExitReport:  # fmt: skip
    """Trip the global breaker, then withdraw every listed token (and ETH) to the owner."""
    executor = to_checksum_address(executor)
    trip = stop_sending(store, clock, executor)
    chain_id = int(await client.request("eth_chainId"), 16)
    owner = await executor_owner(client, executor)
    if sender.address != owner:
        raise EmergencyError(f"{sender.address} is not the executor's owner {owner}")
    wanted = list(dict.fromkeys(to_checksum_address(t) for t in (*tokens, ZERO_ADDRESS)))
    held = [(t, await balance(client, executor, t)) for t in wanted]
    sent = []
    for token, amount in held:
        if amount > 0:
            data = WITHDRAW + encode(["address", "uint256"], [token, amount])
            sent.append((token, amount, await sender.send(client, executor, data)))
    withdrawals = []
    for token, amount, tx_hash in sent:
        receipt = await wait_receipt(client, tx_hash)
        if int(receipt["status"], 16) != 1:
            raise EmergencyError(f"withdraw of {amount} {token} reverted ({tx_hash})")
        left = await balance(client, executor, token)
        withdrawals.append(Withdrawal(token, amount, tx_hash, left))
    return ExitReport(
        chain_id, executor, owner, sender.address, tuple(wanted), tuple(withdrawals), trip
    )
