"""Names for revert data users meet: TallyIO's own contracts' custom errors, Aave V3's numeric
error strings and Uniswap V3's short ones, so a rejection reads "NotProfitable(gained=-1,
minProfit=0)" or "45 (Aave: health factor not below threshold)", not a bare selector.

The custom errors are the executor's ABI (tests/unit/sim/test_errors.py checks this table
against the compiled contracts) and the Aave codes are the ones its liquidations, flash loans
and reserve checks raise (checked against Aave's Errors.sol in the npm package).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

__all__ = ["CUSTOM_ERRORS", "name_custom", "name_string"]


@dataclass(frozen=True, slots=True)
class CustomError:
    name: str
    types: tuple[str, ...]
    args: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


_OURS = (
    CustomError("Unauthorized", (), ()),
    CustomError("UnexpectedCallback", (), ()),
    CustomError("NotProfitable", ("int256", "uint256"), ("gained", "minProfit")),
    CustomError("BadTip", (), ()),
    CustomError("VenusError", ("uint256",), ("code",)),
    CustomError("NativeTransferFailed", (), ()),
    CustomError("TokenCallFailed", ("address",), ("token",)),  # lib/SafeTransfer.sol
)
CUSTOM_ERRORS: dict[bytes, CustomError] = {e.selector: e for e in _OURS}

# Aave V3 Errors.sol: the codes a liquidation, a flash loan or a reserve check raises.
AAVE_CODES: dict[str, str] = {
    "13": "INVALID_FLASHLOAN_EXECUTOR_RETURN",
    "25": "INVALID_BURN_AMOUNT",
    "26": "INVALID_AMOUNT",
    "27": "RESERVE_INACTIVE",
    "28": "RESERVE_FROZEN",
    "29": "RESERVE_PAUSED",
    "32": "NOT_ENOUGH_AVAILABLE_USER_BALANCE",
    "34": "COLLATERAL_BALANCE_IS_ZERO",
    "35": "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
    "36": "COLLATERAL_CANNOT_COVER_NEW_BORROW",
    "39": "NO_DEBT_OF_SELECTED_TYPE",
    "43": "UNDERLYING_BALANCE_ZERO",
    "45": "HEALTH_FACTOR_NOT_BELOW_THRESHOLD",
    "46": "COLLATERAL_CANNOT_BE_LIQUIDATED",
    "47": "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER",
    "49": "INCONSISTENT_FLASHLOAN_PARAMS",
    "59": "PRICE_ORACLE_SENTINEL_CHECK_FAILED",
    "91": "FLASHLOAN_DISABLED",
}
# UniswapV3Pool's short require strings on a swap's path.
V3_CODES: dict[str, str] = {
    "AS": "amount specified is zero",
    "SPL": "price limit out of range",
    "LOK": "pool locked",
    "IIA": "insufficient input amount",
    "TF": "token transfer failed",
    "STF": "safe transfer from failed",
}


def name_custom(selector: bytes, body: bytes) -> str | None:
    """`Name(arg=value, ...)` for one of our custom errors, None for an unknown selector."""
    error = CUSTOM_ERRORS.get(selector)
    if error is None:
        return None
    if not error.types:
        return f"{error.name}()"
    try:
        values = decode(list(error.types), body)
    except (DecodingError, OverflowError, ValueError):
        return f"{error.name}(malformed arguments 0x{body.hex()})"
    shown = ", ".join(f"{a}={v}" for a, v in zip(error.args, values, strict=True))
    return f"{error.name}({shown})"


def name_string(reason: str) -> str:
    """An Error(string) reason with the protocol's meaning beside a known code."""
    if not reason:
        return 'Error("") (a require or revert with an empty reason)'
    if reason in AAVE_CODES:
        return f"{reason} (Aave: {AAVE_CODES[reason].lower().replace('_', ' ')})"
    if reason in V3_CODES:
        return f"{reason} (Uniswap V3: {V3_CODES[reason]})"
    return reason
