"""Cycles through the pool graph, indexed by pool, with a float screen over numpy columns.

A cycle starts and ends in a token a flash-loan source can lend and runs 2 (the same pair on
two venues) to 4 hops, never through one pool twice nor one token twice on the way. They are
enumerated once per graph topology (`PoolGraph.version`: a pool added or removed rebuilds
the index) and filed under every pool they cross, so a pool event touches only its cycles.

The screen: each directed hop has a float log marginal rate (out per in at the current state,
after the swap fee, from the pool's virtual constant-product reserves); a cycle pays at the
margin iff the sum of its hops' log rates is above 0. One numpy gather and row sum screens
every cycle through a changed pool; the survivors go to exact sizing (strategies/sizing.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.curve import StablePool
from tallyio.protocols.solidly import SolidlyPool
from tallyio.protocols.uniswap_v2 import BPS, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import FEE_DENOMINATOR
from tallyio.state.graph import PoolGraph
from tallyio.state.routes import Hop, PoolValue, amount_out

__all__ = ["CycleIndex", "VirtualLeg", "enumerate_cycles", "virtual_leg"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Q96 = float(2**96)
Cycle = tuple[Hop, ...]


@dataclass(frozen=True, slots=True)
class VirtualLeg:
    """The constant-product hop matching a pool's spot price and curvature, floats, raw units."""

    reserve_in: float
    reserve_out: float
    keep: float  # 1 - swap fee

    @property
    def rate(self) -> float:
        return self.keep * self.reserve_out / self.reserve_in if self.reserve_in > 0 else 0.0


def virtual_leg(pool: PoolValue, token_in: str, token_out: str) -> VirtualLeg:
    """V2: its reserves; V3: L / sqrtP and L sqrtP of the active range; weighted i -> o:
    2 B_i w_o / (w_i + w_o) and 2 B_o w_i / (w_i + w_o) (see state/columns.py); Curve and
    Solidly: the rate of a small exact quote on a reserve of the input's balance."""
    if isinstance(pool, V2Pool):
        r_in, r_out = pool.reserves(token_in)
        return VirtualLeg(float(r_in), float(r_out), 1.0 - pool.fee_bps / BPS)
    if isinstance(pool, V3Pool):
        sqrt_price, liquidity = pool.sqrt_price_x96 / Q96, float(pool.liquidity)
        x, y = liquidity / sqrt_price, liquidity * sqrt_price
        keep = 1.0 - pool.fee / FEE_DENOMINATOR
        return VirtualLeg(x, y, keep) if pool.is_token0(token_in) else VirtualLeg(y, x, keep)
    if isinstance(pool, WeightedPool):
        i, o = pool.index(token_in), pool.index(token_out)
        w_i, w_o = pool.weights[i], pool.weights[o]
        x = 2.0 * pool.balances[i] * (w_o / (w_i + w_o))
        y = 2.0 * pool.balances[o] * (w_i / (w_i + w_o))
        return VirtualLeg(x, y, 1.0 - pool.swap_fee / ONE)
    return _quoted_leg(pool, token_in, token_out)


