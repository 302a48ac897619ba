"""Lending events as the contracts emit them: topic0 constants and pure decoders.

Aave V3.0 (`@aave/core-v3` 1.19.x) Pool, AToken / VariableDebtToken / StableDebtToken events,
the Chainlink-style feed's AnswerUpdated, and Venus core-pool vToken and Comptroller events.
Every decoder reads fixed words from the hex (indexed arguments from the topics) and raises
`EventDecodeError` on a log of the wrong shape. Venus's Mint/Redeem carry the account's new
vToken balance as their last word (not the total supply, whatever the ABI name says).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tallyio.core.events import Log
from tallyio.protocols.aave_v3_math import ray_div
from tallyio.protocols.events import EventDecodeError, topic0

# -- Aave Pool ----------------------------------------------------------------------------------
SUPPLY: Final = topic0("Supply(address,address,address,uint256,uint16)")
WITHDRAW: Final = topic0("Withdraw(address,address,address,uint256)")
BORROW: Final = topic0("Borrow(address,address,address,uint256,uint8,uint256,uint16)")
REPAY: Final = topic0("Repay(address,address,address,uint256,bool)")
LIQUIDATION_CALL: Final = topic0(
    "LiquidationCall(address,address,address,uint256,uint256,address,bool)"
)
RESERVE_DATA_UPDATED: Final = topic0(
    "ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)"
)
COLLATERAL_ENABLED: Final = topic0("ReserveUsedAsCollateralEnabled(address,address)")
COLLATERAL_DISABLED: Final = topic0("ReserveUsedAsCollateralDisabled(address,address)")
USER_EMODE_SET: Final = topic0("UserEModeSet(address,uint8)")
# -- Aave tokens (AToken and VariableDebtToken share Mint/Burn) ---------------------------------
SCALED_MINT: Final = topic0("Mint(address,address,uint256,uint256,uint256)")
SCALED_BURN: Final = topic0("Burn(address,address,uint256,uint256,uint256)")
BALANCE_TRANSFER: Final = topic0("BalanceTransfer(address,address,uint256,uint256)")
STABLE_MINT: Final = topic0("Mint(address,address,uint256,uint256,uint256,uint256,uint256,uint256)")
STABLE_BURN: Final = topic0("Burn(address,uint256,uint256,uint256,uint256,uint256)")
# -- price feeds --------------------------------------------------------------------------------
ANSWER_UPDATED: Final = topic0("AnswerUpdated(int256,uint256,uint256)")
# -- Venus vToken and Comptroller ---------------------------------------------------------------
V_MINT: Final = topic0("Mint(address,uint256,uint256,uint256)")
V_MINT_BEHALF: Final = topic0("MintBehalf(address,address,uint256,uint256,uint256)")
V_REDEEM: Final = topic0("Redeem(address,uint256,uint256,uint256)")
V_REDEEM_FEE: Final = topic0("RedeemFee(address,uint256,uint256)")
V_BORROW: Final = topic0("Borrow(address,uint256,uint256,uint256)")
V_REPAY_BORROW: Final = topic0("RepayBorrow(address,address,uint256,uint256,uint256)")
V_LIQUIDATE_BORROW: Final = topic0("LiquidateBorrow(address,address,uint256,address,uint256)")
V_ACCRUE_INTEREST: Final = topic0("AccrueInterest(uint256,uint256,uint256,uint256)")
V_RESERVES_ADDED: Final = topic0("ReservesAdded(address,uint256,uint256)")
V_RESERVES_REDUCED: Final = topic0("ReservesReduced(address,uint256,uint256)")
TRANSFER: Final = topic0("Transfer(address,address,uint256)")
MARKET_ENTERED: Final = topic0("MarketEntered(address,address)")
MARKET_EXITED: Final = topic0("MarketExited(address,address)")

AAVE_POOL_TOPICS: Final = (
    SUPPLY, WITHDRAW, BORROW, REPAY, LIQUIDATION_CALL, RESERVE_DATA_UPDATED,
    COLLATERAL_ENABLED, COLLATERAL_DISABLED, USER_EMODE_SET,
)  # fmt: skip
AAVE_TOKEN_TOPICS: Final = (SCALED_MINT, SCALED_BURN, BALANCE_TRANSFER, STABLE_MINT, STABLE_BURN)
VENUS_TOPICS: Final = (
    V_MINT, V_MINT_BEHALF, V_REDEEM, V_REDEEM_FEE, V_BORROW, V_REPAY_BORROW, V_LIQUIDATE_BORROW,
    V_ACCRUE_INTEREST, V_RESERVES_ADDED, V_RESERVES_REDUCED, TRANSFER,
    MARKET_ENTERED, MARKET_EXITED,
)  # fmt: skip


def words(log: Log, n: int, indexed: int = 0) -> list[int]:
    """The log's `n` data words; raises unless data is exactly n words and topics 1 + indexed."""
    data = log.data[2:] if log.data.startswith("0x") else log.data
    if len(data) != 64 * n or len(log.topics) != 1 + indexed:
        raise EventDecodeError(
            f"log {log.tx_hash}:{log.log_index} has {len(data) // 64} words and "
            f"{len(log.topics)} topics, expected {n} and {1 + indexed}"
        )
    return [int(data[i : i + 64], 16) for i in range(0, 64 * n, 64)]


