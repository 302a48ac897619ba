"""Float64 columns beside the exact pool state, for screening every pool at once with numpy.

One row per pool and token pair (a Balancer pool of n tokens has n(n-1)/2 rows), tokens in
address order. `reserve0`/`reserve1` are virtual reserves of the constant-product pool that
matches the pool's spot price and its curvature there:
  * V2: the reserves;
  * V3: x = L / sqrtP and y = L * sqrtP (the active range's virtual reserves);
  * Balancer weighted, tokens i < j: x = 2 B_i w_j / (w_i + w_j), y = 2 B_j w_i / (w_i + w_j)
    (y / x is the spot price (B_j / w_j) / (B_i / w_i); equal weights give x = B_i, y = B_j).
All in raw token units, so reserve1 / reserve0 is the mid price in token1 base units per
token0 base unit whatever the pool kind. `fee` is the swap fee as a fraction.

The columns are the one mutable thing beside MarketState: `apply(deltas)` rewrites the rows of
the pools a MarketState.apply changed (reorg rewinds included). Screens here return candidates
only; a caller confirms each with the exact models before acting on it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.uniswap_v2 import BPS, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import FEE_DENOMINATOR
from tallyio.state.store import Delta

__all__ = [
    "PoolColumns",
    "Row",
    "SpreadCandidate",
    "cross_venue_spreads",
    "pool_rows",
    "spread_edges",
    "venue_pairs",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Q96 = float(2**96)
PoolValue = V2Pool | V3Pool | WeightedPool


class Row(NamedTuple):
    token0: str  # lowercase, token0 < token1
    token1: str
    reserve0: float
    reserve1: float
    price: float  # mid price: token1 base units per token0 base unit
    fee: float


def pool_rows(pool: PoolValue) -> list[Row]:
    """One Row per token pair of the pool."""
    if isinstance(pool, V2Pool):
        x, y = float(pool.reserve0), float(pool.reserve1)
        price = y / x if x else math.nan
        return [Row(pool.token0.lower(), pool.token1.lower(), x, y, price, pool.fee_bps / BPS)]
    if isinstance(pool, V3Pool):
        sqrt_price, liquidity = pool.sqrt_price_x96 / Q96, float(pool.liquidity)
        x, y = liquidity / sqrt_price, liquidity * sqrt_price
        fee = pool.fee / FEE_DENOMINATOR
        return [Row(pool.token0.lower(), pool.token1.lower(), x, y, sqrt_price**2, fee)]
    return [
        _weighted_row(pool, i, j) for i, j in itertools.combinations(range(len(pool.tokens)), 2)
    ]


def _weighted_row(pool: WeightedPool, i: int, j: int) -> Row:
    """Tokens i and j of a weighted pool: x = 2 B_i w_j / (w_i + w_j), y = 2 B_j w_i / (...)."""
    if pool.tokens[i].lower() > pool.tokens[j].lower():
        i, j = j, i
    b_i, b_j, w_i, w_j = pool.balances[i], pool.balances[j], pool.weights[i], pool.weights[j]
    x, y = 2.0 * b_i * (w_j / (w_i + w_j)), 2.0 * b_j * (w_i / (w_i + w_j))
    price = (b_j * w_i) / (b_i * w_j) if b_i else math.nan
    tokens = pool.tokens[i].lower(), pool.tokens[j].lower()
    return Row(*tokens, x, y, price, pool.swap_fee / ONE)


class PoolColumns:
    """Rows of (pool, token pair) with float64 reserves, mid prices and fees, by pool address."""

    def __init__(self, pools: Iterable[PoolValue]) -> None:
        rows: list[Row] = []
        addresses: list[str] = []
        self._rows: dict[str, list[int]] = {}
        for pool in pools:
            address = pool.address.lower()
            if address in self._rows:
                raise ValueError(f"pool {pool.address} given twice")
            new = pool_rows(pool)
            self._rows[address] = list(range(len(rows), len(rows) + len(new)))
            rows += new
            addresses += [address] * len(new)
        self.addresses: tuple[str, ...] = tuple(addresses)
        self.tokens: tuple[str, ...] = tuple(sorted({t for r in rows for t in r[:2]}))
        index = {t: k for k, t in enumerate(self.tokens)}
        self.token0: Ints = np.array([index[r.token0] for r in rows], dtype=np.int64)
        self.token1: Ints = np.array([index[r.token1] for r in rows], dtype=np.int64)
        self.reserve0: Floats = np.array([r.reserve0 for r in rows], dtype=np.float64)
        self.reserve1: Floats = np.array([r.reserve1 for r in rows], dtype=np.float64)
        self.price: Floats = np.array([r.price for r in rows], dtype=np.float64)
        self.fee: Floats = np.array([r.fee for r in rows], dtype=np.float64)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[Any, Any]] | Mapping[Any, Any]) -> PoolColumns:
        """Columns over every pool value among state entries (a mapping or its items)."""
        items = entries.items() if isinstance(entries, Mapping) else entries
        return cls(v for _, v in items if isinstance(v, V2Pool | V3Pool | WeightedPool))

    def __len__(self) -> int:
        return len(self.addresses)

    def rows(self, address: str) -> list[int]:
        """Row indices of a pool (empty if it has none)."""
        return self._rows.get(address.lower(), [])

    def update(self, pool: PoolValue) -> bool:
        """Rewrite a known pool's rows from its new exact state; False for an unknown pool."""
        rows = self._rows.get(pool.address.lower())
        if rows is None:
            return False
        for k, row in zip(rows, pool_rows(pool), strict=True):
            self.reserve0[k], self.reserve1[k] = row.reserve0, row.reserve1
            self.price[k], self.fee[k] = row.price, row.fee
        return True

    def apply(self, deltas: Iterable[Delta]) -> int:
        """Follow MarketState.apply: every changed pool value rewrites its rows. Returns how many
        pools changed (other keys, and pools not in the columns, are skipped)."""
        changed = 0
        for delta in deltas:
            if isinstance(delta.after, V2Pool | V3Pool | WeightedPool):
                changed += self.update(delta.after)
        return changed


