"""What a simulation found: frozen results per transaction and per run, revert decoding, and
the error for a simulator that could not run at all."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode
from eth_abi.exceptions import DecodingError

from tallyio.sim.errors import name_custom, name_string


class SimulationError(RuntimeError):
    """The simulator itself failed (node unreachable, unknown block, a token that is not one);
    a transaction that reverts is an Outcome, not this."""


ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

# Solidity's panic codes (docs: "Panic via assert and Error via require").
PANIC_CODES: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to zero-initialised function",
}


def decode_revert(data: bytes) -> str:
    """A human reason for revert data: the Error(string) text (a protocol's code named beside
    it), `Panic(0x11): ...`, one of our contracts' custom errors by name with its arguments
    (`NotProfitable(gained=-1, minProfit=0)`), else `custom error 0x<selector>` with its
    arguments as hex, or `reverted without reason`."""
    if not data:
        return "reverted without reason"
    if len(data) < 4:
        return f"malformed revert data 0x{data.hex()}"
    selector, body = data[:4], data[4:]
    try:
        if selector == ERROR_SELECTOR:
            return name_string(str(decode(["string"], body)[0]))
        if selector == PANIC_SELECTOR:
            code = int(decode(["uint256"], body)[0])
            return f"Panic(0x{code:02x}): {PANIC_CODES.get(code, 'unknown panic code')}"
    except (DecodingError, OverflowError, ValueError):
        return f"malformed revert data 0x{data.hex()}"
    named = name_custom(selector, body)
    if named is not None:
        return named
    args = f" args 0x{body.hex()}" if body else ""
    return f"custom error 0x{selector.hex()}{args}"


@dataclass(frozen=True, slots=True)
class SimLog:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class TxResult:
    """One transaction's result inside a simulation.

    `gas_used` is what the receipt would show (refunds applied). `revert_reason` is None on
    success; on failure it is the decoded revert, `halt: <reason>` (out of gas, invalid opcode)
    or `invalid: <reason>` (the tx could not be included: intrinsic gas, funds for gas)."""

    success: bool
    gas_used: int
    revert_reason: str | None
    return_data: bytes
    logs: tuple[SimLog, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """A simulation of one transaction or a sequence, from the post-state of `block`.

    `profit` is the beneficiary's balance change in the profit token's base units (wei for
    ETH, fees for its own transactions included). For a sequence, `success` means every step
    succeeded; `gas_used` is the sum; `revert_reason` and `return_data` are the first failing
    step's, else the last step's; `logs` are every step's in order; `steps` hold each one."""

    success: bool
    gas_used: int
    revert_reason: str | None
    return_data: bytes
    profit: int
    block: int
    logs: tuple[SimLog, ...] = ()
    steps: tuple[TxResult, ...] = ()

    @classmethod
    def of(cls, steps: tuple[TxResult, ...], profit: int, block: int) -> Outcome:
        if not steps:
            raise ValueError("an outcome needs at least one transaction")
        failed = next((s for s in steps if not s.success), None)
        shown = failed or steps[-1]
        return cls(
            success=failed is None,
            gas_used=sum(s.gas_used for s in steps),
            revert_reason=shown.revert_reason,
            return_data=shown.return_data,
            profit=profit,
            block=block,
            logs=tuple(log for s in steps for log in s.logs),
            steps=steps,
        )