def address_of(word: int | str) -> str:
    """A 32-byte word (int or hex topic) as a lowercase 0x address; raises if it has high bits."""
    value = int(word, 16) if isinstance(word, str) else word
    if value >> 160:
        raise EventDecodeError(f"{value:#x} is not an address")
    return f"0x{value:040x}"


def topic_address(log: Log, i: int) -> str:
    return address_of(log.topics[i])


# -- Aave values ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReserveDataUpdated:
    reserve: str
    liquidity_rate: int
    stable_borrow_rate: int
    variable_borrow_rate: int
    liquidity_index: int
    variable_borrow_index: int


@dataclass(frozen=True, slots=True)
class PoolAction:
    """Supply / Withdraw / Borrow / Repay / LiquidationCall: the reserve and the account moved."""

    reserve: str
    user: str
    amount: int


@dataclass(frozen=True, slots=True)
class CollateralSet:
    reserve: str
    user: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class UserEModeSet:
    user: str
    category: int


@dataclass(frozen=True, slots=True)
class ScaledChange:
    """AToken / VariableDebtToken Mint or Burn, as the scaled balance change it implies.

    `_mintScaled` emits Mint(value = amount + balanceIncrease); `_burnScaled` emits
    Burn(value = amount - balanceIncrease) or, when the interest exceeds the burn,
    Mint(value = balanceIncrease - amount). `amount` is signed: > 0 minted, < 0 burnt.
    """

    user: str
    amount: int  # underlying units the Pool asked to mint (> 0) or burn (< 0)
    index: int

    @property
    def scaled(self) -> int:
        """The scaled balance change: amount.rayDiv(index), half up, as the token rounds."""
        if self.amount >= 0:
            return ray_div(self.amount, self.index)
        return -ray_div(-self.amount, self.index)


@dataclass(frozen=True, slots=True)
class BalanceTransfer:
    sender: str
    recipient: str
    scaled: int  # 1.19.x emits amount.rayDiv(index)
    index: int


@dataclass(frozen=True, slots=True)
class StableChange:
    """StableDebtToken Mint (`minted` True) or Burn, with the balance after interest."""

    user: str
    amount: int
    current_balance: int
    balance_increase: int
    new_rate: int | None  # Mint only
    minted: bool


def decode_reserve_data_updated(log: Log) -> ReserveDataUpdated:
    return ReserveDataUpdated(topic_address(log, 1), *words(log, 5, 1))


def decode_pool_action(log: Log) -> PoolAction:
    """The reserve, the account whose position moved (onBehalfOf / user) and the amount."""
    t = log.topics[0]
    if t == SUPPLY:
        _, amount = words(log, 2, 3)
        return PoolAction(topic_address(log, 1), topic_address(log, 2), amount)
    if t == BORROW:
        _, amount, _, _ = words(log, 4, 3)
        return PoolAction(topic_address(log, 1), topic_address(log, 2), amount)
    if t in (WITHDRAW, REPAY):
        amount = words(log, 1 if t == WITHDRAW else 2, 3)[0]
        return PoolAction(topic_address(log, 1), topic_address(log, 2), amount)
    if t == LIQUIDATION_CALL:
        debt_covered = words(log, 4, 3)[0]
        return PoolAction(topic_address(log, 2), topic_address(log, 3), debt_covered)
    raise EventDecodeError(f"topic {t} is not an Aave Pool action")


def decode_collateral_set(log: Log) -> CollateralSet:
    words(log, 0, 2)
    enabled = log.topics[0] == COLLATERAL_ENABLED
    return CollateralSet(topic_address(log, 1), topic_address(log, 2), enabled)


