"""Multicall3 `aggregate3`: many reads in one eth_call, chunked, all chunks at one block.

Our contracts/src/Multicall.sol has Multicall3's ABI for `aggregate3`, `getBlockNumber` and
`getEthBalance`, so this works against the devnet contract and any chain's Multicall3 alike.
The ABI is a small constant here: nothing depends on forge output at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi import decode, encode
from eth_utils import to_checksum_address

from tallyio.chain.errors import ChainError, RpcError
from tallyio.chain.rpc import RpcCall, RpcClient

AGGREGATE3: Final = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
GET_BLOCK_NUMBER: Final = bytes.fromhex("42cbb15c")  # getBlockNumber()
GET_ETH_BALANCE: Final = bytes.fromhex("4d2301cc")  # getEthBalance(address)
CALL_FAILED: Final = "0x3f9a3b48"  # our Multicall's error CallFailed(uint256)

_TUPLE_CALL3 = [
    {"name": "target", "type": "address"},
    {"name": "allowFailure", "type": "bool"},
    {"name": "callData", "type": "bytes"},
]
_TUPLE_RESULT = [{"name": "success", "type": "bool"}, {"name": "returnData", "type": "bytes"}]
MULTICALL_ABI: Final[tuple[dict[str, Any], ...]] = (
    {
        "type": "function", "name": "aggregate3", "stateMutability": "payable",
        "inputs": [{"name": "calls", "type": "tuple[]", "components": _TUPLE_CALL3}],
        "outputs": [{"name": "results", "type": "tuple[]", "components": _TUPLE_RESULT}],
    },
    {
        "type": "function", "name": "getBlockNumber", "stateMutability": "view",
        "inputs": [], "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function", "name": "getEthBalance", "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
)  # fmt: skip

MOVING_TAGS = frozenset({"latest", "safe", "finalized"})


class MulticallError(ChainError):
    """A call with allow_failure=False failed (the whole aggregate reverted), or a bad answer."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class Call:
    target: str
    calldata: bytes
    allow_failure: bool = True


@dataclass(frozen=True, slots=True)
class Result:
    success: bool
    data: bytes


def block_number_call(multicall_address: str) -> Call:
    return Call(multicall_address, GET_BLOCK_NUMBER, allow_failure=False)


def eth_balance_call(multicall_address: str, account: str) -> Call:
    data = GET_ETH_BALANCE + encode(["address"], [to_checksum_address(account)])
    return Call(multicall_address, data, allow_failure=False)


def decode_uint(result: Result) -> int:
    if not result.success or len(result.data) != 32:
        raise MulticallError(f"expected a uint256, got {result}")
    return int.from_bytes(result.data, "big")


def encode_aggregate3(calls: Sequence[Call]) -> bytes:
    rows = [(to_checksum_address(c.target), c.allow_failure, c.calldata) for c in calls]
    return AGGREGATE3 + encode(["(address,bool,bytes)[]"], [rows])


def decode_aggregate3(data: bytes, expected: int) -> list[Result]:
    try:
        (rows,) = decode(["(bool,bytes)[]"], data)
    except Exception as exc:  # eth_abi raises several decoding errors
        raise MulticallError(f"aggregate3 answer does not decode: {exc}") from exc
    if len(rows) != expected:
        raise MulticallError(f"aggregate3 returned {len(rows)} results for {expected} calls")
    return [Result(bool(ok), bytes(ret)) for ok, ret in rows]


async def pin_block(client: RpcClient, block: int | str) -> str:
    """A block tag that will not move: a number as hex (moving tags are resolved)."""
    if isinstance(block, int):
        return hex(block)
    if block == "latest":
        return str(await client.request("eth_blockNumber"))
    if block in MOVING_TAGS:
        head = await client.request("eth_getBlockByNumber", [block, False])
        return str(head["number"])
    return block  # a hex number, "earliest" or "pending" (which cannot be pinned)


async def multicall(
    client: RpcClient,
    multicall_address: str,
    calls: Sequence[Call],
    *,
    block: int | str = "latest",
    chunk_size: int = 200,
) -> list[Result]:
    """One Result per call, in order. Chunks go out as one JSON-RPC batch at one block."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if not calls:
        return []
    chunks = [calls[i : i + chunk_size] for i in range(0, len(calls), chunk_size)]
    tag = await pin_block(client, block) if len(chunks) > 1 else _tag(block)
    address = to_checksum_address(multicall_address)
    requests = [
        RpcCall("eth_call", ({"to": address, "data": "0x" + encode_aggregate3(c).hex()}, tag))
        for c in chunks
    ]
    answers = await client.batch(requests, raise_errors=False)
    results: list[Result] = []
    for start, chunk, answer in zip(range(0, len(calls), chunk_size), chunks, answers, strict=True):
        if isinstance(answer, RpcError):
            raise _failed(answer, start) from answer
        results += decode_aggregate3(_hex_bytes(answer), len(chunk))
    return results


def _tag(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _hex_bytes(answer: Any) -> bytes:
    if not isinstance(answer, str) or not answer.startswith("0x"):
        raise MulticallError(f"eth_call answered {answer!r}, not hex data")
    return bytes.fromhex(answer[2:])


def _failed(err: RpcError, start: int) -> MulticallError:
    data = err.data if isinstance(err.data, str) else ""
    if data.startswith(CALL_FAILED) and len(data) == 2 + 8 + 64:
        index = start + int(data[10:], 16)
        return MulticallError(f"multicall: call {index} failed (allow_failure=False)", index)
    return MulticallError(f"multicall: aggregate3 reverted: {err}")
