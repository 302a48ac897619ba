"""Send a conflict group with its liquidations batched where that costs less gas (issue 5 item 3).

    group (in priority order) -> batch() -> units: a batch where its gas estimate is below the
    sum of its singles' (one transaction floor and one flash loan saved per extra part), else
    the singles -> send(units) (the pipeline simulates each after the ones before it)
    -> a batch whose simulation failed or did not pay: its singles, sent once more on their own.

Every opportunity of the group gets its own result. A batch's transaction is counted once: the
first part that succeeded carries its gas and realised profit, the others that succeeded are
batched into it (zero gas, zero profit), and a part the receipt's `GuardedFailed` logs name
reverted (no profit); app/batch_results.py says why that and not a split.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from tallyio.app.batch_results import failed_parts, per_part, sim_logs
from tallyio.core.opportunity import Opportunity
from tallyio.core.plan import Guarded
from tallyio.core.queue import plan_key
from tallyio.execution.pipeline import Status, Submission
from tallyio.execution.submit import Landed
from tallyio.journal import JournalStore
from tallyio.strategies.liquidation_batch import batch

__all__ = ["submit_batched", "units"]

log = logging.getLogger(__name__)

Send = Callable[[Sequence[Opportunity]], Awaitable[Sequence[Any]]]
Receipt = Callable[[str], Awaitable[Mapping[str, Any] | None]]  # eth_getTransactionReceipt
Unit = tuple[Opportunity, tuple[Opportunity, ...]]  # what is sent, and the group's parts in it


def units(group: Sequence[Opportunity]) -> list[Unit]:
    """The group as sent: batches that save gas, the rest as they were, in the group's order
    (a unit goes where its best part was). A pre-simulated plan goes as it was simulated."""
    order = {id(o): i for i, o in enumerate(group)}
    out: list[Unit] = [(o, (o,)) for o in group if o.presimulated is not None]  # as simulated
    for opp in batch([o for o in group if o.presimulated is None]):
        parts: tuple[Opportunity, ...] = tuple(opp.detail["parts"]) if "batch" in opp.detail else ()
        if parts and opp.gas_estimate < sum(p.gas_estimate for p in parts):
            out.append((opp, parts))
        else:
            out += [(p, (p,)) for p in parts or (opp,)]
    return sorted(out, key=lambda u: min(order[id(p)] for p in u[1]))


async def submit_batched(
    group: Sequence[Opportunity], send: Send, receipt: Receipt, journal: JournalStore | None = None
) -> list[Any]:
    """Send `group` as `units(group)`; one result per opportunity of `group`, in its order.
    `receipt` reads a landed batch's receipt (which parts failed); `journal` gets each batch's
    plan as an opportunity (see `_journal_batch`)."""
    plan = units(group)
    if all(len(parts) == 1 for _, parts in plan):
        return list(await send(group))
    results = list(await send([unit for unit, _ in plan]))
    for unit, parts in plan:  # after the send: the journal's fsync stays off the way out
        if journal is not None and len(parts) > 1:
            await asyncio.to_thread(_journal_batch, journal, unit, parts)
    by_part: dict[int, Any] = {}
    retry: list[Opportunity] = []
    for (unit, parts), result in zip(plan, results, strict=True):
        if len(parts) > 1 and _refused(result):
            retry += parts
            continue
        for p, own in zip(parts, await _per_part(unit, parts, result, receipt), strict=True):
            by_part[id(p)] = own
    if retry:
        for p, result in zip(retry, await send(retry), strict=True):
            by_part[id(p)] = result
    return [by_part[id(o)] for o in group]


def _refused(result: Any) -> bool:
    """Not sent because its simulation failed or did not pay (or the send itself raised)."""
    return isinstance(result, BaseException) or getattr(result, "status", None) is Status.REJECTED


async def _per_part(
    unit: Opportunity, parts: Sequence[Opportunity], result: Any, receipt: Receipt
) -> list[Any]:
    """The batch's result as one per part: which parts failed, from the receipt's logs once
    it landed (the simulation's in paper)."""
    if len(parts) == 1 or not isinstance(result, Submission):
        return [result] * len(parts)
    guarded = [i for i, a in enumerate(unit.plan.actions) if isinstance(a, Guarded)]
    if result.status is Status.INCLUDED and result.tx_hash:
        failed = await _failed_on_chain(result, guarded, receipt)
    elif result.status is Status.SIMULATED:
        failed = failed_parts(sim_logs(result.outcome), guarded)
    else:
        failed = frozenset()
    return per_part(result, len(parts), failed)


async def _failed_on_chain(
    result: Submission, guarded: list[int], receipt: Receipt
) -> frozenset[int]:
    """The parts the receipt's GuardedFailed logs name. The pipeline saw the receipt, so a node
    that cannot give it again is failing: the batch still counts once (on its first part),
    only which parts failed is unknown, and the log says so."""
    try:
        mined = await receipt(str(result.tx_hash))
    except Exception:  # a broken node must not lose a landed batch's accounting
        log.exception("batch %s: receipt of %s unreadable", result.plan_id, result.tx_hash)
        return frozenset()
    if mined is None:
        log.error("batch %s: no receipt for %s", result.plan_id, result.tx_hash)
        return frozenset()
    return failed_parts(Landed.from_receipt(mined).logs, guarded, mined.get("to"))


def _journal_batch(journal: JournalStore, unit: Opportunity, parts: Sequence[Opportunity]) -> None:
    """The engine journals each part under its own plan id; the pipeline journals the batch's
    simulation and transaction under the batch's. This row gives that plan id its strategy,
    chain and profit token (the journal's PnL reads them from here) and names its parts."""
    journal.record_opportunity(
        plan_key(unit), block=unit.block, strategy=unit.strategy,
        expected_profit=unit.expected_profit, kind=unit.kind.name.lower(),
        chain_id=unit.chain_id, gas_estimate=unit.gas_estimate,
        profit_token=unit.profit_token, touches=unit.touches,
        payload={"batch": len(parts), "parts": [plan_key(p) for p in parts]},
    )  # fmt: skip