def decode_user_emode_set(log: Log) -> UserEModeSet:
    return UserEModeSet(topic_address(log, 1), words(log, 1, 1)[0])


def decode_scaled_change(log: Log) -> ScaledChange:
    value, increase, index = words(log, 3, 2)
    if log.topics[0] == SCALED_MINT:
        return ScaledChange(topic_address(log, 2), value - increase, index)
    if log.topics[0] == SCALED_BURN:
        return ScaledChange(topic_address(log, 1), -(value + increase), index)
    raise EventDecodeError(f"topic {log.topics[0]} is not a scaled token Mint/Burn")


def decode_balance_transfer(log: Log) -> BalanceTransfer:
    scaled, index = words(log, 2, 2)
    return BalanceTransfer(topic_address(log, 1), topic_address(log, 2), scaled, index)


def decode_stable_change(log: Log) -> StableChange:
    if log.topics[0] == STABLE_MINT:
        amount, current, increase, rate, _avg, _supply = words(log, 6, 2)
        return StableChange(topic_address(log, 2), amount, current, increase, rate, True)
    amount, current, increase, _avg, _supply = words(log, 5, 1)
    return StableChange(topic_address(log, 1), amount, current, increase, None, False)


def decode_answer_updated(log: Log) -> int:
    """AnswerUpdated's `current` (int256, indexed)."""
    words(log, 1, 2)
    value = int(log.topics[1], 16)
    return value - 2**256 if value >> 255 else value


# -- Venus values -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VTokenFlow:
    """A vToken event's effect on the market: cash in (+) / out (-) and supply change."""

    account: str
    cash: int
    supply: int
    account_borrows: int | None = None  # Borrow / RepayBorrow: the borrower's new principal
    total_borrows: int | None = None


@dataclass(frozen=True, slots=True)
class AccrueInterest:
    cash_prior: int
    interest_accumulated: int
    borrow_index: int
    total_borrows: int


@dataclass(frozen=True, slots=True)
class Transfer:
    sender: str
    recipient: str
    amount: int


def decode_vtoken_flow(log: Log) -> VTokenFlow:
    t = log.topics[0]
    if t == V_MINT:
        minter, amount, tokens, _ = words(log, 4)
        return VTokenFlow(address_of(minter), amount, tokens)
    if t == V_MINT_BEHALF:
        _, receiver, amount, tokens, _ = words(log, 5)
        return VTokenFlow(address_of(receiver), amount, tokens)
    if t == V_REDEEM:
        redeemer, amount, tokens, _ = words(log, 4)
        return VTokenFlow(address_of(redeemer), -amount, -tokens)
    if t == V_REDEEM_FEE:
        redeemer, fee, _ = words(log, 3)
        return VTokenFlow(address_of(redeemer), -fee, 0)
    if t == V_BORROW:
        borrower, amount, account, total = words(log, 4)
        return VTokenFlow(address_of(borrower), -amount, 0, account, total)
    if t == V_REPAY_BORROW:
        _, borrower, amount, account, total = words(log, 5)
        return VTokenFlow(address_of(borrower), amount, 0, account, total)
    raise EventDecodeError(f"topic {t} is not a vToken flow")


def decode_accrue_interest(log: Log) -> AccrueInterest:
    return AccrueInterest(*words(log, 4))


def decode_reserves_change(log: Log) -> tuple[int, int]:
    """ReservesAdded / ReservesReduced: (cash change, new total reserves)."""
    _, amount, total = words(log, 3)
    return (amount if log.topics[0] == V_RESERVES_ADDED else -amount), total


def decode_transfer(log: Log) -> Transfer:
    (amount,) = words(log, 1, 2)
    return Transfer(topic_address(log, 1), topic_address(log, 2), amount)


def decode_liquidate_borrow(log: Log) -> tuple[str, str, int, str, int]:
    """(liquidator, borrower, repayAmount, vTokenCollateral, seizeTokens)."""
    liquidator, borrower, repay, collateral, seize = words(log, 5)
    return address_of(liquidator), address_of(borrower), repay, address_of(collateral), seize


def decode_market_membership(log: Log) -> tuple[str, str, bool]:
    """MarketEntered / MarketExited: (vToken, account, entered)."""
    words(log, 0, 2)
    return topic_address(log, 1), topic_address(log, 2), log.topics[0] == MARKET_ENTERED
