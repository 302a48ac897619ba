"""What a strategy emits: a complete, frozen opportunity (DESIGN rule 5).

It carries the block it was computed at, the exact expected profit and gas, and the Plan the
executor contract runs, so risk, simulation and execution never recompute strategy logic.
`touches` names every pool, account and flash-loan lender the plan reads or writes (lowercase
addresses, or pool ids), so the engine can see two plans that conflict within one block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from tallyio.core.events import Block
from tallyio.core.plan import Plan

ETH = 10**18


class Kind(IntEnum):
    """Priority order in the engine's queue: lower goes first."""

    LIQUIDATION = 0
    ARBITRAGE = 1
    BACKRUN = 2
    LATENCY = 3


@dataclass(frozen=True, slots=True)
class Opportunity:
    strategy: str  # e.g. "aave_v3_liquidation", "arbitrage"
    kind: Kind
    chain_id: int
    block: int  # the state it was computed on
    plan: Plan
    expected_profit: int  # profit-token base units, after flash-loan fees, before gas
    gas_estimate: int
    eth_price: int  # profit-token base units worth one ETH (to price gas)
    touches: frozenset[str] = frozenset()
    notional_usd: int = 0  # whole USD moved (largest leg), for risk limits
    flash_loan_usd: int = 0  # whole USD borrowed by flash loan, for risk limits
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # The simulator's Outcome of this very plan (its minProfit aside), run ahead of the event on
    # a state that differed only in one feed's answer (a Contingent); None: simulate as usual.
    presimulated: Any = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "touches", frozenset(t.lower() for t in self.touches))
        if self.gas_estimate <= 0 or self.eth_price <= 0:
            raise ValueError(f"Opportunity: gas estimate and ETH price must be > 0: {self}")

    @property
    def profit_token(self) -> str:
        return self.plan.profit_token

    def profit_wei(self) -> int:
        """Expected profit in wei, so opportunities in different tokens compare."""
        return self.expected_profit * ETH // self.eth_price

    def net_profit(self, gas_price_wei: int) -> int:
        """Expected profit minus gas at `gas_price_wei`, in profit-token base units."""
        return self.expected_profit - self.gas_estimate * gas_price_wei * self.eth_price // ETH

    def conflicts(self, other: Opportunity) -> bool:
        return self.chain_id == other.chain_id and not self.touches.isdisjoint(other.touches)


@dataclass(frozen=True, slots=True)
class Contingent:
    """An opportunity sized on a state that has not happened: `feed` answering `answer` (in its
    `decimals`). The engine simulates it ahead with that answer overridden (idle time) and hands
    the outcome back to the strategy, which may then act on the real event without waiting for
    a simulation (strategies/armed.py)."""

    opportunity: Opportunity
    feed: str
    answer: int
    decimals: int


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What strategies see besides the state: the block the deltas belong to and its prices.

    `eth_prices` maps a token (lowercase address) to its base units worth one ETH, from the
    oracle prices in state; `base_fee` is the next block's base fee, `priority_fee` the tip the
    fee policy would pay, so `gas_price` is what one unit of gas is expected to cost.
    `head` is the block itself as the engine follows it (the executor prices fees from it
    without asking the node again).
    """

    chain_id: int
    block: int
    timestamp: int
    base_fee: int
    priority_fee: int = 0
    eth_prices: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)
    head: Block | None = field(default=None, compare=False, hash=False)  # the block's header

    @property
    def gas_price(self) -> int:
        return self.base_fee + self.priority_fee

    def eth_price(self, token: str) -> int | None:
        return self.eth_prices.get(token.lower())
