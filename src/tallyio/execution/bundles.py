"""The Flashbots-style bundle protocol, both sides: request bodies, bundle hashes, the
signature header, and a relay's view of a bundle (see PROTOCOL_NOTES.md).

- `eth_sendBundle` {txs, blockNumber (hex), minTimestamp?, maxTimestamp?, revertingTxHashes?,
  replacementUuid?, builders?} -> {bundleHash}
- `eth_callBundle` {txs, blockNumber, stateBlockNumber | "latest", timestamp?} -> per-tx
  `results` and totals (coinbaseDiff, ethSentToCoinbase, gasFees, totalGasUsed, bundleGasPrice)
- `mev_sendBundle` (MEV-Share v0.1) {version, inclusion {block, maxBlock?}, body [{hash} |
  {tx, canRevert}], validity {refund, refundConfig}?, privacy {hints, builders}?}
- `X-Flashbots-Signature: <address>:<signature>`, an EIP-191 signature over the 0x-hex of
  keccak256(body) by a reputation key (never the key that holds funds).

Pure functions and values: `relays.py` sends them, `devnet/relay.py` serves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from tallyio.execution.signer import keccak256, tx_hash
from tallyio.sim.outcome import decode_revert


class BundleError(ValueError):
    """A bundle or request that breaks the protocol (bad params, limits)."""


class SignatureError(BundleError):
    """A request without a valid X-Flashbots-Signature."""


HEADER = "X-Flashbots-Signature"
ZERO_ADDRESS = "0x" + "00" * 20
MAX_BUNDLE_TXS = 100
MAX_BUNDLE_BYTES = 300_000


def bundle_hash(txs: Sequence[bytes]) -> str:
    """keccak256 of the concatenated transaction hashes, as relays name a bundle."""
    return "0x" + keccak256(b"".join(keccak256(raw) for raw in txs)).hex()


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _check_txs(txs: Sequence[bytes]) -> None:
    if not txs:
        raise BundleError("a bundle needs at least one transaction")
    if len(txs) > MAX_BUNDLE_TXS or sum(len(t) for t in txs) > MAX_BUNDLE_BYTES:
        raise BundleError(f"a bundle holds at most {MAX_BUNDLE_TXS} txs and {MAX_BUNDLE_BYTES} B")


# -- request bodies (pure) ----------------------------------------------------------------------
def send_bundle_params(
    txs: Sequence[bytes], block: int, *, min_timestamp: int | None = None,
    max_timestamp: int | None = None, reverting_tx_hashes: Sequence[str] = (),
    replacement_uuid: str | None = None, builders: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """The single parameter object of eth_sendBundle."""
    _check_txs(txs)
    params: dict[str, Any] = {"txs": [_hex(t) for t in txs], "blockNumber": hex(block)}
    optional = {
        "minTimestamp": min_timestamp,
        "maxTimestamp": max_timestamp,
        "revertingTxHashes": list(reverting_tx_hashes) or None,
        "replacementUuid": replacement_uuid,
        "builders": list(builders) or None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    return params


def call_bundle_params(
    txs: Sequence[bytes], block: int, *, state_block: int | str = "latest",
    timestamp: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The single parameter object of eth_callBundle (simulate `txs` as block `block`)."""
    _check_txs(txs)
    state = hex(state_block) if isinstance(state_block, int) else state_block
    params: dict[str, Any] = {"txs": [_hex(t) for t in txs], "blockNumber": hex(block)}
    params["stateBlockNumber"] = state
    if timestamp is not None:
        params["timestamp"] = timestamp
    return params


@dataclass(frozen=True, slots=True)
class MevBodyItem:
    """One entry of a MEV-Share bundle body: our signed tx, or a pending tx by hash."""

    tx: bytes | None = None
    hash: str | None = None
    can_revert: bool = False

    def __post_init__(self) -> None:
        if (self.tx is None) == (self.hash is None):
            raise BundleError("a MEV-Share body item is a signed tx or a hash, not both")

    def to_json(self) -> dict[str, Any]:
        if self.tx is not None:
            return {"tx": _hex(self.tx), "canRevert": self.can_revert}
        return {"hash": self.hash}


