"""Pool state by key, and the pure handlers that move it on each pool event.

Keys (addresses lowercased, so a log's emitter finds its pool whatever the casing):
  ("pool", address)           -> V2Pool | V3Pool | WeightedPool
  ("v3_gross", address)       -> {initialized tick: liquidityGross} of a V3 pool
  ("balancer_vault", address) -> the vault's address: Balancer events count only from it

A handler reads the log and the current values and returns the new ones; a log from an
emitter (or, for the vault, a pool id) that is not in state changes nothing. V2 Sync carries
the reserves and V3 Swap the price, tick and active liquidity, so those are set, not
recomputed. V3 Mint and Burn do what UniswapV3Pool._modifyPosition does to the ticks:
liquidityGross and liquidityNet at both ends (a tick whose gross reaches 0 is cleared) and the
active liquidity when tickLower <= tick < tickUpper. The vault moves a pool's balances by a
swap's amounts, and on joins and exits by `delta - protocolFeeAmount` per token; a weighted
pool's SwapFeePercentageChanged sets its fee. An asset manager's PoolBalanceManaged moves the
token's total balance (cash + managed, what the pool's math reads) by cashDelta + managedDelta:
zero for WITHDRAW / DEPOSIT, the managed balance's change for UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.events import (
    BALANCER_POOL_BALANCE_CHANGED,
    BALANCER_POOL_BALANCE_MANAGED,
    BALANCER_SWAP,
    BALANCER_SWAP_FEE_CHANGED,
    V2_SYNC,
    V3_BURN,
    V3_MINT,
    V3_SWAP,
    decode_balancer_swap,
    decode_pool_balance_changed,
    decode_pool_balance_managed,
    decode_swap_fee_changed,
    decode_v2_sync,
    decode_v3_burn,
    decode_v3_mint,
    decode_v3_swap,
)
from tallyio.protocols.uniswap_v2 import PoolStateError, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MAX_UINT128,
    MIN_SQRT_RATIO,
    MIN_TICK,
)
from tallyio.state.store import Handler, StateInvariantError, StateKey, StateView

__all__ = [
    "Pool",
    "balancer_vault_key",
    "liquidity_gross_key",
    "modify_position",
    "on_balancer_swap",
    "on_pool_balance_changed",
    "on_pool_balance_managed",
    "on_swap_fee_changed",
    "on_v2_sync",
    "on_v3_burn",
    "on_v3_mint",
    "on_v3_swap",
    "pool_handlers",
    "pool_key",
    "with_swap_state",
]

Pool = V2Pool | V3Pool | WeightedPool
Changes = list[tuple[StateKey, Any]]


def pool_key(address: str) -> tuple[str, str]:
    return ("pool", address.lower())


def liquidity_gross_key(address: str) -> tuple[str, str]:
    return ("v3_gross", address.lower())


def balancer_vault_key(address: str) -> tuple[str, str]:
    return ("balancer_vault", address.lower())


# -- Uniswap V2 ----------------------------------------------------------------------------
def on_v2_sync(log: Log, view: StateView) -> Changes:
    key = pool_key(log.address)
    pool = view.get(key)
    if not isinstance(pool, V2Pool):
        return []
    sync = decode_v2_sync(log)
    return [(key, pool.with_reserves(sync.reserve0, sync.reserve1))]


# -- Uniswap V3 ----------------------------------------------------------------------------
def on_v3_swap(log: Log, view: StateView) -> Changes:
    key = pool_key(log.address)
    pool = view.get(key)
    if not isinstance(pool, V3Pool):
        return []
    swap = decode_v3_swap(log)
    return [(key, with_swap_state(pool, swap.sqrt_price_x96, swap.tick, swap.liquidity))]


_V3_SLOTS = ("address", "token0", "token1", "fee", "tick_spacing", "sqrt_price_x96", "tick",
             "liquidity", "ticks", "initialized")  # fmt: skip
_SWAP_FIELDS = {"sqrt_price_x96", "tick", "liquidity"}
_set = object.__setattr__


def with_swap_state(pool: V3Pool, sqrt_price_x96: int, tick: int, liquidity: int) -> V3Pool:
    """V3Pool.with_state without re-checking and re-sorting the ticks a swap left unchanged.

    with_state rebuilds the pool, so it costs O(ticks log ticks) (~80 us at 300 ticks); this
    copies the fields into a new frozen V3Pool and checks only the three that change, ~3 us.
    Used only while V3Pool has exactly the fields it knows (else with_state, as for a subclass).
    """
    if type(pool) is not V3Pool or V3Pool.__slots__ != _V3_SLOTS:
        return pool.with_state(sqrt_price_x96, tick, liquidity)
    if not (
        MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO
        and MIN_TICK <= tick <= MAX_TICK
        and 0 <= liquidity <= MAX_UINT128
    ):
        raise PoolStateError(
            f"V3 pool {pool.address}: price {sqrt_price_x96} tick {tick} liquidity {liquidity}"
        )
    new = object.__new__(V3Pool)
    for name in _V3_SLOTS:
        if name not in _SWAP_FIELDS:
            _set(new, name, getattr(pool, name))
    _set(new, "sqrt_price_x96", sqrt_price_x96)
    _set(new, "tick", tick)
    _set(new, "liquidity", liquidity)
    return new


def on_v3_mint(log: Log, view: StateView) -> Changes:
    if not isinstance(view.get(pool_key(log.address)), V3Pool):
        return []
    mint = decode_v3_mint(log)
    return _position_changes(log.address, view, mint.tick_lower, mint.tick_upper, mint.amount)


def on_v3_burn(log: Log, view: StateView) -> Changes:
    if not isinstance(view.get(pool_key(log.address)), V3Pool):
        return []
    burn = decode_v3_burn(log)
    return _position_changes(log.address, view, burn.tick_lower, burn.tick_upper, -burn.amount)


def _position_changes(
    address: str, view: StateView, lower: int, upper: int, liquidity_delta: int
) -> Changes:
    if liquidity_delta == 0:  # a poke (burn of 0 before collect): the ticks stay as they are
        return []
    key, gross_key = pool_key(address), liquidity_gross_key(address)
    pool, gross = modify_position(
        view.get(key), view.get(gross_key, {}), lower, upper, liquidity_delta
    )
    return [(key, pool), (gross_key, gross)]


def modify_position(
    pool: V3Pool, gross: Mapping[int, int], lower: int, upper: int, liquidity_delta: int
) -> tuple[V3Pool, Mapping[int, int]]:
    """UniswapV3Pool._modifyPosition's effect on the ticks and the active liquidity.

    Returns the new pool and the new {tick: liquidityGross}; both ends flip in or out of the
    initialized set as their gross leaves or reaches 0.
    """
    if not lower < upper:
        raise StateInvariantError(f"V3 pool {pool.address}: position [{lower}, {upper})")
    nets, grosses = dict(pool.ticks), dict(gross)
    for tick, net_delta in ((lower, liquidity_delta), (upper, -liquidity_delta)):
        after = grosses.get(tick, 0) + liquidity_delta
        net = nets.get(tick, 0) + net_delta
        if after < 0 or (tick in nets) != (tick in grosses):
            raise StateInvariantError(
                f"V3 pool {pool.address}: tick {tick} gross {grosses.get(tick)} "
                f"net {nets.get(tick)} cannot take {liquidity_delta:+}"
            )
        if after == 0:
            if net != 0:
                raise StateInvariantError(f"V3 pool {pool.address}: tick {tick} net {net} at 0")
            del grosses[tick], nets[tick]
        else:
            grosses[tick], nets[tick] = after, net
    liquidity = pool.liquidity
    if lower <= pool.tick < upper:
        liquidity += liquidity_delta
    return replace(pool, ticks=nets, liquidity=liquidity), MappingProxyType(grosses)


# -- Balancer V2 ---------------------------------------------------------------------------
def _weighted_pool(view: StateView, pool_id: str) -> WeightedPool | None:
    """The pool a vault event names, if it is in state."""
    pool = view.get(pool_key(pool_id[:42]))  # a pool id starts with the pool's address
    if not isinstance(pool, WeightedPool) or pool.pool_id.lower() != pool_id:
        return None
    return pool


def on_balancer_swap(log: Log, view: StateView) -> Changes:
    if balancer_vault_key(log.address) not in view:
        return []
    swap = decode_balancer_swap(log)
    moves = ((swap.token_in, swap.amount_in), (swap.token_out, -swap.amount_out))
    return _balances_moved(view, swap.pool_id, moves)


def on_pool_balance_changed(log: Log, view: StateView) -> Changes:
    if balancer_vault_key(log.address) not in view:
        return []
    change = decode_pool_balance_changed(log)
    net = [d - f for d, f in zip(change.deltas, change.protocol_fee_amounts, strict=True)]
    return _balances_moved(view, change.pool_id, zip(change.tokens, net, strict=True))


def on_pool_balance_managed(log: Log, view: StateView) -> Changes:
    """Vault.managePoolBalance: the token's total balance moves by cashDelta + managedDelta."""
    if balancer_vault_key(log.address) not in view:
        return []
    e = decode_pool_balance_managed(log)
    return _balances_moved(view, e.pool_id, ((e.token, e.cash_delta + e.managed_delta),))


