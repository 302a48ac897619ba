"""Exact quotes over any pool kind, the best route between two tokens, and its executor actions.

`amount_out` is the one entry point the strategies quote through: it dispatches to each
protocol's exact model (V2 and forks, V3 and forks, Balancer weighted, Curve StableSwap and
Solidly, the last two model-only: the executor has no action for them yet) and answers None
where the contract would revert, so "this pool can't take it" is a value, not an exception.

`best_route` walks hop layers over a PoolGraph: after k hops it keeps, per token, the largest
amount reachable and the path that got there. Outputs only grow with inputs, so this is the
best k-hop path except where the best path to a token reuses a pool (skipped: one pool's state
moves after the first swap, and the executor would see a different price).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from tallyio.core.plan import ALL_BALANCE, Action, BalancerSwap, UniswapV2Swap, UniswapV3Swap
from tallyio.protocols import balancer_fast, uniswap_v3_fast
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.curve import StablePool
from tallyio.protocols.solidly import SolidlyPool
from tallyio.protocols.uniswap_v2 import MAX_UINT112, V2Pool, get_amount_out
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.state.pools import pool_key
from tallyio.state.store import StateView

if TYPE_CHECKING:
    from tallyio.state.graph import PoolGraph

__all__ = [
    "POOL_TYPES",
    "Hop",
    "HopQuote",
    "PoolValue",
    "Route",
    "amount_out",
    "best_route",
    "chain_quote",
    "hop_for",
    "hop_quote",
    "path_quote",
    "pool_kind",
    "pool_tokens",
    "route_actions",
]

PoolValue = V2Pool | V3Pool | WeightedPool | StablePool | SolidlyPool
POOL_TYPES = (V2Pool, V3Pool, WeightedPool, StablePool, SolidlyPool)
KINDS: dict[type, str] = {
    V2Pool: "uniswap_v2",
    V3Pool: "uniswap_v3",
    WeightedPool: "balancer",
    StablePool: "curve",
    SolidlyPool: "solidly",
}
# What the contract would revert with, as the models raise it (SwapError is a ValueError;
# Balancer, Curve and Solidly math errors are ArithmeticErrors).
_REVERTS = (ValueError, ArithmeticError, KeyError)


def pool_kind(pool: PoolValue) -> str:
    return KINDS[type(pool)]


def pool_tokens(pool: PoolValue) -> tuple[str, ...]:
    """The pool's tokens, lowercase, in the pool's own order."""
    if isinstance(pool, V2Pool | V3Pool | SolidlyPool):
        return (pool.token0.lower(), pool.token1.lower())
    if isinstance(pool, WeightedPool):
        return tuple(t.lower() for t in pool.tokens)
    return tuple(c.lower() for c in pool.coins)


def amount_out(pool: PoolValue, token_in: str, token_out: str, amount_in: int) -> int | None:
    """Exact output of paying `amount_in` of `token_in` for `token_out`; None when the pool
    would revert (no liquidity, too large, not its tokens)."""
    if amount_in <= 0:
        return None
    try:
        return _amount_out(pool, token_in, token_out, amount_in)
    except _REVERTS:
        return None


HopQuote = Callable[[int], int | None]


def hop_quote(pool: PoolValue, token_in: str, token_out: str) -> HopQuote:
    """`amount_out(pool, token_in, token_out, ·)` with the pool's side and kind found once:
    the same value for every amount (None where the pool would revert). For the hot loop of a
    sizing search, which quotes one path dozens of times on one state."""
    try:
        if isinstance(pool, V2Pool | V3Pool) and (
            pool.is_token0(token_in) == pool.is_token0(token_out)
        ):
            return _none
    except _REVERTS:
        return _none
    if isinstance(pool, V2Pool):
        reserve_in, reserve_out = pool.reserves(token_in)
        return partial(_v2_out, reserve_in, reserve_out, pool.fee_bps)
    if isinstance(pool, V3Pool):
        return partial(_fast_out, uniswap_v3_fast.amount_out, pool, token_in)
    if isinstance(pool, WeightedPool):
        return partial(_fast_out, balancer_fast.amount_out, pool, token_in, token_out)
    return partial(amount_out, pool, token_in, token_out)


def _none(amount_in: int) -> None:
    return None


def _v2_out(reserve_in: int, reserve_out: int, fee_bps: int, amount_in: int) -> int | None:
    """V2Pool.amount_out on reserves read once (the pair's uint112 cap, then getAmountOut)."""
    if amount_in <= 0 or reserve_in + amount_in > MAX_UINT112:
        return None
    try:
        return get_amount_out(amount_in, reserve_in, reserve_out, fee_bps)
    except _REVERTS:
        return None


def _fast_out(quote: Callable[..., int], *args: Any) -> int | None:
    if args[-1] <= 0:
        return None
    try:
        return quote(*args)
    except _REVERTS:
        return None


def _amount_out(pool: PoolValue, token_in: str, token_out: str, amount_in: int) -> int:
    if isinstance(pool, V2Pool | V3Pool):
        if pool.is_token0(token_in) == pool.is_token0(token_out):
            raise ValueError(f"{token_in} -> {token_out} on {pool.address}")
        if isinstance(pool, V3Pool):  # the native path: equal to the model, errors included
            return uniswap_v3_fast.amount_out(pool, token_in, amount_in)
        return pool.amount_out(token_in, amount_in)
    if isinstance(pool, WeightedPool):  # the native path: equal to the model, errors included
        return balancer_fast.amount_out(pool, token_in, token_out, amount_in)
    if isinstance(pool, SolidlyPool):
        if pool.side(token_in) == pool.side(token_out):
            raise ValueError(f"{token_in} -> {token_out} on {pool.address}")
        return pool.amount_out(amount_in, token_in)
    return pool.amount_out(pool.index(token_in), pool.index(token_out), amount_in)


@dataclass(frozen=True, slots=True)
class Hop:
    """One swap of a route: `pool` is the pool's address (lowercase; a Balancer pool's address,
    its id in `pool_id`), `kind` the pool family; `fee_bps` (V2) and `vault` (Balancer) are
    what the executor action needs besides."""

    pool: str
    token_in: str
    token_out: str
    kind: str
    fee_bps: int = 0
    pool_id: str = ""
    vault: str = ""

    @property
    def executable(self) -> bool:
        """The executor has an action for this kind (Curve and Solidly are model-only)."""
        return self.kind in _ACTIONS and (self.kind != "balancer" or bool(self.vault))


def hop_for(pool: PoolValue, token_in: str, token_out: str, vault: str = "") -> Hop:
    """The Hop that swaps `token_in` for `token_out` on `pool`."""
    kind = pool_kind(pool)
    fee_bps = pool.fee_bps if isinstance(pool, V2Pool) else 0
    pool_id = pool.pool_id.lower() if isinstance(pool, WeightedPool) else ""
    return Hop(pool.address.lower(), token_in.lower(), token_out.lower(), kind, fee_bps,
               pool_id, vault.lower() if kind == "balancer" else "")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """A path of hops, the exact amount in and what it pays out at the state it was quoted on."""

    hops: tuple[Hop, ...]
    amount_in: int
    amount_out: int

    @property
    def token_in(self) -> str:
        return self.hops[0].token_in

    @property
    def token_out(self) -> str:
        return self.hops[-1].token_out

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(h.pool for h in self.hops)


def path_quote(view: StateView, hops: Iterable[Hop]) -> HopQuote:
    """The exact output of a path at the state in `view`, as a function of the input: each pool
    read and its side found once, for quoting one path at many amounts on one state (a path
    through one pool twice, or through something not a pool, quotes None)."""
    seen: set[str] = set()
    steps: list[HopQuote] = []
    for hop in hops:
        pool = view.get(pool_key(hop.pool))
        if hop.pool in seen or not isinstance(pool, POOL_TYPES):
            return _none
        seen.add(hop.pool)
        steps.append(hop_quote(pool, hop.token_in, hop.token_out))
    return chain_quote(steps)


def chain_quote(steps: Iterable[HopQuote]) -> HopQuote:
    """The hops' quotes one after the other: None as soon as one reverts."""
    return partial(_chain, tuple(steps))


def _chain(steps: tuple[HopQuote, ...], amount_in: int) -> int | None:
    out = amount_in
    for step in steps:
        got = step(out)
        if got is None:
            return None
        out = got
    return out


def best_route(
    graph: PoolGraph,
    view: StateView,
    token_in: str,
    token_out: str,
    amount_in: int,
    max_hops: int = 3,
    exclude: frozenset[str] = frozenset(),
    *,
    executable_only: bool = True,
) -> Route | None:
    """The path of at most `max_hops` paying the most `token_out` for `amount_in` of
    `token_in`, at the state in `view`; None when no path pays anything. `exclude` names
    pools (addresses) not to use, e.g. the lending market a liquidation runs on."""
    token_in, token_out = token_in.lower(), token_out.lower()
    exclude = frozenset(e.lower() for e in exclude)
    # token -> (amount, hops) after the current number of hops
    layer: dict[str, tuple[int, tuple[Hop, ...]]] = {token_in: (amount_in, ())}
    best: tuple[int, tuple[Hop, ...]] | None = None
    for _ in range(max_hops):
        nxt: dict[str, tuple[int, tuple[Hop, ...]]] = {}
        for token, (amount, hops) in layer.items():
            used = {h.pool for h in hops} | exclude
            for hop, pool in graph.hops_from(token, view):
                if hop.pool in used or (executable_only and not hop.executable):
                    continue
                out = amount_out(pool, hop.token_in, hop.token_out, amount)
                if out and (hop.token_out not in nxt or out > nxt[hop.token_out][0]):
                    nxt[hop.token_out] = (out, (*hops, hop))
        if token_out in nxt and (best is None or nxt[token_out][0] > best[0]):
            best = nxt[token_out]
        layer = {t: v for t, v in nxt.items() if t not in (token_out, token_in)}
    if best is None:
        return None
    return Route(best[1], amount_in, best[0])


def _v2(hop: Hop, amount: int) -> Action:
    return UniswapV2Swap(hop.pool, hop.token_in, hop.token_out, amount, hop.fee_bps)


def _v3(hop: Hop, amount: int) -> Action:
    return UniswapV3Swap(hop.pool, hop.token_in, hop.token_out, amount)


def _balancer(hop: Hop, amount: int) -> Action:
    pool_id = bytes.fromhex(hop.pool_id.removeprefix("0x"))
    return BalancerSwap(hop.vault, pool_id, hop.token_in, hop.token_out, amount)


_ACTIONS: dict[str, Any] = {"uniswap_v2": _v2, "uniswap_v3": _v3, "balancer": _balancer}


def route_actions(route: Route | Iterable[Hop], amount_in: int) -> tuple[Action, ...]:
    """TallyExecutor actions for the route: the first hop spends `amount_in`, each later hop
    the executor's whole balance of its input (ALL_BALANCE), so the route chains without
    exact intermediate amounts. A hop with no executor action raises ValueError."""
    hops = route.hops if isinstance(route, Route) else tuple(route)
    actions = []
    for i, hop in enumerate(hops):
        if not hop.executable:
            raise ValueError(f"no executor action for a {hop.kind} swap on {hop.pool}")
        actions.append(_ACTIONS[hop.kind](hop, amount_in if i == 0 else ALL_BALANCE))
    return tuple(actions)
