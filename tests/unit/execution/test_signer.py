"""The fast signer against eth-account: byte-identical raw transactions and message signatures."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import rlp
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.execution.signer import (
    SECP256K1_N,
    SecretKey,
    Signer,
    keccak256,
    rlp_bytes,
    rlp_int,
    rlp_list,
    tx_hash,
)

KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = Signer(SecretKey.from_hex(KEY_HEX))
U256 = 2**256 - 1

keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
addresses = st.none() | st.binary(min_size=20, max_size=20).map(lambda b: _checksum(b))
chain_ids = st.sampled_from([1, 10, 56, 137, 8453, 42161, 43114, 31337]) | st.integers(1, 2**64)
datas = st.binary(max_size=300)


def _checksum(raw: bytes) -> str:
    return to_checksum_address(raw)


def _theirs(tx: dict[str, Any], key: bytes) -> bytes:
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


# -- RLP -----------------------------------------------------------------------------------------


@given(st.integers(0, 2**300))
def test_rlp_int_matches_pyrlp(value: int) -> None:
    assert rlp_int(value) == rlp.encode(value)


@given(st.binary(max_size=2000))
def test_rlp_bytes_matches_pyrlp(value: bytes) -> None:
    assert rlp_bytes(value) == rlp.encode(value)


@given(st.lists(st.binary(max_size=80), max_size=40))
def test_rlp_list_matches_pyrlp(items: list[bytes]) -> None:
    assert rlp_list(rlp_bytes(i) for i in items) == rlp.encode(items)


def test_rlp_rejects_negative() -> None:
    with pytest.raises(ValueError):
        rlp_int(-1)


def test_keccak_of_empty() -> None:
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"").hex() == empty


# -- transactions --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    key=keys,
    chain_id=chain_ids,
    nonce=st.integers(0, 2**64 - 1),
    gas=st.integers(21_000, 2**63),
    max_fee=st.integers(0, U256),
    tip_share=st.integers(0, 100),
    to=addresses,
    value=st.integers(0, U256),
    data=datas,
)
def test_eip1559_is_byte_identical(
    key: bytes, chain_id: int, nonce: int, gas: int, max_fee: int, tip_share: int,
    to: str | None, value: int, data: bytes,
) -> None:  # fmt: skip
    tx = {
        "type": 2, "chainId": chain_id, "nonce": nonce, "gas": gas, "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": max_fee * tip_share // 100, "value": value, "data": data,
        "accessList": [],
    }  # fmt: skip
    if to is not None:
        tx["to"] = to
    ours = Signer(SecretKey(key)).sign_transaction(tx)
    assert ours == _theirs(tx, key)


@settings(max_examples=300, deadline=None)
@given(
    key=keys,
    chain_id=st.none() | chain_ids,
    nonce=st.integers(0, 2**64 - 1),
    gas=st.integers(21_000, 2**63),
    gas_price=st.integers(0, U256),
    to=addresses,
    value=st.integers(0, U256),
    data=datas,
)
def test_legacy_is_byte_identical(
    key: bytes, chain_id: int | None, nonce: int, gas: int, gas_price: int, to: str | None,
    value: int, data: bytes,
) -> None:  # fmt: skip
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "gasPrice": gas_price, "value": value,
                          "data": data}  # fmt: skip
    if to is not None:
        tx["to"] = to
    if chain_id is not None:
        tx["chainId"] = chain_id
    ours = Signer(SecretKey(key)).sign_transaction(tx)
    assert ours == _theirs(tx, key)


storage_keys = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
access_lists = st.lists(
    st.fixed_dictionaries(
        {
            "address": st.binary(min_size=20, max_size=20).map(_checksum),
            "storageKeys": st.lists(storage_keys, max_size=3),
        }
    ),
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(access_list=access_lists, nonce=st.integers(0, 1000))
def test_access_lists_are_byte_identical(access_list: list[dict[str, Any]], nonce: int) -> None:
    tx = {"chainId": 1, "nonce": nonce, "gas": 100_000, "maxFeePerGas": 3 * 10**10,
          "maxPriorityFeePerGas": 10**9, "to": SIGNER.address, "value": 1, "data": b"\x12",
          "accessList": access_list}  # fmt: skip
    assert SIGNER.sign_transaction(tx) == _theirs(tx, bytes.fromhex(KEY_HEX))


# Fixed vectors: a plain transfer, a legacy EIP-155 transfer, and a large-chain-id contract
# creation with every byte value in its data and a zero tip.
VECTORS: list[dict[str, Any]] = [
    {"chainId": 1, "nonce": 0, "gas": 21_000, "maxFeePerGas": 30 * 10**9,
     "maxPriorityFeePerGas": 2 * 10**9, "to": "0x3535353535353535353535353535353535353535",
     "value": 10**18, "data": b""},
    {"chainId": 1, "nonce": 9, "gas": 21_000, "gasPrice": 20 * 10**9,
     "to": "0x3535353535353535353535353535353535353535", "value": 10**18, "data": b""},
    {"chainId": 42161, "nonce": 7, "gas": 500_000, "maxFeePerGas": 10**8,
     "maxPriorityFeePerGas": 0, "to": None, "value": 0, "data": bytes(range(256))},
]  # fmt: skip


@pytest.mark.parametrize("tx", VECTORS)
def test_fixed_vectors(tx: dict[str, Any]) -> None:
    theirs = Account.sign_transaction(tx, bytes.fromhex(KEY_HEX))
    raw = SIGNER.sign_transaction(tx)
    assert raw == bytes(theirs.raw_transaction)
    assert tx_hash(raw) == "0x" + bytes(theirs.hash).hex()


def test_eip155_spec_example() -> None:
    """The worked example of EIP-155 (key 0x46...46, nonce 9, chain 1)."""
    signer = Signer(SecretKey(b"\x46" * 32))
    raw = signer.sign_legacy(nonce=9, gas_price=20 * 10**9, gas=21_000,
                             to="0x3535353535353535353535353535353535353535",
                             value=10**18, chain_id=1)  # fmt: skip
    assert raw.hex() == (
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080"
        "25a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761a"
        "ecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
    )


def test_keyword_fast_path_matches_dict() -> None:
    tx = VECTORS[0]
    fast = SIGNER.sign_eip1559(
        chain_id=1, nonce=0, gas=21_000, max_fee_per_gas=30 * 10**9,
        max_priority_fee_per_gas=2 * 10**9, to=tx["to"], value=10**18,
    )  # fmt: skip
    assert fast == SIGNER.sign_transaction(tx)


def test_hex_data_and_type_strings() -> None:
    tx = {**VECTORS[2], "data": "0x" + bytes(range(256)).hex(), "type": "0x2"}
    assert SIGNER.sign_transaction(tx) == SIGNER.sign_transaction(VECTORS[2])


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(ValueError, match="type"):
        SIGNER.sign_transaction({**VECTORS[1], "type": 2})


# -- messages and identity -----------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(key=keys, text=st.text(max_size=200))
def test_sign_message_matches_eth_account(key: bytes, text: str) -> None:
    theirs = Account.sign_message(encode_defunct(text=text), key).signature
    assert Signer(SecretKey(key)).sign_message(text) == bytes(theirs)


@given(key=keys)
def test_address_matches_eth_account(key: bytes) -> None:
    assert Signer(SecretKey(key)).address == Account.from_key(key).address


def test_flashbots_signature_recovers_to_signer() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}'
    header = SIGNER.flashbots_signature(body)
    address, signature = header.split(":")
    assert address == SIGNER.address
    message = encode_defunct(text="0x" + keccak256(body).hex())
    assert Account.recover_message(message, signature=signature) == SIGNER.address


def test_key_never_shows() -> None:
    key = SecretKey.from_hex(KEY_HEX)
    signer = Signer(key)
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr(signer), str(signer)):
        assert KEY_HEX not in shown.lower()
    assert "redacted" in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    assert key == SecretKey.from_hex("0x" + KEY_HEX)
    assert key.reveal() == bytes.fromhex(KEY_HEX)


@pytest.mark.parametrize(
    "bad", ["", "0x12", "zz" * 32, "0" * 64, f"{SECP256K1_N:064x}", KEY_HEX + "00"]
)
def test_bad_keys_are_refused_without_echo(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        SecretKey.from_hex(bad)
    if len(bad) > 4:
        assert bad not in str(info.value)
