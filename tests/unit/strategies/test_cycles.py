"""The cycle index finds exactly the cycles a brute-force enumeration finds, files them by pool,
rebuilds when pools are added, and its float screen keeps what pays at the margin."""

from __future__ import annotations

import itertools
import math
import random

from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_key
from tallyio.state.routes import amount_out, pool_tokens
from tallyio.state.store import Delta
from tallyio.strategies.cycles import CycleIndex, virtual_leg

T = ["0x" + f"{k:02x}" * 20 for k in range(1, 6)]  # five tokens, T[0] and T[1] lendable
VAULT = "0x" + "99" * 20
E18 = 10**18


def pools(seed: int) -> list[V2Pool | V3Pool | WeightedPool]:
    rng = random.Random(seed)
    out: list[V2Pool | V3Pool | WeightedPool] = []
    for k in range(9):
        a, b = sorted(rng.sample(T, 2))
        out.append(V2Pool(f"0x{k + 0x10:040x}", a, b, rng.randint(1, 9) * E18,
                          rng.randint(1, 9) * E18))  # fmt: skip
    v3 = V3Pool(f"0x{0x30:040x}", T[0], T[2], 500, 10, get_sqrt_ratio_at_tick(0), 0, E18, {})
    weights = (ONE // 2, ONE // 4, ONE // 4)
    bal = WeightedPool(f"0x{0x40:040x}" + "00" * 12, f"0x{0x40:040x}", (T[1], T[3], T[4]),
                       (E18, E18, E18), weights, (ONE,) * 3, 10**15)  # fmt: skip
    return [*out, v3, bal]


def brute_force(values: list[V2Pool | V3Pool | WeightedPool], lendable: set[str]) -> set[tuple]:
    """Every sequence of 2-4 distinct pools and tokens that closes on a lendable token."""
    found = set()
    for n in range(2, 5):
        for seq in itertools.permutations(values, n):
            for start in lendable:
                found |= _walks(seq, start)
    return found


def _walks(seq: tuple, start: str) -> set[tuple]:
    paths: list[tuple[tuple, tuple[str, ...]]] = [((), (start,))]
    for pool in seq:
        nxt = []
        for hops, tokens in paths:
            here = tokens[-1]
            if here not in pool_tokens(pool):
                continue
            for out in pool_tokens(pool):
                if out != here:
                    nxt.append(((*hops, (pool.address.lower(), here, out)), (*tokens, out)))
        paths = nxt
    return {
        hops
        for hops, tokens in paths
        if tokens[-1] == start and len(set(tokens[:-1])) == len(tokens) - 1
    }


def test_index_finds_exactly_the_brute_force_cycles() -> None:
    for seed in range(4):
        values = pools(seed)
        graph = PoolGraph(values, VAULT)
        index = CycleIndex(graph, {T[0], T[1]})
        got = {tuple((h.pool, h.token_in, h.token_out) for h in c) for c in index.cycles}
        assert got == brute_force(values, {T[0], T[1]})
        assert len(got) == len(index.cycles)  # no duplicates
        for address in graph.pools:
            through = {index.cycles[i] for i in index.through(address).tolist()}
            assert through == {c for c in index.cycles if any(h.pool == address for h in c)}


def test_index_rebuilds_when_a_pool_is_added() -> None:
    values = pools(1)
    graph = PoolGraph(values, VAULT)
    index = CycleIndex(graph, {T[0]})
    before = len(index.cycles)
    new = V2Pool("0x" + "77" * 20, T[0], T[4], E18, E18)
    graph.update([Delta(2, pool_key(new.address), None, new)])
    assert index.ensure() and not index.ensure()
    assert len(index.cycles) > before
    assert len(index.through(new.address)) > 0


def test_screen_keeps_exactly_the_cycles_that_pay_at_the_margin() -> None:
    cheap = V2Pool("0x" + "a1" * 20, T[0], T[1], 1_000 * E18, 1_000 * E18)
    dear = V2Pool("0x" + "a2" * 20, T[0], T[1], 1_000 * E18, 1_050 * E18)  # T0 5% dearer
    even = V2Pool("0x" + "a3" * 20, T[0], T[1], 1_000 * E18, 1_001 * E18)
    graph = PoolGraph([cheap, dear, even])
    index = CycleIndex(graph, {T[0], T[1]})
    ids = index.screen([cheap.address])
    kept = {tuple(h.pool for h in index.cycles[i]) for i in ids.tolist()}
    assert kept == {(dear.address, cheap.address), (cheap.address, dear.address)}
    for i in ids.tolist():  # each survivor really pays at the margin (a tiny exact swap)
        amount = 10**15
        for hop in index.cycles[i]:
            amount = amount_out(graph.pool(hop.pool), hop.token_in, hop.token_out, amount) or 0
        assert amount > 10**15
    level = dear.with_reserves(1_000 * E18, 1_000 * E18)
    graph.update([Delta(2, pool_key(dear.address), dear, level)])
    index.refresh([dear.address])
    assert len(index.screen([cheap.address, dear.address])) == 0


def test_virtual_legs_price_like_the_exact_models_at_the_margin() -> None:
    for pool in pools(2):
        a, b = pool_tokens(pool)[:2]
        leg = virtual_leg(pool, a, b)
        probe = 10**12
        exact = (amount_out(pool, a, b, probe) or 0) / probe
        assert math.isclose(leg.rate, exact, rel_tol=1e-4)
