"""Tokens x pools over every pool value in state, kept in step with MarketState by its Deltas.

Nodes are tokens (lowercase addresses), edges are directed hops (pool, token in, token out):
one per ordered token pair of each pool, so a V2/V3/Solidly pool gives 2 and an n-token
Balancer or Curve pool n(n-1). The graph holds the latest value of each pool too, so
searches over it can quote without the store; `version` moves only when the topology does
(a pool added or removed), which is what indexes built on the graph (cycles) key their
caches on. Exact quoting and routing over the graph are in state/routes.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from tallyio.state.routes import POOL_TYPES, Hop, PoolValue, hop_for, pool_tokens
from tallyio.state.store import Delta, StateView

__all__ = ["PoolGraph"]


def _is_pool_key(key: Any) -> TypeGuard[tuple[str, str]]:
    return isinstance(key, tuple) and len(key) == 2 and key[0] == "pool"


def _is_vault_key(key: Any) -> bool:
    return isinstance(key, tuple) and len(key) == 2 and key[0] == "balancer_vault"


class PoolGraph:
    """Directed hops by input token over a set of pools; `update(deltas)` follows the state.

    `vault` is the Balancer vault the weighted pools trade through (one per chain on every
    Balancer V2 deployment); without one their hops are model-only (not executable).
    """

    def __init__(self, pools: Iterable[PoolValue] = (), vault: str = "") -> None:
        self.vault = vault.lower()
        self.pools: dict[str, PoolValue] = {}
        self.version = 0
        self._hops: dict[str, list[Hop]] = {}
        self._by_pool: dict[str, list[Hop]] = {}
        for pool in pools:
            self._add(pool)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[Any, Any]] | Mapping[Any, Any]) -> PoolGraph:
        """A graph over every pool value among state entries (a mapping or its items)."""
        items = list(entries.items() if isinstance(entries, Mapping) else entries)
        vaults = [str(v) for k, v in items if _is_vault_key(k)]
        pools = [v for k, v in items if _is_pool_key(k) and isinstance(v, POOL_TYPES)]
        return cls(pools, vaults[0] if vaults else "")

    # -- reading --------------------------------------------------------------------------
    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self._hops)

    def __len__(self) -> int:
        return len(self.pools)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and address.lower() in self.pools

    def pool(self, address: str) -> PoolValue:
        return self.pools[address.lower()]

    def hops(self, token: str) -> list[Hop]:
        """Every hop that takes `token` in."""
        return self._hops.get(token.lower(), [])

    def pool_hops(self, address: str) -> list[Hop]:
        """Every hop through one pool (both directions of each token pair)."""
        return self._by_pool.get(address.lower(), [])

    def hops_from(self, token: str, view: StateView | None = None) -> Iterator[tuple[Hop, Any]]:
        """(hop, pool value) for every hop taking `token` in; values from `view` when given
        (the store is the truth), else the graph's own."""
        for hop in self._hops.get(token.lower(), ()):
            pool = self.pools[hop.pool] if view is None else view.get(("pool", hop.pool))
            if isinstance(pool, POOL_TYPES):
                yield hop, pool

    def neighbours(self, token: str) -> set[str]:
        return {h.token_out for h in self.hops(token)}

    # -- following the state --------------------------------------------------------------
    def update(self, deltas: Iterable[Delta]) -> set[str]:
        """Follow MarketState.apply (reorg rewinds included): new values replace old ones, a new
        pool is added and a removed one dropped (both move `version`). Returns the addresses
        of the pools whose value changed."""
        changed: set[str] = set()
        for delta in deltas:
            if _is_vault_key(delta.key) and delta.after is not None and not self.vault:
                self.vault = str(delta.after).lower()
                self._rebuild()
                continue
            if not _is_pool_key(delta.key):
                continue
            address = delta.key[1].lower()
            if isinstance(delta.after, POOL_TYPES):
                if address in self.pools:
                    self.pools[address] = delta.after
                else:
                    self._add(delta.after)
                changed.add(address)
            elif delta.after is None and address in self.pools:
                self._remove(address)
                changed.add(address)
        return changed

    def _add(self, pool: PoolValue) -> None:
        address = pool.address.lower()
        if address in self.pools:
            raise ValueError(f"pool {pool.address} given twice")
        self.pools[address] = pool
        hops = [
            hop_for(pool, a, b, self.vault) for a, b in itertools.permutations(pool_tokens(pool), 2)
        ]
        self._by_pool[address] = hops
        for hop in hops:
            self._hops.setdefault(hop.token_in, []).append(hop)
        self.version += 1

    def _remove(self, address: str) -> None:
        del self.pools[address]
        for hop in self._by_pool.pop(address):
            self._hops[hop.token_in].remove(hop)
            if not self._hops[hop.token_in]:
                del self._hops[hop.token_in]
        self.version += 1

    def _rebuild(self) -> None:
        pools = list(self.pools.values())
        self.pools, self._hops, self._by_pool = {}, {}, {}
        for pool in pools:
            self._add(pool)