def mev_send_bundle_params(
    body: Sequence[MevBodyItem], block: int, *, max_block: int | None = None,
    refund: Sequence[Mapping[str, int]] = (), refund_config: Sequence[Mapping[str, Any]] = (),
    hints: Sequence[str] = (), builders: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """The single parameter object of mev_sendBundle, protocol version v0.1."""
    if not body:
        raise BundleError("a MEV-Share bundle needs a body")
    inclusion = {"block": hex(block)}
    if max_block is not None:
        inclusion["maxBlock"] = hex(max_block)
    params: dict[str, Any] = {"version": "v0.1", "inclusion": inclusion,
                              "body": [item.to_json() for item in body]}  # fmt: skip
    if refund or refund_config:
        params["validity"] = {"refund": [dict(r) for r in refund],
                              "refundConfig": [dict(r) for r in refund_config]}  # fmt: skip
    if hints or builders:
        params["privacy"] = {"hints": list(hints), "builders": list(builders)}
    return params


# -- a relay's side -------------------------------------------------------------------------------
def verify_signature(header: str | None, body: bytes) -> str:
    """The address that signed `body` per its X-Flashbots-Signature header (what a relay
    checks first); SignatureError if the header is missing, malformed or not a signature of
    `body` by the address it names."""
    if not header or ":" not in header:
        raise SignatureError(f"missing or malformed {HEADER} header")
    claimed, _, signature = header.partition(":")
    digest_text = "0x" + keccak256(body).hex()
    try:
        signer = Account.recover_message(encode_defunct(text=digest_text), signature=signature)
    except Exception:  # any malformed signature
        raise SignatureError(f"invalid {HEADER} signature") from None
    if signer.lower() != claimed.lower():
        raise SignatureError(f"{HEADER} signature does not match its address")
    return str(signer)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A bundle as a relay holds it: signed txs in order, for `block` (up to `max_block` for
    MEV-Share), the tx hashes allowed to revert, and an optional timestamp window."""

    txs: tuple[bytes, ...]
    block: int
    max_block: int
    reverting: frozenset[str] = frozenset()
    min_timestamp: int | None = None
    max_timestamp: int | None = None

    @property
    def hash(self) -> str:
        return bundle_hash(self.txs)

    @property
    def tx_hashes(self) -> tuple[str, ...]:
        return tuple(tx_hash(raw) for raw in self.txs)


def raw_tx(value: Any) -> bytes:
    try:
        return bytes.fromhex(str(value).removeprefix("0x"))
    except ValueError:
        raise BundleError("a transaction is not hex") from None


def quantity(value: Any, what: str) -> int:
    try:
        return int(value, 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise BundleError(f"{what}: not a quantity: {value!r}") from None


def bundle_txs(params: Mapping[str, Any]) -> tuple[bytes, ...]:
    txs = tuple(raw_tx(t) for t in params.get("txs") or ())
    if not txs:
        raise BundleError("txs: a bundle needs at least one transaction")
    return txs


def parse_send_bundle(params: Mapping[str, Any]) -> Bundle:
    """The Bundle an eth_sendBundle parameter object describes."""
    block = quantity(params.get("blockNumber"), "blockNumber")
    reverting = frozenset(h.lower() for h in params.get("revertingTxHashes") or ())
    return Bundle(bundle_txs(params), block, block, reverting, params.get("minTimestamp"),
                  params.get("maxTimestamp"))  # fmt: skip


def call_bundle_totals(
    results: Sequence[dict[str, Any]], bundle: str, state_block: int, block: Any
) -> dict[str, Any]:
    """An eth_callBundle answer from its per-transaction results (amounts as decimal text)."""
    gas = sum(int(r["gasUsed"]) for r in results)
    diff = sum(int(r["coinbaseDiff"]) for r in results)
    return {
        "results": list(results), "bundleHash": bundle, "stateBlockNumber": state_block,
        "blockNumber": block, "totalGasUsed": gas, "coinbaseDiff": str(diff),
        "gasFees": str(sum(int(r["gasFees"]) for r in results)),
        "ethSentToCoinbase": str(sum(int(r["ethSentToCoinbase"]) for r in results)),
        "bundleGasPrice": str(diff // max(gas, 1)),
    }  # fmt: skip


def call_bundle_result(
    receipt: Mapping[str, Any], trace: Mapping[str, Any], block: Mapping[str, Any]
) -> dict[str, Any]:
    """One transaction's entry in an eth_callBundle answer, from its receipt, its callTracer
    trace and its block: gas, what the coinbase earned (priority fees + direct transfers), the
    output as `value`, and `error` + decoded `revert` when it reverted."""
    gas_used = int(receipt["gasUsed"], 16)
    tip = int(receipt["effectiveGasPrice"], 16) - int(block.get("baseFeePerGas") or "0x0", 16)
    to_coinbase = _sent_to(trace, str(block.get("miner") or ZERO_ADDRESS).lower())
    fees = gas_used * tip
    result: dict[str, Any] = {
        "txHash": receipt["transactionHash"], "fromAddress": receipt["from"],
        "toAddress": receipt.get("to"), "gasUsed": gas_used,
        "gasPrice": str((fees + to_coinbase) // max(gas_used, 1)), "gasFees": str(fees),
        "ethSentToCoinbase": str(to_coinbase), "coinbaseDiff": str(fees + to_coinbase),
        "value": trace.get("output", "0x"),
    }  # fmt: skip
    if int(receipt["status"], 16) != 1:
        result["error"] = trace.get("error") or "execution reverted"
        result["revert"] = decode_revert(raw_tx(trace.get("output") or "0x"))
    return result


def _sent_to(frame: Mapping[str, Any], coinbase: str) -> int:
    """ETH moved to `coinbase` anywhere in a callTracer frame tree."""
    to_coinbase = str(frame.get("to", "")).lower() == coinbase
    own = int(frame.get("value") or "0x0", 16) if to_coinbase else 0
    return own + sum(_sent_to(child, coinbase) for child in frame.get("calls") or ())
