"""An independent sale router for the tests' exhaustive liquidation search: every one-hop route
and every two-hop route through one intermediate token over the pools named, each quoted on
the exact pool models directly, written apart from state/routes.py (which the strategies
route with) so that it cross-checks it rather than repeats it."""

from __future__ import annotations

from collections.abc import Sequence

from tallyio.core.plan import Action, BalancerSwap, UniswapV2Swap, UniswapV3Swap
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.state.pools import Pool, pool_key
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_route import Router, SaleQuote


def pool_tokens(pool: Pool) -> tuple[str, ...]:
    if isinstance(pool, WeightedPool):
        return tuple(t.lower() for t in pool.tokens)
    return (pool.token0.lower(), pool.token1.lower())


def _hop_out(pool: Pool, token_in: str, token_out: str, amount_in: int) -> int | None:
    """Exact output of one hop, or None where the pool cannot take the input."""
    if amount_in <= 0:
        return None
    try:
        if isinstance(pool, WeightedPool):
            return pool.amount_out(token_in, token_out, amount_in)
        return pool.amount_out(token_in, amount_in)
    except (ArithmeticError, ValueError):
        return None  # too shallow, overflow, or a balance the math refuses


def _hop_action(pool: Pool, vault: str, token_in: str, token_out: str) -> Action:
    if isinstance(pool, V2Pool):
        return UniswapV2Swap(pool.address, token_in, token_out, fee_bps=pool.fee_bps)
    if isinstance(pool, V3Pool):
        return UniswapV3Swap(pool.address, token_in, token_out)
    return BalancerSwap(vault, bytes.fromhex(pool.pool_id[2:]), token_in, token_out)


def _touches(pool: Pool, vault: str) -> frozenset[str]:
    if isinstance(pool, WeightedPool):
        return frozenset({pool.address.lower(), vault.lower()})
    return frozenset({pool.address.lower()})


def direct_router(pools: Sequence[str], vault: str = "") -> Router:
    """The best one- or two-hop sale over `pools` (addresses of pools kept in state)."""
    addresses = tuple(p.lower() for p in pools)

    def route(
        view: StateView,
        token_in: str,
        token_out: str,
        amount_in: int,
        exclude: frozenset[str] = frozenset(),
    ) -> SaleQuote | None:
        token_in, token_out = token_in.lower(), token_out.lower()
        live = [p for a in addresses if (p := view.get(pool_key(a))) is not None]
        live = [p for p in live if _touches(p, vault).isdisjoint(exclude)]
        best: SaleQuote | None = None
        for first in live:
            tokens = pool_tokens(first)
            if token_in not in tokens:
                continue
            for mid in tokens:
                if mid == token_in:
                    continue
                out = _hop_out(first, token_in, mid, amount_in)
                hop = ((first, token_in, mid),)
                if mid == token_out:
                    best = _better(best, hop, amount_in, out, vault)
                    continue
                for second in live:
                    if second is first or not {mid, token_out} <= set(pool_tokens(second)):
                        continue
                    out2 = None if out is None else _hop_out(second, mid, token_out, out)
                    best = _better(best, (*hop, (second, mid, token_out)), amount_in, out2, vault)
        return best

    return route


def _better(
    best: SaleQuote | None,
    hops: tuple[tuple[Pool, str, str], ...],
    amount_in: int,
    out: int | None,
    vault: str,
) -> SaleQuote | None:
    if out is None or out <= 0 or (best is not None and best.amount_out >= out):
        return best
    actions = tuple(_hop_action(p, vault, a, b) for p, a, b in hops)
    touches = frozenset().union(*(_touches(p, vault) for p, _, _ in hops))
    return SaleQuote(amount_in, out, actions, touches)