def _quoted_leg(pool: PoolValue, token_in: str, token_out: str) -> VirtualLeg:
    if isinstance(pool, SolidlyPool):
        r_in = pool.reserve0 if pool.side(token_in) == 0 else pool.reserve1
    elif isinstance(pool, StablePool):
        r_in = pool.balances[pool.index(token_in)]
    else:
        raise TypeError(f"no virtual leg for {type(pool).__name__}")
    probe = max(1, r_in // 10**6)
    out = amount_out(pool, token_in, token_out, probe) or 0
    return VirtualLeg(float(r_in), float(r_in) * out / probe, 1.0)


def enumerate_cycles(
    graph: PoolGraph,
    lendable: Iterable[str],
    max_hops: int = 4,
    *,
    executable_only: bool = True,
) -> Iterator[Cycle]:
    """Every simple cycle of 2..max_hops hops from each lendable token back to it: no pool
    twice, no token twice except the start."""
    for start in sorted({t.lower() for t in lendable}):
        yield from _extend(graph, start, (), {start}, max_hops, executable_only)


def _extend(
    graph: PoolGraph, start: str, path: Cycle, seen: set[str], max_hops: int, executable: bool
) -> Iterator[Cycle]:
    token = path[-1].token_out if path else start
    pools = {h.pool for h in path}
    for hop in graph.hops(token):
        if hop.pool in pools or (executable and not hop.executable):
            continue
        if hop.token_out == start:
            if path:
                yield (*path, hop)
        elif len(path) + 2 <= max_hops and hop.token_out not in seen:
            seen.add(hop.token_out)
            yield from _extend(graph, start, (*path, hop), seen, max_hops, executable)
            seen.discard(hop.token_out)


class CycleIndex:
    """Cycles by pool over a PoolGraph, with each directed hop's log marginal rate in a column.

    `screen(pools)` returns the ids of the cycles through those pools that pay at the margin;
    `cycles[i]` is the cycle itself. The index rebuilds itself when the graph's topology moved.
    """

    def __init__(
        self,
        graph: PoolGraph,
        lendable: Iterable[str],
        max_hops: int = 4,
        *,
        executable_only: bool = True,
    ) -> None:
        self.graph = graph
        self.lendable = frozenset(t.lower() for t in lendable)
        self.max_hops = max_hops
        self.executable_only = executable_only
        self.version = -1
        self.cycles: list[Cycle] = []
        self._build()

    def _build(self) -> None:
        graph = self.graph
        self.cycles = list(
            enumerate_cycles(graph, self.lendable, self.max_hops,
                             executable_only=self.executable_only)
        )  # fmt: skip
        hops = [h for address in graph.pools for h in graph.pool_hops(address)]
        self._edge = {h: k for k, h in enumerate(hops)}
        pad = len(hops)  # a hop of log rate 0 fills cycles shorter than max_hops
        self.log_rate = np.zeros(pad + 1, dtype=np.float64)
        # each hop's virtual leg (reserve in, reserve out x keep) for the vector estimate
        self.leg_in = np.ones(pad + 1, dtype=np.float64)
        self.leg_out = np.ones(pad + 1, dtype=np.float64)
        self.leg_keep = np.ones(pad + 1, dtype=np.float64)
        self.pad = pad
        self.edges: Ints = np.full((len(self.cycles), self.max_hops), pad, dtype=np.int64)
        by_pool: dict[str, list[int]] = {}
        starts = sorted({c[0].token_in for c in self.cycles})
        self.start_tokens = starts
        at = {t: k for k, t in enumerate(starts)}
        self.start: Ints = np.array([at[c[0].token_in] for c in self.cycles], dtype=np.int64)
        for i, cycle in enumerate(self.cycles):
            for j, hop in enumerate(cycle):
                self.edges[i, j] = self._edge[hop]
                by_pool.setdefault(hop.pool, []).append(i)
        self._by_pool = {p: np.array(ids, dtype=np.int64) for p, ids in by_pool.items()}
        self.version = graph.version
        self.refresh(graph.pools)

    def ensure(self) -> bool:
        """Rebuild if the graph gained or lost pools; True when it did."""
        if self.version == self.graph.version:
            return False
        self._build()
        return True

    def refresh(self, pools: Iterable[str]) -> None:
        """Recompute the log rates of every hop through these pools from the graph's values."""
        for address in pools:
            pool = self.graph.pools.get(address.lower())
            if pool is None:
                continue
            for hop in self.graph.pool_hops(address):
                leg, edge = virtual_leg(pool, hop.token_in, hop.token_out), self._edge[hop]
                rate = leg.rate
                self.log_rate[edge] = math.log(rate) if rate > 0 else -math.inf
                self.leg_in[edge], self.leg_keep[edge] = leg.reserve_in, leg.keep
                self.leg_out[edge] = leg.keep * leg.reserve_out

    def through(self, pool: str) -> Ints:
        """Ids of every cycle through `pool`."""
        return self._by_pool.get(pool.lower(), np.zeros(0, dtype=np.int64))

    def screen(self, pools: Iterable[str], threshold: float = 0.0, *, ranked: bool = True) -> Ints:
        """Ids of the cycles through any of `pools` whose log rates sum above `threshold`, best
        first (the float screen: a candidate still needs the exact check); with `ranked` off,
        in id order (a caller ranking them its own way skips the sort)."""
        ids = self._through_any([self.through(p) for p in pools])
        if not len(ids):
            return ids
        score = self.log_rate[self.edges[ids]].sum(axis=1)
        keep = score > threshold
        ids, score = ids[keep], score[keep]
        return ids[np.argsort(-score, kind="stable")] if ranked else ids

    @staticmethod
    def _through_any(parts: list[Ints]) -> Ints:
        """The union of sorted id arrays, sorted (one pool's is itself: the common case)."""
        if len(parts) <= 1:
            return parts[0] if parts else np.zeros(0, dtype=np.int64)
        ids = np.sort(np.concatenate(parts))
        return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids

    def score(self, ids: Ints) -> npt.NDArray[np.float64]:
        return self.log_rate[self.edges[ids]].sum(axis=1)

    def chains(self, ids: Ints) -> tuple[Floats, Floats, Floats]:
        """(a, b, c) of each cycle's virtual legs composed, out(x) = a x / (b + c x): the
        vector form of the strategy's per-cycle estimate (padding hops leave it as it is)."""
        a, b, c = (np.ones(len(ids)), np.ones(len(ids)), np.zeros(len(ids)))
        for edge in self.edges[ids].T:
            real = edge != self.pad
            x, y, g = self.leg_in[edge], self.leg_out[edge], self.leg_keep[edge]
            a, b, c = y * a, x * b, np.where(real, x * c + g * a, c)
        return a, b, c
