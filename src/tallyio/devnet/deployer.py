"""Deploy and drive contracts from published npm artifacts on the devnet.

Transactions go out as `eth_sendTransaction` from anvil's unlocked dev accounts with a
fixed gas limit (no estimation round trip); a reverted receipt is raised with its reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import requests
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction

from tallyio.paths import contracts_dir, node_modules

DEFAULT_GAS = 30_000_000


class DeployError(RuntimeError):
    """A deployment or setup transaction failed."""


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str  # hex, no 0x, may hold __$...$__ link placeholders
    link_references: Mapping[str, Mapping[str, Sequence[Mapping[str, int]]]]

    def linked(self, libraries: Mapping[str, str]) -> str:
        """Bytecode with each library address written at its linkReferences offsets."""
        code = bytearray.fromhex(_placeholder_free(self.bytecode))
        for libs in self.link_references.values():
            for lib, spots in libs.items():
                if lib not in libraries:
                    raise DeployError(f"{self.name} needs library {lib}")
                addr = bytes.fromhex(libraries[lib].removeprefix("0x"))
                for spot in spots:
                    code[spot["start"] : spot["start"] + spot["length"]] = addr
        return "0x" + code.hex()


def _placeholder_free(code: str) -> str:
    # Link placeholders are 40 chars of non-hex; zero them so fromhex works, then overwrite.
    out = []
    i = 0
    while i < len(code):
        if code[i] == "_":
            out.append("0" * 40)
            i += 40
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


@cache
def load_artifact(relpath: str) -> Artifact:
    """Load `<node_modules>/<relpath>` (hardhat or waffle format)."""
    path = node_modules() / relpath
    return _parse_artifact(path)


@cache
def load_forge_artifact(contract: str, source: str | None = None) -> Artifact:
    """Load one of our own contracts from contracts/out (run `forge build` first)."""
    src = source or f"{contract}.sol"
    path = contracts_dir() / "out" / src / f"{contract}.json"
    if not path.is_file():
        raise DeployError(f"{path} missing: run `forge build` in contracts/")
    return _parse_artifact(path)


def _parse_artifact(path: Path) -> Artifact:
    if not path.is_file():
        raise DeployError(f"artifact not found: {path} (run `make setup`)")
    data = json.loads(path.read_text())
    code = data.get("bytecode")
    if isinstance(code, dict):  # forge output
        code = code.get("object")
    if not code:
        code = data.get("evm", {}).get("bytecode", {}).get("object")
    if not isinstance(code, str) or len(code) < 4:
        raise DeployError(f"{path} holds no bytecode")
    links = data.get("linkReferences") or {}
    if not links and isinstance(data.get("bytecode"), dict):
        links = data["bytecode"].get("linkReferences") or {}
    return Artifact(path.stem, tuple(data["abi"]), code.removeprefix("0x"), links)


class Deployer:
    """Sends transactions from unlocked anvil accounts and deploys artifacts."""

    def __init__(self, rpc_url: str, default_sender: str) -> None:
        self.rpc_url = rpc_url
        self.sender = to_checksum_address(default_sender)
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
        self._session = requests.Session()
        self._session.trust_env = False  # loopback devnet: skip per-call proxy lookups
        self._id = 0

    # -- raw JSON-RPC ---------------------------------------------------------------------
    def rpc(self, method: str, *params: Any) -> Any:
        self._id += 1
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": self._id,
            "method": method,
            "params": list(params),
        }
        answer = self._session.post(self.rpc_url, json=body, timeout=60).json()
        if "error" in answer:
            raise DeployError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    # -- contracts ------------------------------------------------------------------------
    def at(self, artifact: Artifact | Sequence[dict[str, Any]], address: str) -> Contract:
        abi = artifact.abi if isinstance(artifact, Artifact) else artifact
        return self.w3.eth.contract(address=to_checksum_address(address), abi=list(abi))

    def deploy(
        self,
        artifact: Artifact,
        *args: Any,
        libraries: Mapping[str, str] | None = None,
        sender: str | None = None,
        value: int = 0,
    ) -> Contract:
        code = artifact.linked(libraries or {})
        ctor: ContractConstructor = self.w3.eth.contract(
            abi=list(artifact.abi), bytecode=code
        ).constructor(*args)
        data = ctor.data_in_transaction
        receipt = self._send({"data": data}, sender, value, what=f"deploy {artifact.name}")
        return self.at(artifact, receipt["contractAddress"])

    def send(
        self, fn: ContractFunction, *, sender: str | None = None, value: int = 0
    ) -> dict[str, Any]:
        """Send a contract call as a transaction; returns the receipt, raises on revert."""
        tx = {"to": fn.address, "data": fn._encode_transaction_data()}
        return self._send(tx, sender, value, what=f"{fn.fn_name} on {fn.address}")

    def send_raw_call(
        self, to: str, data: str, *, sender: str | None = None, value: int = 0
    ) -> dict[str, Any]:
        return self._send({"to": to, "data": data}, sender, value, what=f"call to {to}")

    def _send(
        self, tx: dict[str, Any], sender: str | None, value: int, what: str
    ) -> dict[str, Any]:
        full = {"from": sender or self.sender, "gas": hex(DEFAULT_GAS), "value": hex(value), **tx}
        tx_hash = self.rpc("eth_sendTransaction", full)
        receipt = self.wait_receipt(tx_hash, what)
        if int(receipt["status"], 16) != 1:
            raise DeployError(f"{what} reverted: {self._revert_reason(full, receipt)}")
        return receipt

    def wait_receipt(
        self, tx_hash: str, what: str = "transaction", timeout: float = 30.0
    ) -> dict[str, Any]:
        """Automine mines on send, but the receipt can trail the answer by a moment under load;
        with interval mining it comes at the next block. Polls fast first, then backs off."""
        deadline, pause = time.monotonic() + timeout, 0.002
        while True:
            receipt: dict[str, Any] | None = self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise DeployError(f"{what}: no receipt after {timeout}s (is automine on?)")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _revert_reason(self, tx: dict[str, Any], receipt: dict[str, Any]) -> str:
        block = hex(int(receipt["blockNumber"], 16) - 1)
        try:
            self.rpc("eth_call", tx, block)
        except DeployError as exc:
            return str(exc)
        return "unknown reason"

    # -- chain helpers --------------------------------------------------------------------
    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def set_balance(self, account: str, wei: int) -> None:
        self.rpc("anvil_setBalance", account, hex(wei))

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)
