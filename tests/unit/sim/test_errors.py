"""Revert names: the custom-error table equals the compiled contracts' ABIs, and the Aave codes
equal Aave's Errors.sol in the npm package (so neither can drift from the bytecode we run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from eth_abi import encode

from tallyio.sim.errors import AAVE_CODES, CUSTOM_ERRORS, name_custom, name_string
from tallyio.sim.outcome import decode_revert

ROOT = Path(__file__).resolve().parents[3]
ERRORS_SOL = ROOT / "node_modules/@aave/core-v3/contracts/protocol/libraries/helpers/Errors.sol"
ABIS = ("TallyExecutor.sol/TallyExecutor.json", "SafeTransfer.sol/SafeTransfer.json")


def _compiled_errors() -> set[str]:
    out = set()
    for rel in ABIS:
        abi = json.loads((ROOT / "contracts/out" / rel).read_text())["abi"]
        for e in abi:
            if e["type"] == "error":
                out.add(f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")
    return out


def test_the_custom_error_table_is_the_contracts_abi() -> None:
    assert {e.signature for e in CUSTOM_ERRORS.values()} == _compiled_errors()


def test_aave_codes_are_aave_s_own() -> None:
    source = ERRORS_SOL.read_text()
    found = dict(re.findall(r"constant ([A-Z0-9_]+) = '(\d+)'", source))
    assert {code: name for name, code in found.items() if code in AAVE_CODES} == AAVE_CODES


def test_named_reasons() -> None:
    not_profitable = next(e for e in CUSTOM_ERRORS.values() if e.name == "NotProfitable")
    body = encode(["int256", "uint256"], [-1, 0])
    assert name_custom(not_profitable.selector, body) == "NotProfitable(gained=-1, minProfit=0)"
    assert decode_revert(not_profitable.selector + body) == "NotProfitable(gained=-1, minProfit=0)"
    token_failed = next(e for e in CUSTOM_ERRORS.values() if e.name == "TokenCallFailed")
    short = token_failed.selector + bytes(4)
    assert decode_revert(short) == "TokenCallFailed(malformed arguments 0x00000000)"
    assert name_custom(b"\x12\x34\x56\x78", b"") is None
    assert decode_revert(b"\x12\x34\x56\x78") == "custom error 0x12345678"
    assert name_string("45") == "45 (Aave: health factor not below threshold)"
    assert name_string("") == 'Error("") (a require or revert with an empty reason)'
    assert name_string("SPL") == "SPL (Uniswap V3: price limit out of range)"
    assert name_string("ERC20: transfer amount exceeds balance") == (
        "ERC20: transfer amount exceeds balance"
    )
    reason = encode(["string"], ["45"])
    assert decode_revert(bytes.fromhex("08c379a0") + reason) == (
        "45 (Aave: health factor not below threshold)"
    )
