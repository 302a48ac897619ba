"""Simulation on the node itself: `eth_simulateV1` runs a plan natively in one round trip.

On a searcher's own node (loopback), one `eth_simulateV1` request (~0.3 ms) replaces a pyrevm
run of the same plan (~1.4 ms for a liquidation with a flash loan and a sale). The request
holds one block after the given one, with the same header fields `ForkSimulator` uses
(number + 1, parent time + block time, the parent's miner and mixHash; base fee 0 as pyrevm's
`message_call` runs), `validation: false` (no nonce or fee checks), and the calls in order,
each seeing the state the earlier ones left, each with its own access list, as in a block:

    [balance read] tx 1 ... tx n [balance read]

The two reads are the beneficiary's profit-token balance (`balanceOf`, or for ETH a tiny
contract put in place by a state override that returns BALANCE of the owner), so `profit`
is that balance's change, as on the fork; for ETH the gas its own transactions would pay at
their `gas_price` is taken off, as `ForkSimulator` does. anvil 1.7, geth and reth answer it.

`NextBlock` and the `Outcome` values are the fork simulator's: callers use either one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from eth_utils import to_checksum_address

from tallyio.chain.rpc import HttpTransport, call
from tallyio.sim.block import complete_header
from tallyio.sim.fork import BALANCE_OF, READER, ForkSimulator, NextBlock, SimulationError
from tallyio.sim.node_backed import DEFAULT_BLOCK_TIME, NodeBacked, SimTx
from tallyio.sim.outcome import Outcome, SimLog, TxResult, decode_revert
from tallyio.sim.overrides import FeedOverride, state_overrides

# A contract the request puts at an unused address: BALANCE(owner) as one word. Its code is
# PUSH20 <owner> BALANCE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
ETH_READER = "0x00000000000000000000000000000000007a11e0"
_ETH_CODE = "0x73{owner}3160005260206000f3"


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """Logs' addresses as the fork gives them (a keccak each: remembered)."""
    return str(to_checksum_address(address))


def _hex(n: int) -> str:
    return hex(n)


def _call(tx: SimTx, gas_limit: int) -> dict[str, Any]:
    out = {"from": tx.sender, "to": tx.to, "input": "0x" + tx.data.hex(),
           "gas": _hex(gas_limit if tx.gas_limit is None else tx.gas_limit)}  # fmt: skip
    if tx.value:
        out["value"] = _hex(tx.value)
    return out


def _read_call(token: str | None, owner: str) -> dict[str, Any]:
    if token is None:
        return {"from": READER, "to": ETH_READER, "gas": _hex(100_000)}
    data = BALANCE_OF + bytes(12) + bytes.fromhex(owner.removeprefix("0x"))
    return {"from": READER, "to": token, "input": "0x" + data.hex(), "gas": _hex(1_000_000)}


def _step(raw: Mapping[str, Any], gas_limit: int) -> TxResult:
    data = bytes.fromhex(str(raw.get("returnData") or "0x")[2:])
    gas = int(raw["gasUsed"], 16)
    logs = tuple(
        SimLog(
            _checksum(str(lg["address"])),
            tuple(bytes.fromhex(t[2:]) for t in lg["topics"]),
            bytes.fromhex(str(lg["data"])[2:]),
        )
        for lg in raw.get("logs") or ()
    )
    if int(raw["status"], 16) == 1:
        return TxResult(True, gas, None, data, logs)
    # anvil says "execution failed" for a revert and a halt alike; a halt burns all the gas
    # given, a revert gives back what is left (so at most all but the revert's own cost).
    if data or gas < gas_limit:
        return TxResult(False, gas, decode_revert(data), data)
    message = str((raw.get("error") or {}).get("message", "")) or "failed"
    return TxResult(False, gas, f"halt: {message} (all gas used)", b"")


def _balance(raw: Mapping[str, Any], what: str) -> int:
    data = str(raw.get("returnData") or "0x")
    if int(raw["status"], 16) != 1 or len(data) < 66:
        raise SimulationError(f"the {what} balance read failed: {raw.get('error') or data}")
    return int(data[2:66], 16)


