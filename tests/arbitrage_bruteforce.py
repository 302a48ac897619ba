"""The brute-force cycle search, by hand: the optimum an arbitrage engine is held to.

Shared by the strategy's devnet test and the engine's end-to-end test. It enumerates every
cycle of 2-4 hops from any token a pool holds by itself (no pool twice, no token twice on the
way), sizes each on a 120-point log grid refined by ternary search on the exact models, and
pays the cheapest flash loan (Balancer's: no fee; Aave's 5 bps when the cycle swaps on the
vault, which is locked while it lends). The strategy's own cycle index, screen and sizing are
not used: only the exact pool models and the gas table (what a transaction costs).
"""

from __future__ import annotations

from typing import Any

from tallyio.core.opportunity import ETH, BlockContext
from tallyio.core.plan import FlashSource
from tallyio.state.routes import POOL_TYPES, amount_out, pool_kind, pool_tokens
from tallyio.strategies.arbitrage import ArbitrageConfig, GasTable
from tallyio.strategies.sizing import LoanFee

Leg = tuple[Any, str, str]  # (pool value, token in, token out)
Cycle = tuple[Leg, ...]


def cycles(pools: list[Any], lendable: set[str]) -> list[Cycle]:
    """Every simple cycle of 2-4 hops from each lendable token back to it."""
    found: list[Cycle] = []

    def walk(start: str, path: Cycle, seen: set[str]) -> None:
        here = path[-1][2] if path else start
        for pool in pools:
            if any(pool is p for p, _, _ in path) or here not in pool_tokens(pool):
                continue
            for out in pool_tokens(pool):
                if out == here:
                    continue
                hop = (pool, here, out)
                if out == start and path:
                    found.append((*path, hop))
                elif out != start and out not in seen and len(path) < 3:
                    walk(start, (*path, hop), seen | {out})

    for token in sorted(lendable):
        walk(token, (), {token})
    return found


def profit(cycle: Cycle, fee: LoanFee, x: int) -> int:
    """What borrowing `x` of the start token and running the cycle leaves after the loan fee."""
    amount: int | None = x
    for pool, a, b in cycle:
        amount = amount_out(pool, a, b, amount) if amount else None
    return -(2**255) if amount is None else amount - x - fee(x)


def best_size(cycle: Cycle, fee: LoanFee, top: int) -> int:
    """Best profit on a 120-point log grid over [1e-9 top, top], refined by ternary search
    between the grid neighbours of the best point."""
    grid = sorted({max(1, int(top * 10 ** (-9 + 9 * k / 119))) for k in range(120)})
    values = [profit(cycle, fee, x) for x in grid]
    k = max(range(len(grid)), key=values.__getitem__)
    lo, hi = grid[max(0, k - 1)], grid[min(len(grid) - 1, k + 1)]
    while hi - lo > 2:
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if profit(cycle, fee, m1) < profit(cycle, fee, m2):
            lo = m1
        else:
            hi = m2
    return max(values[k], *(profit(cycle, fee, x) for x in range(lo, hi + 1)))


def _pays_somewhere(cycle: Cycle, top: int) -> bool:
    """Profit (before any fee) is concave in the size, so a cycle that pays somewhere pays at
    some point of a coarse log grid from top / 10**7 up. Not at top / 10**9: a few base units of
    an 8- or 6-decimal token round to nothing on the way and hide every cycle through it."""
    return any(profit(cycle, LoanFee(), max(1, top // 10**k)) > 0 for k in range(8))


def _uses_vault(cycle: Cycle) -> bool:
    return any(type(p).__name__ == "WeightedPool" for p, _, _ in cycle)


def cycle_gas(cycle: Cycle, gas: GasTable | None = None) -> int:
    """Gas of the whole transaction by the gas table, with the lender the search pays for."""
    table = gas or GasTable()
    source = FlashSource.AAVE_V3 if _uses_vault(cycle) else FlashSource.BALANCER
    return table.base + table.flash[source] + sum(table.action[pool_kind(p)] for p, _, _ in cycle)


def ranked(entries: Any, config: ArbitrageConfig, block: BlockContext) -> list[tuple[int, Cycle]]:
    """Every cycle that pays before gas, with its best profit in wei (after the loan fee),
    best first."""
    pools = [v for k, v in entries.items() if k[0] == "pool" and isinstance(v, POOL_TYPES)]
    lendable = {t for p in pools for t in pool_tokens(p)}
    out = []
    for cycle in cycles(pools, lendable):
        price = block.eth_price(cycle[0][1])
        if price is None:
            continue
        top = config.max_notional_wei * price // ETH
        if not _pays_somewhere(cycle, top):
            continue
        aave = LoanFee(config.aave_premium_bps, 10_000, "half_up")
        fee = aave if _uses_vault(cycle) else LoanFee()
        out.append((best_size(cycle, fee, top) * ETH // price, cycle))
    return sorted(out, key=lambda r: r[0], reverse=True)


def brute_force(entries: Any, config: ArbitrageConfig, block: BlockContext) -> int:
    """The best cycle profit in wei after the cheapest lender's fee (before gas)."""
    return max((wei for wei, _ in ranked(entries, config, block)), default=0)


def brute_force_net(
    entries: Any, config: ArbitrageConfig, block: BlockContext, gas_price: int
) -> int:
    """The best cycle profit in wei after the loan fee and its gas at `gas_price` (0 if none
    pays for its gas)."""
    nets = [wei - cycle_gas(c, config.gas) * gas_price for wei, c in ranked(entries, config, block)]
    return max([0, *nets])
