"""A Plan (flash loan, actions, profit rule) as frozen values, encoded to TallyExecutor calldata.

Mirrors contracts/src/TallyExecutor.sol (see docs/executor.md):

    execute(Loan loan, Action[] actions, address profitToken, uint256 minProfit, uint256 tipBps)
    Loan   = (uint8 source, address lender, address token, uint256 amount)
    Action = (uint8 kind, address target, address tokenIn, uint256 amountIn, bytes data)

`data` is the abi-encoded tail of each action kind (token out, fee, pool id, borrower...).
An amount of ALL_BALANCE (0) spends all of the input token this execution has brought in so far
(the executor's balance less what it held when `execute` began), so a route chains without exact
intermediate amounts and never touches inventory or kept profits; a first step on the
executor's own inventory names its amount. The contract reverts unless the
profit token's balance grew by `min_profit` after repaying the loan and paying the tip;
`tip_bps` of that gain goes to block.coinbase in ETH and needs WETH as the profit token.
A Guarded action wraps steps that may fail alone (`data` = abi.encode(Action[]), see Guarded).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any, ClassVar

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, is_address, to_checksum_address

ALL_BALANCE = 0
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
BPS = 10_000
MAX_UINT256 = 2**256 - 1
MAX_UINT160 = 2**160 - 1


class FlashSource(IntEnum):
    """TallyExecutor.Source: where the loan comes from."""

    NONE = 0  # the executor's own balance
    BALANCER = 1  # vault.flashLoan, no fee
    UNISWAP_V3 = 2  # pool.flash, the pool's fee
    AAVE_V3 = 3  # pool.flashLoanSimple, the premium (5 bps on mainnet)


class ActionKind(IntEnum):
    """TallyExecutor.Kind."""

    UNISWAP_V2_SWAP = 0
    UNISWAP_V3_SWAP = 1
    BALANCER_SWAP = 2
    AAVE_LIQUIDATION = 3
    VENUS_LIQUIDATION = 4
    GUARDED = 5


LOAN_ABI = "(uint8,address,address,uint256)"
ACTION_ABI = "(uint8,address,address,uint256,bytes)"
EXECUTE_ARGS = (LOAN_ABI, f"{ACTION_ABI}[]", "address", "uint256", "uint256")
EXECUTE_SIGNATURE = f"execute({','.join(EXECUTE_ARGS)})"
EXECUTE_SELECTOR = function_signature_to_4byte_selector(EXECUTE_SIGNATURE)

# One action as the contract's ABI sees it: (kind, target, tokenIn, amountIn, data).
RawAction = tuple[int, str, str, int, bytes]


# -- validation -------------------------------------------------------------------------------
def _address(value: str, what: str) -> str:
    checksummed = _checksummed(value) if isinstance(value, str) else None
    if checksummed is None:
        raise ValueError(f"{what}: not an address: {value!r}")
    return checksummed


@lru_cache(maxsize=8_192)
def _checksummed(value: str) -> str | None:
    """EIP-55 form, or None for a non-address; cached: a sizing search builds plans over the
    same few addresses thousands of times, and each checksum is a keccak."""
    return to_checksum_address(value) if is_address(value) else None


def checksummed(value: str) -> str:
    """`value`'s EIP-55 form (cached); ValueError if it is not an address."""
    return _address(value, "address")


def _uint(value: int, what: str, top: int = MAX_UINT256) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ValueError(f"{what}: {value!r} is not an integer in [0, {top}]")
    return value


def _normalize(obj: Any, *names: str) -> None:
    """Checksum the named address fields in place (construction only), so equal plans compare
    equal however their addresses were cased, and a decoded plan equals the one encoded."""
    for name in names:
        object.__setattr__(obj, name, _address(getattr(obj, name), f"{type(obj).__name__}.{name}"))