class NodeSimulator(NodeBacked):
    """`ForkSimulator`'s interface over the node's `eth_simulateV1`: synchronous
    (`simulate`, `simulate_sequence`) and awaitable (`simulate_sequence_async`, no thread)."""

    def __init__(
        self,
        rpc_url: str,
        *,
        block_time: int = DEFAULT_BLOCK_TIME,
        coinbase: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(rpc_url, block_time=block_time, coinbase=coinbase, timeout=timeout)
        self._transport = HttpTransport(rpc_url, timeout=timeout)
        self._next: tuple[int, str, NextBlock] | None = None  # parent number, hash, next block

    # -- the fork simulator's interface ---------------------------------------------------
    def simulate_sequence(
        self,
        txs: Sequence[SimTx],
        profit_token: str | None,
        beneficiary: str,
        block: int | None = None,
        header: Mapping[str, Any] | None = None,
        overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:
        """`txs` in order in the block after `block` (default: the latest), as the fork
        simulator runs them; `profit` is the beneficiary's change over the whole sequence.
        One round trip when `header` is block's whole header (or block's was seen before).
        `overrides`: price feeds answering a fixed price in this request only."""
        number = self._number(block, header)
        whole = header if complete_header(header, number) else None
        nxt = self._cached(number, None if whole is None else str(whole["hash"]))
        if nxt is None:
            nxt = self.next_block(self._header(number, whole))
        body = self.request(txs, profit_token, beneficiary, number, nxt, overrides)
        answer = self._rpc("eth_simulateV1", *body)
        return self.outcome(answer, txs, profit_token, beneficiary, number, nxt.gas_limit)

    async def simulate_sequence_async(
        self,
        txs: Sequence[SimTx],
        profit_token: str | None,
        beneficiary: str,
        block: int,
        header: Mapping[str, Any] | None = None,
        overrides: Sequence[FeedOverride] = (),
    ) -> Outcome:
        """The same, on the event loop: one round trip when `header` is block's whole header
        (eth_getBlockByNumber's, or `rpc_header` of an engine head that carries the miner and
        mixHash) or block's header was seen before; any other header is fetched again."""
        if not complete_header(header, block):
            header = None  # another block's, or without the miner and mixHash the run needs
        nxt = self._cached(block, None if header is None else str(header["hash"]))
        if nxt is None:
            if header is None:
                header = await self._arpc("eth_getBlockByNumber", hex(block), False)
            nxt = self.next_block(header)
        body = self.request(txs, profit_token, beneficiary, block, nxt, overrides)
        answer = await self._arpc("eth_simulateV1", *body)
        return self.outcome(answer, txs, profit_token, beneficiary, block, nxt.gas_limit)

    async def aclose(self) -> None:
        await self._transport.close()
        self._session.close()

    # -- request and answer ---------------------------------------------------------------
    def forget(self) -> None:
        """Drop the remembered next block (the next run asks the node for the header)."""
        self._next = None

    def next_block(self, header: Mapping[str, Any] | None) -> NextBlock:
        if header is None:
            raise SimulationError("block not found on the simulator's node")
        nxt = NextBlock.after(header, self.block_time, self.coinbase)
        self._next = (nxt.number - 1, str(header["hash"]), nxt)
        return nxt

    def request(
        self, txs: Sequence[SimTx], token: str | None, owner: str, block: int, nxt: NextBlock,
        overrides: Sequence[FeedOverride] = (),
    ) -> tuple[dict[str, Any], str]:  # fmt: skip
        if not txs:
            raise ValueError("nothing to simulate")
        state: dict[str, Any] = state_overrides(overrides)
        if token is None:
            state[ETH_READER] = {"code": _ETH_CODE.format(owner=owner.lower().removeprefix("0x"))}
        read = _read_call(token, owner)
        block_call = {
            "blockOverrides": {
                "number": _hex(nxt.number), "time": _hex(nxt.timestamp),
                "gasLimit": _hex(nxt.gas_limit), "feeRecipient": nxt.coinbase,
                "prevRandao": "0x" + nxt.prevrandao.hex(), "baseFeePerGas": "0x0",
            },
            "stateOverrides": state,
            "calls": [read, *(_call(tx, nxt.gas_limit) for tx in txs), read],
        }  # fmt: skip
        return {"blockStateCalls": [block_call], "validation": False}, _hex(block)

    def outcome(
        self, answer: Any, txs: Sequence[SimTx], token: str | None, owner: str, block: int,
        block_gas: int,
    ) -> Outcome:  # fmt: skip
        try:
            calls = answer[0]["calls"]
        except (IndexError, KeyError, TypeError) as exc:
            raise SimulationError(f"eth_simulateV1 gave no calls: {str(answer)[:200]}") from exc
        if len(calls) != len(txs) + 2:
            raise SimulationError(f"eth_simulateV1 gave {len(calls)} calls for {len(txs) + 2}")
        before, after = _balance(calls[0], "opening"), _balance(calls[-1], "closing")
        limits = (block_gas if t.gas_limit is None else t.gas_limit for t in txs)
        steps = tuple(_step(c, g) for c, g in zip(calls[1:-1], limits, strict=True))
        fees = 0
        if token is None:
            payer = owner.lower()
            fees = sum(s.gas_used * t.gas_price for t, s in zip(txs, steps, strict=True)
                       if t.sender.lower() == payer)  # fmt: skip
        return Outcome.of(steps, after - before - fees, block)

    # -- plumbing -------------------------------------------------------------------------
    def _cached(self, number: int, block_hash: str | None = None) -> NextBlock | None:
        """The next block after `number` as last built, unless `block_hash` says that block
        is now another one (a reorg to the same height)."""
        if self._next is None or self._next[0] != number:
            return None
        return self._next[2] if block_hash in (None, self._next[1]) else None

    async def _arpc(self, method: str, *params: Any) -> Any:
        try:
            return await self._transport(call(method, *params))
        except Exception as exc:  # the transport's errors never quote the URL
            raise SimulationError(f"{method}: {exc}") from None


Simulator = ForkSimulator | NodeSimulator  # what an executor pipeline simulates with


def is_loopback(rpc_url: str) -> bool:
    """Whether the node answers on this machine (its round trip is then ~0.3 ms)."""
    host = (urlsplit(rpc_url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def simulator_for(rpc_url: str, kind: str | None = None) -> Simulator:
    """ "node" (eth_simulateV1) or "fork" (pyrevm, the default). Measured on anvil the node runs
    a liquidation plan no faster than the warm fork (docs/engine.md, fourth pass), and the fork
    is the simulator every executor test was written against, so the node is opt-in: for a
    node on this machine whose EVM beats pyrevm. `is_loopback` tells whether it is local."""
    if kind is None:
        kind = "fork"
    if kind == "node":
        return NodeSimulator(rpc_url)
    if kind == "fork":
        return ForkSimulator(rpc_url)
    raise ValueError(f"simulator must be 'node' or 'fork', not {kind!r}")