@dataclass(frozen=True, slots=True)
class SpreadCandidate:
    """Buy token0 on `cheap`, sell it on `dear`: their mid prices differ by more than both fees.
    `edge` is the marginal gross return of the round trip after fees (0.01 = 1%)."""

    cheap: str
    dear: str
    token0: str
    token1: str
    edge: float


def venue_pairs(columns: PoolColumns) -> tuple[Ints, Ints]:
    """Every pair of rows (a < b) that trade the same token pair on different pools."""
    pair_id = columns.token0 * max(1, len(columns.tokens)) + columns.token1
    order = np.argsort(pair_id, kind="stable")
    firsts, seconds = [], []
    for _, group in itertools.groupby(order.tolist(), key=lambda r: int(pair_id[r])):
        rows = list(group)
        for a, b in itertools.combinations(rows, 2):
            if columns.addresses[a] != columns.addresses[b]:
                firsts.append(min(a, b))
                seconds.append(max(a, b))
    return np.array(firsts, dtype=np.int64), np.array(seconds, dtype=np.int64)


def spread_edges(
    columns: PoolColumns, pairs: tuple[Ints, Ints], *, min_edge: float = 0.0, slack: float = 1e-9
) -> tuple[Ints, Ints, Floats]:
    """The vectorised screen: (cheap rows, dear rows, edges) of every pair over the threshold,
    best first. Buying token0 on row a at mid price p_a and selling it on b at p_b returns, at
    the margin, p_b / p_a * (1 - f_a) * (1 - f_b) - 1; a pair is kept when that exceeds
    `min_edge - slack` in either direction (the slack keeps float rounding from hiding a
    borderline one)."""
    a, b = pairs
    keep = (1.0 - columns.fee[a]) * (1.0 - columns.fee[b])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = columns.price[b] / columns.price[a]
        up = ratio * keep - 1.0  # buy on a, sell on b
        down = keep / ratio - 1.0  # buy on b, sell on a
    threshold = min_edge - slack
    hits = np.flatnonzero(
        np.isfinite(ratio) & (ratio > 0) & ((up > threshold) | (down > threshold))
    )
    flip = down[hits] > up[hits]  # a is the dearer side: buy on b
    edge = np.where(flip, down[hits], up[hits])
    order = np.argsort(-edge, kind="stable")
    cheap = np.where(flip, b[hits], a[hits])[order]
    dear = np.where(flip, a[hits], b[hits])[order]
    return cheap, dear, edge[order]


def cross_venue_spreads(
    columns: PoolColumns,
    pairs: tuple[Ints, Ints] | None = None,
    *,
    min_edge: float = 0.0,
    slack: float = 1e-9,
) -> list[SpreadCandidate]:
    """Pairs of pools on one token pair whose mid prices differ by more than their fees, best
    first (see spread_edges). `pairs` defaults to venue_pairs(columns); pass it to reuse it."""
    cheap, dear, edge = spread_edges(
        columns,
        pairs if pairs is not None else venue_pairs(columns),
        min_edge=min_edge,
        slack=slack,
    )
    names, tokens = columns.addresses, columns.tokens
    return [
        SpreadCandidate(names[c], names[d], tokens[i], tokens[j], e)
        for c, d, i, j, e in zip(
            cheap.tolist(),
            dear.tolist(),
            columns.token0[cheap].tolist(),
            columns.token1[cheap].tolist(),
            edge.tolist(),
            strict=True,
        )
    ]
