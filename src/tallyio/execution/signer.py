"""A fast transaction signer: hand-rolled RLP, keccak, and libsecp256k1 through coincurve.

The raw bytes are identical to eth-account's `Account.sign_transaction(...).raw_transaction`
(tested with hypothesis over random transactions), at a fraction of the cost: eth-account
builds, validates and re-serialises several objects per signature; here one signature is
an RLP concatenation, one keccak and one recoverable ECDSA signature (RFC 6979 nonces and
low-s, as libsecp256k1 makes them; eth-keys uses the same library when coincurve is present).

Supported: EIP-1559 (type 2) and legacy transactions (EIP-155 replay protection when a chain
id is given), EIP-191 personal messages, and the Flashbots `X-Flashbots-Signature` header.
The key is held in a `SecretKey`, whose repr and str are redacted.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from coincurve import PrivateKey
from Crypto.Hash import keccak as _keccak
from eth_utils import to_checksum_address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TYPE_EIP1559 = 2
_EMPTY = b""


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


# -- secret key ----------------------------------------------------------------------------------


class SecretKey:
    """A secp256k1 private key that never shows itself: repr, str and pickling are refused.

    Reading the bytes takes an explicit `reveal()`; only the signer and the keystore call it.
    """

    __slots__ = ("__key",)

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
            raise ValueError("a private key is 32 bytes")
        if not 0 < int.from_bytes(raw, "big") < SECP256K1_N:
            raise ValueError("a private key must be in [1, n-1] of secp256k1")
        self.__key = bytes(raw)

    @classmethod
    def from_hex(cls, text: str) -> SecretKey:
        """From 64 hex digits, with or without 0x; the error never quotes the input."""
        digits = text.strip().removeprefix("0x").removeprefix("0X")
        if len(digits) != 64:
            raise ValueError("a private key is 64 hex digits (32 bytes)")
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            raise ValueError("a private key is 64 hex digits (32 bytes)") from None
        return cls(raw)

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(PrivateKey().secret)

    def reveal(self) -> bytes:
        return self.__key

    def __repr__(self) -> str:
        return "SecretKey(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return hmac.compare_digest(self.__key, other.__key)

    def __hash__(self) -> int:
        return hash(keccak256(self.__key))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecretKey cannot be pickled")


# -- RLP -----------------------------------------------------------------------------------------


def _prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def rlp_bytes(value: bytes) -> bytes:
    """The RLP encoding of a byte string."""
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _prefix(len(value), 0x80) + value


def rlp_int(value: int) -> bytes:
    """The RLP encoding of a non-negative integer (big-endian, no leading zeros)."""
    if value < 0:
        raise ValueError("RLP encodes non-negative integers only")
    if value < 0x80:
        return b"\x80" if value == 0 else bytes((value,))
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _prefix(len(raw), 0x80) + raw


def rlp_list(encoded_items: Iterable[bytes]) -> bytes:
    """The RLP encoding of a list whose items are already RLP-encoded."""
    payload = b"".join(encoded_items)
    return _prefix(len(payload), 0xC0) + payload


def _hex_bytes(value: str | bytes | None, what: str) -> bytes:
    if value is None:
        return _EMPTY
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise ValueError(f"{what} is not hex: {value[:12]!r}...") from None


def _address(value: str | bytes | None) -> bytes:
    raw = _hex_bytes(value or None, "to")
    if len(raw) not in (0, 20):
        raise ValueError(f"an address is 20 bytes, got {len(raw)}")
    return raw


AccessList = Sequence[Mapping[str, Any]]


def rlp_access_list(access_list: AccessList) -> bytes:
    """[[address, [storage_key, ...]], ...] as EIP-2930 encodes it."""
    entries = []
    for entry in access_list:
        keys = rlp_list(rlp_bytes(_hex_bytes(k, "storage key")) for k in entry["storageKeys"])
        entries.append(rlp_list((rlp_bytes(_address(entry["address"])), keys)))
    return rlp_list(entries)


_EMPTY_LIST = rlp_list(())


# -- signer --------------------------------------------------------------------------------------


class Signer:
    """Signs transactions and messages for one account; shows only its address."""

    __slots__ = ("_key", "address")

    def __init__(self, key: SecretKey) -> None:
        self._key = PrivateKey(key.reveal())
        public = self._key.public_key.format(compressed=False)[1:]
        self.address: str = to_checksum_address(keccak256(public)[-20:])

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer cannot be pickled")

    def _sign(self, digest: bytes) -> tuple[int, int, int]:
        sig = self._key.sign_recoverable(digest, hasher=None)
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]

    def sign_eip1559(
        self,
        *,
        chain_id: int,
        nonce: int,
        max_priority_fee_per_gas: int,
        max_fee_per_gas: int,
        gas: int,
        to: str | bytes | None,
        value: int = 0,
        data: bytes = _EMPTY,
        access_list: AccessList = (),
    ) -> bytes:
        """The raw signed type-2 transaction: 0x02 || rlp([..., y_parity, r, s])."""
        fields = (
            rlp_int(chain_id),
            rlp_int(nonce),
            rlp_int(max_priority_fee_per_gas),
            rlp_int(max_fee_per_gas),
            rlp_int(gas),
            rlp_bytes(_address(to)),
            rlp_int(value),
            rlp_bytes(data),
            rlp_access_list(access_list) if access_list else _EMPTY_LIST,
        )
        r, s, y_parity = self._sign(keccak256(b"\x02" + rlp_list(fields)))
        return b"\x02" + rlp_list((*fields, rlp_int(y_parity), rlp_int(r), rlp_int(s)))

    def sign_legacy(
        self,
        *,
        nonce: int,
        gas_price: int,
        gas: int,
        to: str | bytes | None,
        value: int = 0,
        data: bytes = _EMPTY,
        chain_id: int | None = None,
    ) -> bytes:
        """The raw signed legacy transaction; EIP-155 (v = 35 + 2*chain_id + parity) with a
        chain id, v = 27 + parity without one."""
        fields = (
            rlp_int(nonce),
            rlp_int(gas_price),
            rlp_int(gas),
            rlp_bytes(_address(to)),
            rlp_int(value),
            rlp_bytes(data),
        )
        if chain_id is None:
            r, s, parity = self._sign(keccak256(rlp_list(fields)))
            v = 27 + parity
        else:
            unsigned = (*fields, rlp_int(chain_id), b"\x80", b"\x80")
            r, s, parity = self._sign(keccak256(rlp_list(unsigned)))
            v = 35 + 2 * chain_id + parity
        return rlp_list((*fields, rlp_int(v), rlp_int(r), rlp_int(s)))

    def sign_transaction(self, tx: Mapping[str, Any]) -> bytes:
        """Sign a transaction dict with eth-account's keys (chainId, nonce, gas, to, value,
        data, and maxFeePerGas + maxPriorityFeePerGas [+ accessList] or gasPrice); integer
        fields must be ints. Returns the raw transaction bytes."""
        if "gasPrice" in tx:
            _check_type(tx, (None, 0))
            return self.sign_legacy(
                nonce=tx["nonce"], gas_price=tx["gasPrice"], gas=tx["gas"], to=tx.get("to"),
                value=tx.get("value", 0), data=_hex_bytes(tx.get("data"), "data"),
                chain_id=tx.get("chainId"),
            )  # fmt: skip
        _check_type(tx, (None, TYPE_EIP1559))
        return self.sign_eip1559(
            chain_id=tx["chainId"], nonce=tx["nonce"], max_fee_per_gas=tx["maxFeePerGas"],
            max_priority_fee_per_gas=tx["maxPriorityFeePerGas"], gas=tx["gas"],
            to=tx.get("to"), value=tx.get("value", 0), data=_hex_bytes(tx.get("data"), "data"),
            access_list=tx.get("accessList", ()),
        )  # fmt: skip

    __call__ = sign_transaction

    def sign_message(self, message: bytes | str) -> bytes:
        """EIP-191 version 0x45 ("personal_sign"): the 65-byte r || s || v, v in {27, 28}.

        A str is signed as its UTF-8 bytes (eth-account's `encode_defunct(text=...)`).
        """
        body = message.encode() if isinstance(message, str) else message
        digest = keccak256(b"\x19Ethereum Signed Message:\n" + str(len(body)).encode() + body)
        r, s, parity = self._sign(digest)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((27 + parity,))

    def flashbots_signature(self, body: bytes) -> str:
        """The X-Flashbots-Signature header value for a JSON-RPC request body:
        `<address>:<0x signature>` over the text "0x" + hex(keccak(body))."""
        text = "0x" + keccak256(body).hex()
        return f"{self.address}:0x{self.sign_message(text).hex()}"


def _check_type(tx: Mapping[str, Any], allowed: tuple[int | None, ...]) -> None:
    kind = tx.get("type")
    if isinstance(kind, str):
        kind = int(kind, 16)
    if kind not in allowed:
        raise ValueError(f"transaction type {kind!r} with these fee fields is not supported")


def tx_hash(raw: bytes) -> str:
    """The transaction hash of raw signed bytes, 0x-hex."""
    return "0x" + keccak256(raw).hex()
