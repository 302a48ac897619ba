"""The state of ArbitrageStrategy's best-first search, kept between the engine's early pass
and `process` on the same deltas, and the rules for what `process` leaves to an early plan.

`Search` is the screened cycles ranked by bound with a cursor: `early` sizes a few of its head
(out of order), `process` walks on from the cursor, skipping what was sized. A plan the early
pass gave is in flight by the time `process` runs: whatever shares a key with it would be held
by the engine until it lands and then simulated on a state it was not sized for, so `process`
leaves those out (`clear_of`) and does not size cycles through its pools (`avoided`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.state.store import Delta

__all__ = ["EarlyPass", "Search", "avoided", "clear_of", "net", "top"]


def net(opportunity: Opportunity) -> int:
    """An opportunity's expected profit after gas, in wei."""
    return int(opportunity.detail["net_wei"])


@dataclass(slots=True)
class Search:
    """A best-first search in progress: the screened cycles by bound (best first), the next
    one to size, those sized out of order (by `early`), and the opportunities found so far."""

    bounds: list[float]
    ids: list[int]
    at: int = 0
    sized: set[int] = field(default_factory=set)
    found: list[Opportunity] = field(default_factory=list)

    def best(self) -> Opportunity | None:
        return max(self.found, key=net, default=None)


@dataclass(slots=True)
class EarlyPass:
    """What `early` left for `process` on the same deltas."""

    deltas: tuple[Delta, ...]
    block: BlockContext
    search: Search | None
    acted: Opportunity | None


def top(
    bounds: npt.NDArray[np.float64], ids: npt.NDArray[np.int64], k: int
) -> tuple[list[float], list[int]]:
    """The `k` largest bounds and their ids, largest first, ties in id order: what a stable
    sort of them all gives, without sorting them all."""
    pick = np.arange(len(bounds))
    if len(bounds) > k:
        pick = np.sort(np.argpartition(-bounds, k - 1)[:k])
    pick = pick[np.argsort(-bounds[pick], kind="stable")]
    return bounds[pick].tolist(), ids[pick].tolist()


def avoided(acted: Opportunity | None) -> frozenset[str]:
    """The pools an acted-on plan swaps on: a cycle through one conflicts with it."""
    return frozenset(acted.detail["pools"]) if acted is not None else frozenset()


def clear_of(found: list[Opportunity], acted: Opportunity | None) -> list[Opportunity]:
    """`found` without `acted` and whatever shares a key with it: the engine would hold those
    until `acted` lands and simulate them on a state they were not sized for (the pools they
    cross are searched again on the next block's state)."""
    if acted is None:
        return found
    return [o for o in found if o.touches.isdisjoint(acted.touches)]
