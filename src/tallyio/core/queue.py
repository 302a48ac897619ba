"""The engine's queue and conflict rules: pure functions over opportunities.

The queue orders by kind (liquidation > arbitrage > backrun > latency), then by expected
profit in wei. Opportunities that touch the same pool, account or flash-loan lender form a
group: the engine simulates a group together in sequence and sends it in that order.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence

from tallyio.core.memo import Recent
from tallyio.core.opportunity import Opportunity


class OpportunityQueue:
    """A heap by (kind, -profit in wei, arrival)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, Opportunity]] = []
        self._seq = 0

    def push(self, opp: Opportunity) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (int(opp.kind), -opp.profit_wei(), self._seq, opp))

    def pop(self) -> Opportunity:
        return heapq.heappop(self._heap)[3]

    def __len__(self) -> int:
        return len(self._heap)


def conflict_groups(opps: Sequence[Opportunity]) -> list[list[Opportunity]]:
    """Opportunities joined by shared touches (transitively), each group in the given order;
    a group is simulated together in sequence and sent in that order."""
    groups: list[tuple[set[str], list[Opportunity]]] = []
    for opp in opps:
        joined = [g for g in groups if not g[0].isdisjoint(opp.touches)]
        merged: tuple[set[str], list[Opportunity]] = (set(opp.touches), [])
        for g in joined:
            merged[0].update(g[0])
            merged[1].extend(g[1])
            groups.remove(g)
        merged[1].append(opp)
        merged[1].sort(key=opps.index)
        groups.append(merged)
    order = {id(o): i for i, o in enumerate(opps)}
    return sorted((g[1] for g in groups), key=lambda g: order[id(g[0])])


_KEYS: Recent[str] = Recent(1_024)  # the engine and the submitter both ask


def plan_key(opp: Opportunity) -> str:
    """A stable id for journaling an opportunity before the executor derives its plan id."""
    return _KEYS.get(opp, lambda: hashlib.sha256(
        repr((opp.plan, opp.block, opp.chain_id)).encode()).hexdigest()[:16])  # fmt: skip
