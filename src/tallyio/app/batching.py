"""Send a conflict group with its liquidations batched where that costs less gas (issue 5 item 3).

    group (in priority order) -> batch() -> units: a batch where its gas estimate is below the
    sum of its singles' (one transaction floor and one flash loan saved per extra part), else
    the singles -> send(units) (the pipeline simulates each after the ones before it)
    -> a batch whose simulation failed or did not pay: its singles, sent once more on their own.

Every opportunity of the group gets a result; the parts of a batch share the batch's result
(one transaction: its hash, gas and realised profit are the batch's, not split by part).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tallyio.core.opportunity import Opportunity
from tallyio.execution.pipeline import Status
from tallyio.strategies.liquidation_batch import batch

__all__ = ["submit_batched", "units"]

Send = Callable[[Sequence[Opportunity]], Awaitable[Sequence[Any]]]
Unit = tuple[Opportunity, tuple[Opportunity, ...]]  # what is sent, and the group's parts in it


def units(group: Sequence[Opportunity]) -> list[Unit]:
    """The group as sent: batches that save gas, the rest as they were, in the group's order
    (a unit goes where its best part was)."""
    order = {id(o): i for i, o in enumerate(group)}
    out: list[Unit] = []
    for opp in batch(group):
        parts: tuple[Opportunity, ...] = tuple(opp.detail["parts"]) if "batch" in opp.detail else ()
        if parts and opp.gas_estimate < sum(p.gas_estimate for p in parts):
            out.append((opp, parts))
        else:
            out += [(p, (p,)) for p in parts or (opp,)]
    return sorted(out, key=lambda u: min(order[id(p)] for p in u[1]))


async def submit_batched(group: Sequence[Opportunity], send: Send) -> list[Any]:
    """Send `group` as `units(group)`; one result per opportunity of `group`, in its order."""
    plan = units(group)
    if all(len(parts) == 1 for _, parts in plan):
        return list(await send(group))
    results = list(await send([unit for unit, _ in plan]))
    by_part: dict[int, Any] = {}
    retry: list[Opportunity] = []
    for (_, parts), result in zip(plan, results, strict=True):
        if len(parts) > 1 and _refused(result):
            retry += parts
            continue
        for p in parts:
            by_part[id(p)] = result
    if retry:
        for p, result in zip(retry, await send(retry), strict=True):
            by_part[id(p)] = result
    return [by_part[id(o)] for o in group]


def _refused(result: Any) -> bool:
    """Not sent because its simulation failed or did not pay (or the send itself raised)."""
    return isinstance(result, BaseException) or getattr(result, "status", None) is Status.REJECTED