def _balances_moved(view: StateView, pool_id: str, moves: Iterable[tuple[str, int]]) -> Changes:
    """A weighted pool's balances after the vault moved `moves` (token, delta) in or out."""
    pool = _weighted_pool(view, pool_id)
    if pool is None:
        return []
    balances = list(pool.balances)
    for token, delta in moves:
        balances[pool.index(token)] += delta
    return [(pool_key(pool.address), _with_balances(pool, balances))]


def on_swap_fee_changed(log: Log, view: StateView) -> Changes:
    """A weighted pool's owner set a new swap fee (the pool emits it, not the vault)."""
    key = pool_key(log.address)
    pool = view.get(key)
    if not isinstance(pool, WeightedPool):
        return []
    return [(key, replace(pool, swap_fee=decode_swap_fee_changed(log)))]


def _with_balances(pool: WeightedPool, balances: list[int]) -> WeightedPool:
    if min(balances) < 0:
        raise StateInvariantError(f"Balancer pool {pool.pool_id}: balances {balances}")
    return replace(pool, balances=tuple(balances))


def pool_handlers() -> dict[str, Handler]:
    """topic0 -> handler for every pool event, to plug into MarketState."""
    return {
        V2_SYNC: on_v2_sync,
        V3_SWAP: on_v3_swap,
        V3_MINT: on_v3_mint,
        V3_BURN: on_v3_burn,
        BALANCER_SWAP: on_balancer_swap,
        BALANCER_POOL_BALANCE_CHANGED: on_pool_balance_changed,
        BALANCER_SWAP_FEE_CHANGED: on_swap_fee_changed,
        BALANCER_POOL_BALANCE_MANAGED: on_pool_balance_managed,
    }
