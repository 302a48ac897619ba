"""Backrun bundles: a user's pending transaction first, ours right behind it, nothing else.

The only way the bundle executor puts a foreign transaction in a bundle is `BackrunBundle`,
whose order is fixed: `txs` is always (user, ours). It refuses a "user" transaction signed
by our own key and an "ours" signed by anyone else, so the two can never trade places (ours
first would be front-running: the user's swap would run on a state we moved). No sandwich
can be built from it either: nothing of ours goes before the user's transaction.

`fetch_leading` reads the user's transaction from the node (eth_getRawTransactionByHash, as
relays do for MEV-Share bodies) and checks the raw bytes are the transaction named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from tallyio.execution.nonce import NodeClient
from tallyio.execution.signer import tx_hash
from tallyio.sim.fork import SimTx

__all__ = ["BackrunBundle", "BackrunError", "LeadingTx", "fetch_leading", "sender_of"]


class BackrunError(ValueError):
    """A backrun that would not follow the user's transaction, or has none to follow."""


def sender_of(raw: bytes) -> str:
    """The checksummed address that signed a raw transaction."""
    return to_checksum_address(Account.recover_transaction(raw))


@dataclass(frozen=True, slots=True)
class LeadingTx:
    """The user's pending transaction: its signed bytes and how to simulate it."""

    raw: bytes
    hash: str
    sender: str
    sim: SimTx


@dataclass(frozen=True, slots=True)
class BackrunBundle:
    user: bytes
    ours: bytes
    our_address: str

    def __post_init__(self) -> None:
        ours = to_checksum_address(self.our_address)
        if not self.user or not self.ours or self.user == self.ours:
            raise BackrunError("a backrun needs the user's transaction and a different one of ours")
        if sender_of(self.user) == ours:
            raise BackrunError("the leading transaction is ours: we never go first")
        if sender_of(self.ours) != ours:
            raise BackrunError("the backrun is not signed by our key")

    @property
    def txs(self) -> tuple[bytes, bytes]:
        return (self.user, self.ours)


async def fetch_leading(node: NodeClient, h: str) -> LeadingTx:
    """The pending transaction `h` from the node; BackrunError if it is gone or mined."""
    raw_hex, tx = await node.batch([("eth_getRawTransactionByHash", [h]),
                                    ("eth_getTransactionByHash", [h])])  # fmt: skip
    if not raw_hex or not tx:
        raise BackrunError(f"transaction {h} is not known to the node")
    if tx.get("blockNumber"):
        raise BackrunError(f"transaction {h} is already mined: nothing left to follow")
    raw = bytes.fromhex(str(raw_hex).removeprefix("0x"))
    if tx_hash(raw).lower() != h.lower() or not tx.get("to"):
        raise BackrunError(f"transaction {h}: the node's bytes are not it, or it creates code")
    sender = sender_of(raw)
    return LeadingTx(raw, h.lower(), sender, _sim(sender, tx))


def _sim(sender: str, tx: dict[str, Any]) -> SimTx:
    data = bytes.fromhex(str(tx.get("input", "0x")).removeprefix("0x"))
    return SimTx(sender, str(tx["to"]), data, int(tx.get("value", "0x0"), 16), int(tx["gas"], 16))
