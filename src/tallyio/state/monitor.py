"""The health monitor: every borrower of one lending market, screened incrementally.

A `HealthBook` (float columns, health.py) holds one row per borrower. Deltas from the store
keep it current: an account's own events rewrite its row (a new borrower is a new row: found
from events, no subgraph), a price or reserve change re-screens only the rows holding that
asset. `candidates()` is the float screen (HF below `screen`, with a margin for the floats);
`liquidatable()` confirms them with the exact integer model - only those are acted on.

Near-threshold accounts go on a watch list with the single-asset price move that would make
each liquidatable: with C and D the account's weighted collateral and debt and c_j, d_j the
parts from asset j, HF(price_j * (1 + x)) = 1 at x = (D - C) / (c_j - d_j).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tallyio.state.health import (
    Get,
    HealthBook,
    confirm_aave,
    confirm_venus,
    from_state,
    on_deltas,
)
from tallyio.state.positions import AaveMarketRef, VenusRef
from tallyio.state.store import Delta

ONE = 10**18


@dataclass(frozen=True, slots=True)
class Watch:
    account: str
    health_factor: float
    asset: str  # the asset whose price move liquidates it soonest
    price_move: float  # fractional move of that price that brings HF to 1 (e.g. -0.034)


class LendingMonitor:
    def __init__(
        self, ref: AaveMarketRef | VenusRef, get: Get, accounts: Sequence[str], ts: int, *,
        screen: float = 1.02, watch_band: float = 1.10,
    ) -> None:  # fmt: skip
        self.ref, self.screen, self.watch_band = ref, screen, watch_band
        self.protocol = "aave_v3" if isinstance(ref, AaveMarketRef) else "venus"
        self.market = ref.pool if isinstance(ref, AaveMarketRef) else ref.comptroller
        self.book: HealthBook = from_state(get, ref, list(accounts), ts)

    def resync(self, get: Get, ts: int) -> None:
        """The vectorised full sweep, from the exact state (after a snapshot or a reorg)."""
        self.book = from_state(get, self.ref, list(self.book.accounts), ts)

    def on_deltas(self, deltas: Iterable[Delta], get: Get, ts: int) -> None:
        on_deltas(self.book, deltas, get, self.ref, ts)

    def candidates(self) -> list[str]:
        return self.book.at_risk(self.screen)

    def liquidatable(self, get: Get, ts: int) -> list[tuple[str, int]]:
        """(account, exact HF) of the candidates whose exact HF is below 1."""
        users = self.candidates()
        if not users:
            return []
        if isinstance(self.ref, AaveMarketRef):
            exact = confirm_aave(get, self.ref, users, ts)
        else:
            exact = confirm_venus(get, self.ref, users)
        return [(u, hf) for u, hf in exact if hf < ONE]

    def watch_list(self) -> list[Watch]:
        """Accounts with 1 <= HF < watch_band, nearest to liquidation first."""
        b, m = self.book, len(self.book.assets)
        rows = np.flatnonzero((b.hf >= 1.0) & (b.hf < self.watch_band))
        if not len(rows):
            return []
        sub = b.amounts[:, rows]
        c = sub[:m] * (b.coll_factor * b.prices)[:, None]  # (m, k) weighted collateral parts
        d = sub[m:] * (b.debt_factor * b.prices)[:, None]
        gap = d.sum(axis=0) - c.sum(axis=0)  # D - C (< 0 while healthy)
        denom = c - d
        with np.errstate(divide="ignore", invalid="ignore"):
            move = np.where(denom != 0, gap / denom, np.inf)
        move = np.where(move > -1.0, move, np.inf)  # a price cannot fall below zero
        best = np.argmin(np.abs(move), axis=0)
        out = [
            Watch(b.accounts[i], float(b.hf[i]), b.assets[j], float(move[j, k]))
            for k, (i, j) in enumerate(zip(rows, best, strict=True))
        ]
        return sorted(out, key=lambda w: w.health_factor)
