"""aggregate3 encoding and decoding (the devnet tests run it against the real contract)."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from eth_utils import keccak

from tallyio.chain.errors import RpcError
from tallyio.chain.multicall import (
    AGGREGATE3,
    CALL_FAILED,
    GET_BLOCK_NUMBER,
    GET_ETH_BALANCE,
    MULTICALL_ABI,
    Call,
    MulticallError,
    Result,
    _failed,
    decode_aggregate3,
    decode_uint,
    encode_aggregate3,
    eth_balance_call,
)

MC = "0x" + "11" * 20
ACCOUNT = "0x" + "22" * 20


def test_selectors_match_signatures() -> None:
    assert keccak(text="aggregate3((address,bool,bytes)[])")[:4] == AGGREGATE3
    assert keccak(text="getBlockNumber()")[:4] == GET_BLOCK_NUMBER
    assert keccak(text="getEthBalance(address)")[:4] == GET_ETH_BALANCE
    assert "0x" + keccak(text="CallFailed(uint256)")[:4].hex() == CALL_FAILED
    assert {f["name"] for f in MULTICALL_ABI} == {"aggregate3", "getBlockNumber", "getEthBalance"}


def test_encode_aggregate3() -> None:
    calls = [Call(MC, b"\x01\x02", True), eth_balance_call(MC, ACCOUNT)]
    data = encode_aggregate3(calls)
    assert data[:4] == AGGREGATE3
    (rows,) = decode(["(address,bool,bytes)[]"], data[4:])
    assert [(r[0].lower(), r[1], r[2]) for r in rows] == [
        (MC, True, b"\x01\x02"),
        (MC, False, GET_ETH_BALANCE + bytes(12) + bytes.fromhex("22" * 20)),
    ]


def test_decode_aggregate3() -> None:
    data = encode(["(bool,bytes)[]"], [[(True, (7).to_bytes(32, "big")), (False, b"")]])
    results = decode_aggregate3(data, 2)
    assert results == [Result(True, (7).to_bytes(32, "big")), Result(False, b"")]
    assert decode_uint(results[0]) == 7
    with pytest.raises(MulticallError, match="expected a uint256"):
        decode_uint(results[1])
    with pytest.raises(MulticallError, match="2 results for 3 calls"):
        decode_aggregate3(data, 3)
    with pytest.raises(MulticallError, match="does not decode"):
        decode_aggregate3(b"\x00" * 7, 1)


def test_call_failed_names_the_overall_index() -> None:
    err = RpcError("http://x", "eth_call", 3, "execution reverted", CALL_FAILED + f"{4:064x}")
    failed = _failed(err, start=200)
    assert failed.index == 204 and "call 204 failed" in str(failed)
    other = _failed(RpcError("http://x", "eth_call", -32000, "out of gas"), start=0)
    assert other.index is None and "out of gas" in str(other)
