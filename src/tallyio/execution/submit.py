"""The parts of the executor pipeline that do not depend on where a transaction goes.

`judge` decides from a simulation and a fee quote whether a plan is worth sending (profit after
gas, in the profit token), `gas_limit_for` sizes the transaction from the simulated gas, and the
chain reads around a send live here: the first receipt among several hashes (a transaction and
its replacements), token balances at a block, and the realised profit of an included
transaction. `ExecutionMetrics` times each stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from tallyio.execution.fees import Fees
from tallyio.execution.nonce import NodeClient
from tallyio.sim.outcome import Outcome

ETH = 10**18
BPS = 10_000
GAS_MARGIN_BPS = 2_500  # gas limit = simulated gas + 25% (refunds and the 63/64 rule need room)
GAS_PAD = 10_000
BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)
STAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)


def wei_to_token(wei: int, eth_price: int) -> int:
    """`wei` in profit-token base units, rounded up (a cost is never understated);
    `eth_price` is how many base units one ETH (10**18 wei) is worth."""
    return -(-wei * eth_price // ETH)


def token_to_wei(amount: int, eth_price: int) -> int:
    """Profit-token base units in wei, rounded down (a profit is never overstated)."""
    return amount * ETH // eth_price if eth_price > 0 else 0


def gas_limit_for(gas_used: int, block_gas_limit: int, margin_bps: int = GAS_MARGIN_BPS) -> int:
    return min(gas_used * (BPS + margin_bps) // BPS + GAS_PAD, block_gas_limit)


def effective_price(fees: Fees, base_fee: int) -> int:
    """What one gas costs in a block with `base_fee` (EIP-1559: base + tip, capped)."""
    if fees.gas_price is not None:
        return fees.gas_price
    assert fees.max_fee_per_gas is not None and fees.max_priority_fee_per_gas is not None
    return min(fees.max_fee_per_gas, base_fee + fees.max_priority_fee_per_gas)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gas cost and the profit left after it, in profit-token base units."""

    gas_cost: int
    net_profit: int
    reason: str | None  # None: send it

    @property
    def go(self) -> bool:
        return self.reason is None


def judge(outcome: Outcome, fees: Fees | None, base_fee: int, eth_price: int) -> Verdict:
    """Worth sending only when the simulation succeeded and its profit beats the gas it
    burns at the quoted fees in the target block."""
    if not outcome.success:
        return Verdict(0, 0, f"simulation reverted: {outcome.revert_reason}")
    if fees is None:
        return Verdict(0, outcome.profit, "fee caps cannot pay the next base fee and tip")
    cost = wei_to_token(outcome.gas_used * effective_price(fees, base_fee), eth_price)
    net = outcome.profit - cost
    if net <= 0:
        reason = (f"not profitable after gas: simulated profit {outcome.profit}, gas "
                  f"{outcome.gas_used} costs {cost} (profit-token units)")  # fmt: skip
        return Verdict(cost, net, reason)
    return Verdict(cost, net, None)


TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEPOSIT_TOPIC = "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
WITHDRAWAL_TOPIC = "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"


# -- chain reads ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Landed:
    """A mined transaction, from its receipt."""

    tx_hash: str
    block: int
    success: bool
    gas_used: int
    effective_gas_price: int
    logs: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # (address, topics, data)

    @classmethod
    def from_receipt(cls, receipt: Mapping[str, Any]) -> Landed:
        logs = tuple(
            (str(g["address"]).lower(), tuple(t.lower() for t in g["topics"]), str(g["data"]))
            for g in receipt.get("logs") or ()
        )
        return cls(
            tx_hash=str(receipt["transactionHash"]).lower(),
            block=int(receipt["blockNumber"], 16),
            success=int(receipt["status"], 16) == 1,
            gas_used=int(receipt["gasUsed"], 16),
            effective_gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
            logs=logs,
        )

    @property
    def gas_cost_wei(self) -> int:
        return self.gas_used * self.effective_gas_price

    def token_delta(self, token: str, holder: str) -> int:
        """`holder`'s change in `token` by this transaction alone, from its logs: ERC-20
        Transfer events, and WETH9's Deposit / Withdrawal (which mint and burn without one).
        Exact per transaction where a balance difference over the block would count every
        transaction of ours in that block."""
        token, who = token.lower(), "0x" + "0" * 24 + holder.lower()[2:]
        delta = 0
        for address, topics, data in self.logs:
            if address != token or not topics:
                continue
            amount = int(data, 16) if data not in ("0x", "") else 0
            if topics[0] == TRANSFER_TOPIC and len(topics) == 3:
                delta += amount * ((topics[2] == who) - (topics[1] == who))
            elif topics[0] == DEPOSIT_TOPIC and len(topics) == 2 and topics[1] == who:
                delta += amount
            elif topics[0] == WITHDRAWAL_TOPIC and len(topics) == 2 and topics[1] == who:
                delta -= amount
        return delta


async def head(node: NodeClient) -> int:
    return int(await node.request("eth_blockNumber"), 16)


async def first_receipt(node: NodeClient, hashes: Iterable[str]) -> Landed | None:
    """The receipt of whichever of `hashes` (same nonce: at most one can be mined) landed."""
    wanted = list(dict.fromkeys(h.lower() for h in hashes))
    if not wanted:
        return None
    found = await node.batch([("eth_getTransactionReceipt", [h]) for h in wanted],
                             raise_errors=False)  # fmt: skip
    receipt = next((r for r in found if isinstance(r, dict)), None)
    return None if receipt is None else Landed.from_receipt(receipt)


async def token_balances(
    node: NodeClient, token: str, holder: str, blocks: Sequence[int]
) -> list[int]:
    data = "0x" + (BALANCE_OF + bytes(12) + bytes.fromhex(holder[2:])).hex()
    calls = [("eth_call", [{"to": token, "data": data}, hex(b)]) for b in blocks]
    return [int(answer, 16) for answer in await node.batch(calls)]


async def realised_profit(node: NodeClient, token: str, holder: str, block: int) -> int:
    """`holder`'s change in `token` over `block` (its balance there minus in the parent)."""
    before, after = await token_balances(node, token, holder, (block - 1, block))
    return after - before


# -- metrics -------------------------------------------------------------------------------------
class ExecutionMetrics:
    """Latency per pipeline stage and outcomes per executor mode."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.stage = Histogram(
            "tallyio_execution_stage_seconds", "Executor pipeline stage latency.",
            ["mode", "stage"], buckets=STAGE_BUCKETS, registry=reg,
        )  # fmt: skip
        self.outcomes = Counter(
            "tallyio_executions_total", "Executions by executor mode and final status.",
            ["mode", "status"], registry=reg,
        )  # fmt: skip

    @contextmanager
    def timed(self, mode: str, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage.labels(mode, stage).observe(time.perf_counter() - start)


@cache
def default_execution_metrics() -> ExecutionMetrics:
    return ExecutionMetrics()
