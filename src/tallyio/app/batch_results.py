"""One honest result per part of a guarded liquidation batch (one transaction, n parts).

The batch's transaction is counted once: the first part that succeeded carries its whole gas,
realised profit and simulated net, exactly as the pipeline journaled them for the batch's plan;
every other part that succeeded is `batched into` that one, with zero gas and zero profit. A
part whose index the executor reported in `GuardedFailed(uint256 index)` (contracts/src/
TallyExecutor.sol) reverted inside the transaction: it is reported REVERTED (REJECTED when only
simulated, in paper), with no profit. When no part succeeded, the first part carries the gas.

Why not split the profit across the parts by their simulated shares: the engine prices each
result on its own (`profit * 10**18 // eth_price - gas`), and floors summed per part fall short
of the batch's by up to a wei a part; the receipt's figures on one part sum exactly, to the
wei, in the gate, the metrics and the journal (which holds the one transaction once).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from tallyio.execution.pipeline import Status, Submission
from tallyio.execution.signer import keccak256
from tallyio.sim.outcome import Outcome

__all__ = ["GUARDED_FAILED", "failed_parts", "per_part", "sim_logs"]

GUARDED_FAILED = "0x" + keccak256(b"GuardedFailed(uint256)").hex()
LANDED = (Status.INCLUDED, Status.REVERTED)
LogEntry = tuple[str, Sequence[str], str]  # (address, topics, data) as 0x hex, as in a receipt


def failed_parts(
    logs: Iterable[LogEntry], guarded: Sequence[int], emitter: str | None = None
) -> frozenset[int]:
    """The parts (0..n-1) that reverted: `guarded` holds each part's action index in the plan,
    a GuardedFailed log names an action index. `emitter`: only its logs count (the executor)."""
    part_of = {action: part for part, action in enumerate(guarded)}
    out: set[int] = set()
    for address, topics, data in logs:
        if not topics or topics[0].lower() != GUARDED_FAILED:
            continue
        if emitter is not None and address.lower() != emitter.lower():
            continue
        action = int(data, 16)
        if action not in part_of:
            raise ValueError(f"GuardedFailed({action}) names no Guarded part of {guarded}")
        out.add(part_of[action])
    return frozenset(out)


def sim_logs(outcome: Outcome | None) -> list[LogEntry]:
    """A simulation's logs in a receipt's form."""
    if outcome is None:
        return []
    return [(log.address, ["0x" + t.hex() for t in log.topics], "0x" + log.data.hex())
            for log in outcome.logs]  # fmt: skip


def per_part(result: Submission, n: int, failed: frozenset[int]) -> list[Submission]:
    """The batch's `result` as n results, one per part in the plan's order (see the module).
    Results that neither landed nor were simulated (not included, not sent) carry no amounts:
    every part gets the batch's."""
    if n == 1 or result.status not in (*LANDED, Status.SIMULATED):
        return [result] * n
    if result.status is Status.REVERTED:  # the transaction reverted: every part with it
        failed = frozenset(range(n))
    carrier = min(set(range(n)) - failed, default=0)
    return [_part(result, i, carrier, i in failed, n) for i in range(n)]


def _part(result: Submission, i: int, carrier: int, failed: bool, n: int) -> Submission:
    where = f"batch {result.plan_id} ({n} parts)"
    status = result.status
    if failed and status is Status.INCLUDED:
        status, reason = Status.REVERTED, f"part {i} of {where} reverted on chain (GuardedFailed)"
    elif failed and status is Status.SIMULATED:
        status, reason = Status.REJECTED, f"part {i} of {where} reverted in its simulation"
    elif failed:
        reason = f"{where} reverted: {result.reason}" if result.reason else f"{where} reverted"
    else:
        reason = f"part {i} of {where}"
    if i == carrier:
        return replace(result, status=status, reason=f"{reason}; carries its gas and profit")
    return replace(
        result, status=status, reason=f"{reason}; batched into part {carrier}, which carries "
        "its gas and profit", outcome=None,
        gas_used=_zero(result.gas_used), realised_profit=_zero(result.realised_profit),
        net_profit=_zero(result.net_profit),
    )  # fmt: skip


def _zero(amount: int | None) -> int | None:
    return None if amount is None else 0