# -- actions ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UniswapV2Swap:
    """pair.swap after transferring the input; the output is computed in the contract from the
    reserves at execution time with `fee_bps` (30 Uniswap/Sushi, 25 PancakeSwap V2)."""

    pair: str
    token_in: str
    token_out: str
    amount_in: int = ALL_BALANCE
    fee_bps: int = 30
    kind: ClassVar[ActionKind] = ActionKind.UNISWAP_V2_SWAP
    DATA: ClassVar[tuple[str, ...]] = ("address", "uint256")

    def __post_init__(self) -> None:
        _normalize(self, "pair", "token_in", "token_out")
        _uint(self.amount_in, "UniswapV2Swap.amount_in")
        _uint(self.fee_bps, "UniswapV2Swap.fee_bps", BPS - 1)

    def raw(self) -> RawAction:
        data = encode(self.DATA, [self.token_out, self.fee_bps])
        return (self.kind, self.pair, self.token_in, self.amount_in, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> UniswapV2Swap:
        token_out, fee_bps = decode(cls.DATA, data)
        return cls(target, token_in, token_out, amount_in, fee_bps)


@dataclass(frozen=True, slots=True)
class UniswapV3Swap:
    """Exact-input pool.swap; the pool is paid in uniswapV3SwapCallback. A limit of 0 means none."""

    pool: str
    token_in: str
    token_out: str
    amount_in: int = ALL_BALANCE
    sqrt_price_limit_x96: int = 0
    kind: ClassVar[ActionKind] = ActionKind.UNISWAP_V3_SWAP
    DATA: ClassVar[tuple[str, ...]] = ("address", "uint160")

    def __post_init__(self) -> None:
        _normalize(self, "pool", "token_in", "token_out")
        _uint(self.amount_in, "UniswapV3Swap.amount_in", 2**255 - 1)
        _uint(self.sqrt_price_limit_x96, "UniswapV3Swap.sqrt_price_limit_x96", MAX_UINT160)

    def raw(self) -> RawAction:
        data = encode(self.DATA, [self.token_out, self.sqrt_price_limit_x96])
        return (self.kind, self.pool, self.token_in, self.amount_in, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> UniswapV3Swap:
        token_out, limit = decode(cls.DATA, data)
        return cls(target, token_in, token_out, amount_in, limit)


@dataclass(frozen=True, slots=True)
class BalancerSwap:
    """vault.swap, one GIVEN_IN step through `pool_id`. Not inside a Balancer flash loan from the
    same vault: the vault is nonReentrant (BAL#400)."""

    vault: str
    pool_id: bytes
    token_in: str
    token_out: str
    amount_in: int = ALL_BALANCE
    kind: ClassVar[ActionKind] = ActionKind.BALANCER_SWAP
    DATA: ClassVar[tuple[str, ...]] = ("bytes32", "address")

    def __post_init__(self) -> None:
        _normalize(self, "vault", "token_in", "token_out")
        if not isinstance(self.pool_id, bytes) or len(self.pool_id) != 32:
            raise ValueError(f"BalancerSwap.pool_id: need 32 bytes, got {self.pool_id!r}")
        _uint(self.amount_in, "BalancerSwap.amount_in")

    def raw(self) -> RawAction:
        data = encode(self.DATA, [self.pool_id, self.token_out])
        return (self.kind, self.vault, self.token_in, self.amount_in, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> BalancerSwap:
        pool_id, token_out = decode(cls.DATA, data)
        return cls(target, pool_id, token_in, token_out, amount_in)


@dataclass(frozen=True, slots=True)
class AaveLiquidation:
    """pool.liquidationCall(collateral, debt, user, debt_to_cover, receiveAToken=false); Aave caps
    the repayment at the close factor and the collateral arrives as the underlying token."""

    pool: str
    collateral_asset: str
    debt_asset: str
    user: str
    debt_to_cover: int = ALL_BALANCE
    kind: ClassVar[ActionKind] = ActionKind.AAVE_LIQUIDATION
    DATA: ClassVar[tuple[str, ...]] = ("address", "address")

    def __post_init__(self) -> None:
        _normalize(self, "pool", "collateral_asset", "debt_asset", "user")
        _uint(self.debt_to_cover, "AaveLiquidation.debt_to_cover")

    def raw(self) -> RawAction:
        data = encode(self.DATA, [self.collateral_asset, self.user])
        return (self.kind, self.pool, self.debt_asset, self.debt_to_cover, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> AaveLiquidation:
        collateral, user = decode(cls.DATA, data)
        return cls(target, collateral, token_in, user, amount_in)


@dataclass(frozen=True, slots=True)
class VenusLiquidation:
    """vTokenBorrowed.liquidateBorrow(borrower, repay, vTokenCollateral), then redeem of every
    seized vToken for the underlying; a non-zero Venus error code reverts the whole plan.

    With `liquidator` (Venus's Liquidator contract, which BNB Chain's comptroller names as the
    only one allowed to liquidate) the repay goes through Liquidator.liquidateBorrow instead,
    which keeps the treasury's cut of the seized bonus; its address is a third word in `data`
    (the zero address, the default, encodes the two-word direct call as before)."""

    vtoken_borrowed: str
    underlying_borrowed: str
    borrower: str
    vtoken_collateral: str
    repay_amount: int = ALL_BALANCE
    liquidator: str = ZERO_ADDRESS
    kind: ClassVar[ActionKind] = ActionKind.VENUS_LIQUIDATION
    DATA: ClassVar[tuple[str, ...]] = ("address", "address")
    VIA_LIQUIDATOR: ClassVar[tuple[str, ...]] = ("address", "address", "address")

    def __post_init__(self) -> None:
        _normalize(
            self, "vtoken_borrowed", "underlying_borrowed", "borrower", "vtoken_collateral",
            "liquidator",
        )  # fmt: skip
        _uint(self.repay_amount, "VenusLiquidation.repay_amount")

    def raw(self) -> RawAction:
        fields = [self.borrower, self.vtoken_collateral]
        if self.liquidator == ZERO_ADDRESS:
            data = encode(self.DATA, fields)
        else:
            data = encode(self.VIA_LIQUIDATOR, [*fields, self.liquidator])
        target, token_in = self.vtoken_borrowed, self.underlying_borrowed
        return (self.kind, target, token_in, self.repay_amount, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> VenusLiquidation:
        if len(data) > 64:
            borrower, vtoken_collateral, liquidator = decode(cls.VIA_LIQUIDATOR, data)
            return cls(target, token_in, borrower, vtoken_collateral, amount_in, liquidator)
        borrower, vtoken_collateral = decode(cls.DATA, data)
        return cls(target, token_in, borrower, vtoken_collateral, amount_in)


Step = UniswapV2Swap | UniswapV3Swap | BalancerSwap | AaveLiquidation | VenusLiquidation
STEP_TYPES = (UniswapV2Swap, UniswapV3Swap, BalancerSwap, AaveLiquidation, VenusLiquidation)


@dataclass(frozen=True, slots=True)
class Guarded:
    """A part that may fail alone: the executor runs `actions` in a self-call (runGuarded), so a
    revert inside unwinds this part only; what it had not spent (its share of the loan) stays
    in the executor and repays the lender, and the other parts keep their profit. The profit
    check still covers the whole plan. Parts hold plain steps (no nesting); target, tokenIn
    and amountIn are unused (zero) on chain."""

    actions: tuple[Step, ...]
    kind: ClassVar[ActionKind] = ActionKind.GUARDED
    DATA: ClassVar[tuple[str, ...]] = (f"{ACTION_ABI}[]",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))
        if not self.actions:
            raise ValueError("Guarded: no actions")
        for action in self.actions:
            if not isinstance(action, STEP_TYPES):
                raise TypeError(f"Guarded: {action!r} is not a plain step")

    def raw(self) -> RawAction:
        data = encode(self.DATA, [[a.raw() for a in self.actions]])
        return (self.kind, ZERO_ADDRESS, ZERO_ADDRESS, ALL_BALANCE, data)

    @classmethod
    def from_raw(cls, target: str, token_in: str, amount_in: int, data: bytes) -> Guarded:
        if int(target, 16) or int(token_in, 16) or amount_in:
            raise ValueError("Guarded: target, tokenIn and amountIn must be zero")
        (raws,) = decode(cls.DATA, data)
        return cls(tuple(_step(*raw) for raw in raws))


Action = Step | Guarded

ACTION_TYPES: dict[ActionKind, type[Action]] = {cls.kind: cls for cls in (*STEP_TYPES, Guarded)}


# -- the plan ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FlashLoan:
    source: FlashSource
    lender: str  # Balancer vault, Uniswap V3 pool or Aave V3 pool; zero for NONE
    token: str
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", FlashSource(self.source))
        _normalize(self, "lender", "token")
        _uint(self.amount, "FlashLoan.amount")
        borrowing = self.source is not FlashSource.NONE
        if borrowing != (self.amount > 0) or borrowing != (self.lender != ZERO_ADDRESS):
            raise ValueError(f"FlashLoan: {self.source.name}: a lender and an amount iff it lends")

    def raw(self) -> tuple[int, str, str, int]:
        return (self.source, self.lender, self.token, self.amount)


NO_LOAN = FlashLoan(FlashSource.NONE, ZERO_ADDRESS, ZERO_ADDRESS, 0)


@dataclass(frozen=True, slots=True)
class Plan:
    """One call of TallyExecutor.execute: borrow, run the actions in order, repay, check profit."""

    actions: tuple[Action, ...]
    profit_token: str
    min_profit: int
    loan: FlashLoan = NO_LOAN
    tip_bps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))
        _normalize(self, "profit_token")
        _uint(self.min_profit, "Plan.min_profit")
        _uint(self.tip_bps, "Plan.tip_bps", BPS)
        if not self.actions:
            raise ValueError("Plan: no actions")
        for action in self.actions:
            if not isinstance(action, tuple(ACTION_TYPES.values())):
                raise TypeError(f"Plan: {action!r} is not an action")
            for step in action.actions if isinstance(action, Guarded) else (action,):
                _check_reentry(self.loan, step)

    def with_min_profit(self, min_profit: int) -> Plan:
        """This plan with another minProfit (everything else was checked when it was made)."""
        _uint(min_profit, "Plan.min_profit")
        copy = object.__new__(Plan)
        for name in ("actions", "profit_token", "loan", "tip_bps"):
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "min_profit", min_profit)
        return copy


# Lenders that lock themselves while lending: a swap on them inside their own loan reverts
# (Balancer's vault is nonReentrant: BAL#400; a V3 pool holds its lock during flash: LOK).
_LOCKED_WHILE_LENDING: dict[FlashSource, type[Step]] = {
    FlashSource.BALANCER: BalancerSwap,
    FlashSource.UNISWAP_V3: UniswapV3Swap,
}


def _check_reentry(loan: FlashLoan, action: Step) -> None:
    locked = _LOCKED_WHILE_LENDING.get(loan.source)
    if locked is not None and isinstance(action, locked) and action.raw()[1] == loan.lender:
        raise ValueError(f"Plan: {type(action).__name__} on {loan.lender}, locked while lending")


# -- calldata ---------------------------------------------------------------------------------
def encode_plan(plan: Plan) -> bytes:
    """Calldata for TallyExecutor.execute(loan, actions, profitToken, minProfit, tipBps)."""
    args = (
        plan.loan.raw(),
        [action.raw() for action in plan.actions],
        plan.profit_token,
        plan.min_profit,
        plan.tip_bps,
    )
    return EXECUTE_SELECTOR + encode(EXECUTE_ARGS, args)


def decode_plan(calldata: bytes) -> Plan:
    """The Plan behind execute() calldata (for journals, replays and tests)."""
    if calldata[:4] != EXECUTE_SELECTOR:
        raise ValueError(f"not TallyExecutor.execute calldata: selector 0x{calldata[:4].hex()}")
    loan, raw_actions, profit_token, min_profit, tip_bps = decode(EXECUTE_ARGS, calldata[4:])
    actions = tuple(_action(*raw) for raw in raw_actions)
    return Plan(actions, profit_token, min_profit, FlashLoan(*loan), tip_bps)


def _action(kind: int, target: str, token_in: str, amount_in: int, data: bytes) -> Action:
    return ACTION_TYPES[ActionKind(kind)].from_raw(target, token_in, amount_in, data)


def _step(kind: int, target: str, token_in: str, amount_in: int, data: bytes) -> Step:
    action = _action(kind, target, token_in, amount_in, data)
    if isinstance(action, Guarded):
        raise ValueError("Guarded: a part inside a part")
    return action
