"""TallyExecutor.execute calldata without eth_abi: the bytes `plan.encode_plan` makes, faster.

`encode_plan` (eth_abi) stays the readable reference; this is the hot path the executors use
(DESIGN rule 1: the fast version lives beside the reference and is tested against it, in
tests/unit/execution/test_relays_unit.py, for every action kind and loan source).

ABI layout of execute(Loan, Action[], address, uint256, uint256), in 32-byte words:

    selector
    head    loan.source, loan.lender, loan.token, loan.amount     (a static tuple: inline)
            offset of actions (= 8 words)
            profitToken, minProfit, tipBps
    actions length n, then n offsets (from the first offset word), then each action:
            kind, target, tokenIn, amountIn, offset of data (= 5 words), len(data), data

Every step's `data` is static words (addresses, uints, a bytes32), so it needs no padding. A
Guarded action's `data` is abi.encode(Action[]): one offset word (32), then its steps laid out
exactly as the plan's own action list. An action type this module does not know is encoded by
`encode_plan` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tallyio.core.plan import (
    EXECUTE_SELECTOR,
    ZERO_ADDRESS,
    AaveLiquidation,
    Action,
    BalancerSwap,
    Guarded,
    Plan,
    UniswapV2Swap,
    UniswapV3Swap,
    VenusLiquidation,
    encode_plan,
)

_ZERO12 = bytes(12)
_ACTIONS_OFFSET = (8 * 32).to_bytes(32, "big")
_DATA_OFFSET = (5 * 32).to_bytes(32, "big")


def _uint(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _address(value: str) -> bytes:
    return _ZERO12 + bytes.fromhex(value[2:])


def _bytes32(value: bytes) -> bytes:
    return value


_WORD: dict[str, Callable[[Any], bytes]] = {
    "address": _address, "uint256": _uint, "uint160": _uint, "bytes32": _bytes32,
}  # fmt: skip

# Per action type: the (target, tokenIn, amountIn) fields, then its `data` fields in DATA order.
_FIELDS: dict[type, tuple[tuple[str, str, str], tuple[str, ...]]] = {
    UniswapV2Swap: (("pair", "token_in", "amount_in"), ("token_out", "fee_bps")),
    UniswapV3Swap: (("pool", "token_in", "amount_in"), ("token_out", "sqrt_price_limit_x96")),
    BalancerSwap: (("vault", "token_in", "amount_in"), ("pool_id", "token_out")),
    AaveLiquidation: (("pool", "debt_asset", "debt_to_cover"), ("collateral_asset", "user")),
    VenusLiquidation: (
        ("vtoken_borrowed", "underlying_borrowed", "repay_amount"),
        ("borrower", "vtoken_collateral"),
    ),
}


_GUARDED_HEAD = b"".join((_uint(Guarded.kind), bytes(32), bytes(32), bytes(32), _DATA_OFFSET))
_ONE_OFFSET = _uint(32)


def _known(action: Action) -> bool:
    if isinstance(action, Guarded):
        return all(type(a) in _FIELDS for a in action.actions)
    return type(action) in _FIELDS


def _action(action: Action) -> bytes:
    if isinstance(action, Guarded):
        data = _ONE_OFFSET + _list(action.actions)
        return b"".join((_GUARDED_HEAD, _uint(len(data)), data))
    (target, token_in, amount), data_fields = _FIELDS[type(action)]
    data = b"".join(
        _WORD[abi](getattr(action, name))
        for abi, name in zip(action.DATA, data_fields, strict=True)
    )
    if isinstance(action, VenusLiquidation) and action.liquidator != ZERO_ADDRESS:
        data += _address(action.liquidator)  # a third word: through Venus's Liquidator
    return b"".join((
        _uint(action.kind), _address(getattr(action, target)),
        _address(getattr(action, token_in)), _uint(getattr(action, amount)),
        _DATA_OFFSET, _uint(len(data)), data,
    ))  # fmt: skip


def _list(actions: tuple[Action, ...]) -> bytes:
    """An Action[] body: its length, one offset per element (from the first offset), elements."""
    elements = [_action(a) for a in actions]
    offsets, at = [], 32 * len(elements)
    for element in elements:
        offsets.append(_uint(at))
        at += len(element)
    return b"".join((_uint(len(elements)), *offsets, *elements))


def fast_encode_plan(plan: Plan) -> bytes:
    """The same bytes as `encode_plan(plan)`."""
    if not all(_known(a) for a in plan.actions):
        return encode_plan(plan)
    loan = plan.loan
    return b"".join((
        EXECUTE_SELECTOR,
        _uint(loan.source), _address(loan.lender), _address(loan.token), _uint(loan.amount),
        _ACTIONS_OFFSET, _address(plan.profit_token), _uint(plan.min_profit),
        _uint(plan.tip_bps), _list(plan.actions),
    ))  # fmt: skip
