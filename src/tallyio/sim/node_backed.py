"""What both simulators share: the transaction they run (`SimTx`), EIP-7623's calldata floor,
and `NodeBacked`: how they ask the node, the head's number, one transaction as a sequence.
The pyrevm fork (fork.py) and the node's eth_simulateV1 (node.py) build on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from tallyio.sim.block import complete_header
from tallyio.sim.outcome import Outcome, SimulationError
from tallyio.sim.overrides import FeedOverride

DEFAULT_BLOCK_TIME = 12
TX_BASE_GAS = 21_000
FLOOR_GAS_PER_TOKEN = 10


@dataclass(frozen=True, slots=True)
class SimTx:
    """A raw transaction to simulate. `gas_limit` None means the block's gas limit.
    `gas_price` is the effective price per gas the sender would pay; it is charged to ETH
    profit when the sender is the beneficiary and checked against the sender's balance."""

    sender: str
    to: str
    data: bytes = b""
    value: int = 0
    gas_limit: int | None = None
    gas_price: int = 0


def calldata_floor(data: bytes) -> int:
    """EIP-7623 (Prague): the least gas a call pays, 21,000 + 10 per calldata token (a zero
    byte is one token, any other byte four). revm 8 predates it; anvil and mainnet apply it."""
    zeros = data.count(0)
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * (zeros + 4 * (len(data) - zeros))


class NodeBacked:
    """What both simulators (this fork and sim/node.py's eth_simulateV1) share: how they ask the
    node, the head's number, and one transaction as a sequence of one."""

    def __init__(
        self, rpc_url: str, *, block_time: int = DEFAULT_BLOCK_TIME, coinbase: str | None = None,
        timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.rpc_url = rpc_url
        self.block_time = block_time
        self.coinbase = coinbase
        self._timeout = timeout
        self._session = requests.Session()

    def latest_block(self) -> int:
        return int(self._rpc("eth_blockNumber"), 16)

    def simulate(
        self, tx: SimTx, profit_token: str | None, beneficiary: str, block: int | None = None,
        header: Mapping[str, Any] | None = None, overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:  # fmt: skip
        """`tx` as the next transaction after `block` (default: the latest block)."""
        return self.simulate_sequence([tx], profit_token, beneficiary, block, header, overrides)

    def simulate_sequence(
        self, txs: Sequence[SimTx], profit_token: str | None, beneficiary: str,
        block: int | None = None, header: Mapping[str, Any] | None = None,
        overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:  # fmt: skip
        raise NotImplementedError

    def _number(self, block: int | None, header: Mapping[str, Any] | None) -> int:
        """The block to run after: `block`, else the given header's, else the node's head."""
        if block is not None:
            return block
        if header is not None and header.get("number") is not None:
            return int(header["number"], 16)
        return self.latest_block()

    def _header(
        self, number: int, header: Mapping[str, Any] | None, block_hash: str | None = None
    ) -> Mapping[str, Any]:
        """Block `number`'s header: `header` when it is that block's whole header (the engine's
        head), else the node's (one eth_getBlockByNumber)."""
        if complete_header(header, number, block_hash):
            assert header is not None
            return header
        found: Mapping[str, Any] | None = self._rpc("eth_getBlockByNumber", hex(number), False)
        if found is None:
            raise SimulationError(f"block {number} not found on the simulator's node")
        return found

    def _rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; errors never quote the URL (it may carry credentials)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        try:
            answer = self._session.post(self.rpc_url, json=body, timeout=self._timeout).json()
        except (requests.RequestException, ValueError) as exc:
            raise SimulationError(
                f"{method} on the simulator's node: {type(exc).__name__}"
            ) from None
        if "error" in answer:
            raise SimulationError(f"{method}: {answer['error']}")
        return answer["result"]
