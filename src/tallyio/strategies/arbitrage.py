"""ArbitrageStrategy: cyclic DEX arbitrage through the pools a block moved, flash-loan funded.

Per batch of deltas (pure: no I/O, no clock): follow the pool graph, screen the cycles through
the changed pools with floats (strategies/cycles.py), then for each survivor choose a lender
and size the loan exactly (strategies/sizing.py), keeping what pays after the loan fee and the
gas. Lenders by cost: the Balancer vault (no fee, the cheapest call; not when the cycle swaps
on that vault, which is nonReentrant), then the cheapest V3 pool outside the cycle holding the
token (its fee), then Aave (its premium); the one leaving the most after gas wins. The plan's
min_profit is the gas cost plus the configured floor, or the share of the expected profit
the config keeps, whichever is larger: a state that moved before inclusion reverts the call
instead of landing a loss.

The engine's early pass (`early`) follows the deltas and sizes only the head of the same
best-first order, giving the best plan found there to be simulated and signed before the rest
is sized; `process` on the same deltas goes on from where it stopped (no second graph update,
nothing sized twice) and leaves out that plan and every plan sharing a key with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tallyio.core.opportunity import ETH, BlockContext, Kind, Opportunity
from tallyio.core.plan import BPS, FlashLoan, FlashSource, Plan
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.uniswap_v2 import MAX_UINT112, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import FEE_DENOMINATOR
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_key
from tallyio.state.routes import POOL_TYPES, Hop, chain_quote, hop_quote, route_actions
from tallyio.state.store import Delta, StateView
from tallyio.strategies.arbitrage_search import EarlyPass, Search, avoided, clear_of, net, top
from tallyio.strategies.cycles import CycleIndex, virtual_leg
from tallyio.strategies.sizing import LoanFee, Sizing, V2Leg, size_quote, size_v2_chain

__all__ = ["ArbitrageConfig", "ArbitrageStrategy", "GasTable", "Lender"]

Cycle = tuple[Hop, ...]
Floats = npt.NDArray[np.float64]
ARB_SIZING_REL = 10**6  # a cycle's input is sized to 1/ARB_SIZING_REL of itself (see `size`)


@dataclass(frozen=True, slots=True)
class GasTable:
    """Whole-transaction gas by part, from docs/executor.md (forge, cold accounts): the floor of
    `execute`, each action over that floor, and each flash source's extra."""

    base: int = 28_083
    action: Mapping[str, int] = field(
        default_factory=lambda: {
            "uniswap_v2": 66_792,
            "uniswap_v3": 101_056,
            "balancer": 117_432,
        }
    )
    flash: Mapping[FlashSource, int] = field(
        default_factory=lambda: {
            FlashSource.BALANCER: 62_600,
            FlashSource.UNISWAP_V3: 81_800,
            FlashSource.AAVE_V3: 79_500,
        }
    )

    def estimate(self, cycle: Cycle, source: FlashSource) -> int:
        return self.base + self.flash.get(source, 0) + sum(self.action[h.kind] for h in cycle)


@dataclass(frozen=True, slots=True)
class ArbitrageConfig:
    """Flash lenders available and the profit rule. Amounts in wei are converted to each
    profit token by the block's ETH prices."""

    balancer_vault: str = ""  # "" : no Balancer loans
    balancer_fee: int = 0  # the vault's flash-loan fee percentage, 1e18-scaled
    aave_pool: str = ""  # "" : no Aave loans
    aave_premium_bps: int = 5
    aave_tokens: frozenset[str] = frozenset()  # reserves Aave lends
    v3_flash: bool = True  # V3 pools outside the cycle may lend
    min_profit_wei: int = 0  # after gas, in wei
    keep_share_bps: int = 5_000  # min_profit keeps at least this share of the expected profit
    max_notional_wei: int = 1_000 * ETH  # the largest loan, in wei
    max_hops: int = 4
    max_candidates: int = 64  # screened cycles sized exactly per batch, best first
    max_opportunities: int = 8
    early_candidates: int = 3  # cycles `early` sizes at most before acting on the best
    early_head: int = 8  # taken from the head of the bound order, best estimate after gas
    # a cycle's exact profit is taken to be at most this times its float estimate (virtual
    # constant-product legs): the bound that stops best-first sizing; V3 ranges past the
    # active one and Balancer's curve away from spot are what the slack is for
    bound_margin: float = 2.0
    gas: GasTable = field(default_factory=GasTable)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aave_tokens", frozenset(t.lower() for t in self.aave_tokens))
        object.__setattr__(self, "balancer_vault", self.balancer_vault.lower())
        object.__setattr__(self, "aave_pool", self.aave_pool.lower())
        if not 0 <= self.keep_share_bps <= BPS or not 2 <= self.max_hops <= 4:
            raise ValueError(f"ArbitrageConfig: {self}")


@dataclass(frozen=True, slots=True)
class Lender:
    source: FlashSource
    address: str
    fee: LoanFee
    liquidity: int  # the most it can lend (an estimate from state; the loan reverts above)


class ArbitrageStrategy:
    """Strategy for cycles of pool swaps; `graph` is followed by the deltas given to process."""

    name = "arbitrage"

    def __init__(self, config: ArbitrageConfig, graph: PoolGraph) -> None:
        self.config = config
        self.graph = graph
        self.index = self._new_index()
        self._early: EarlyPass | None = None

    @classmethod
    def from_entries(
        cls, config: ArbitrageConfig, entries: Iterable[tuple[Any, Any]] | Mapping[Any, Any]
    ) -> ArbitrageStrategy:
        return cls(config, PoolGraph.from_entries(entries))

    # -- the Strategy role ----------------------------------------------------------------
    def sync(self, view: StateView) -> None:
        """Re-read every known pool from the store (after a snapshot reload)."""
        for address in list(self.graph.pools):
            pool = view.get(pool_key(address))
            if isinstance(pool, POOL_TYPES):
                self.graph.pools[address] = pool
        self.index.refresh(self.graph.pools)
        self._early = None

    def early(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """The best plan among the head of the best-first order (see `_lead`), for the
        engine to act on before `process`; the search is kept for `process` on the same
        deltas, which goes on with it."""
        changed = self._follow(deltas)
        search = self._search(changed, block) if changed else None
        acted = None
        if search is not None:
            self._lead(search, block)
            acted = search.best()
        self._early = EarlyPass(tuple(deltas), block, search, acted)
        return [] if acted is None else [acted]

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext, *, first: bool = False
    ) -> list[Opportunity]:
        early, self._early = self._early, None
        if early is None or early.block != block or early.deltas != tuple(deltas):
            changed = self._follow(deltas)
            return self.evaluate(changed, block, first=first) if changed else []
        if early.search is None:
            return []
        return self._finish(early.search, block, first, early.acted)

    def _follow(self, deltas: Sequence[Delta]) -> set[str]:
        """The graph and the index's rates after the deltas; the pools they changed."""
        changed = self.graph.update(deltas) & self.graph.pools.keys()
        if self.index.version != self.graph.version:
            self.index = self._new_index()
        if changed:
            self.index.refresh(changed)
        return changed

    def evaluate(
        self, pools: Iterable[str], block: BlockContext, *, first: bool = False,
        avoid: frozenset[str] = frozenset(),
    ) -> list[Opportunity]:  # fmt: skip
        """Opportunities from the cycles through `pools` at the graph's state, best first.

        Best-first with a bound: the screened cycles are ranked by their float estimate and
        sized exactly in that order, stopping once no later cycle's bound (`bound_margin`
        times its estimate) can beat the `max_opportunities`-th best net found. With `first`
        (the engine's path: the best plan out before the rest are sized) a cycle is also
        skipped when it shares a pool with one already found whose net its bound cannot beat:
        it would only be simulated behind that one and dropped. Cycles through a pool in
        `avoid` (one an early plan swaps on) are skipped unsized."""
        return self._finish(self._search(pools, block), block, first, None, avoid)

    def _search(self, pools: Iterable[str], block: BlockContext) -> Search:
        """The screened cycles through `pools`, ranked by bound, none sized yet."""
        ids = self.index.screen(pools, ranked=False)
        bounds = self.estimates_wei(ids, block) * self.config.bound_margin
        return Search(*top(bounds, ids, self.config.max_candidates))

    def _lead(self, search: Search, block: BlockContext) -> None:
        """Size `early_candidates` of the first `early_head` cycles by bound, in the order of
        their float estimate after the loan fee and gas (the bound ranks before both, so a
        4-hop cycle can lead a 2-hop one that nets more), fewer only once the best found nets
        `bound_margin` times the next one's estimate: the estimate is no closer than that (on
        the devnet a 3-hop V3 cycle whose pools are deeper past the active range netted 2.4x
        its estimate, and was the best). On the unit tests' markets (40 seeds, 480 pool
        moves) that gave `process`'s best every time; the first 3 by bound alone missed it 7
        times in 419, once by 20%."""
        head = []
        for k in range(min(self.config.early_head, len(search.ids))):
            if search.bounds[k] <= 0:
                break
            head.append((self._net_estimate(self.index.cycles[search.ids[k]], block), k))
        head.sort(key=lambda e: -e[0])  # stable: ties keep the bound order
        margin = self.config.bound_margin
        for estimate, k in head[: self.config.early_candidates]:
            best = search.best()
            if estimate <= 0 or (best is not None and net(best) >= estimate * margin):
                return
            opportunity = self._size(search, k, block)
            if opportunity is not None:
                search.found.append(opportunity)

    def _finish(
        self, search: Search, block: BlockContext, first: bool, acted: Opportunity | None,
        avoid: frozenset[str] = frozenset(),
    ) -> list[Opportunity]:  # fmt: skip
        """Size on to the bound (see `evaluate`); the best `max_opportunities` found, none
        sharing a key with `acted` (what `early` gave: cycles through its pools go unsized)."""
        found, cycles = list(clear_of(search.found, acted)), self.index.cycles
        avoid = avoid | avoided(acted)
        while search.at < len(search.ids):
            bound, cycle = search.bounds[search.at], cycles[search.ids[search.at]]
            if bound <= 0 or self._beaten(found, bound):
                break
            skip = search.at in search.sized or (first and _blocked(found, cycle, bound))
            if skip or (avoid and any(h.pool in avoid for h in cycle)):
                search.at += 1
                continue
            opportunity = self._size(search, search.at, block)
            search.at += 1
            if opportunity is not None and clear_of([opportunity], acted):
                found.append(opportunity)
        best = sorted(found, key=net, reverse=True)
        return (_disjoint(best) if first else best)[: self.config.max_opportunities]

    def _size(self, search: Search, k: int, block: BlockContext) -> Opportunity | None:
        search.sized.add(k)
        return self.opportunity(self.index.cycles[search.ids[k]], block)

    def _beaten(self, found: list[Opportunity], bound: float) -> bool:
        """True when `max_opportunities` found opportunities each net at least `bound`."""
        k = self.config.max_opportunities
        return len(found) >= k and sorted(map(net, found), reverse=True)[k - 1] >= bound

    # -- one cycle ------------------------------------------------------------------------
    def opportunity(self, cycle: Cycle, block: BlockContext) -> Opportunity | None:
        token = cycle[0].token_in
        eth_price = block.eth_price(token)
        if not eth_price:
            return None
        max_in = self.config.max_notional_wei * eth_price // ETH
        best: tuple[int, Lender, Sizing, int] | None = None
        for lender in self.lenders(cycle):
            sizing = self.size(cycle, lender.fee, min(max_in, lender.liquidity))
            if sizing is None:
                continue
            gas = self.config.gas.estimate(cycle, lender.source)
            net = sizing.profit - gas * block.gas_price * eth_price // ETH
            if best is None or net > best[0]:
                best = (net, lender, sizing, gas)
            if lender.source is FlashSource.BALANCER and sizing.amount_in < lender.liquidity:
                break  # fee-free, cheapest call, and not held back by its liquidity
        floor = self.config.min_profit_wei * eth_price // ETH
        if best is None or best[0] <= floor:
            return None
        return self._opportunity(cycle, block, eth_price, *best[1:])

    def size(self, cycle: Cycle, fee: LoanFee, max_in: int) -> Sizing | None:
        """The exact optimum: closed form for all-V2 cycles, else a bracketed search seeded by
        the float optimum of the cycle's virtual constant-product legs."""
        pools = [self.graph.pools[h.pool] for h in cycle]
        max_in = min(max_in, MAX_UINT112)
        if all(type(p) is V2Pool for p in pools):
            legs = []
            for hop, pool in zip(cycle, pools, strict=True):
                r_in, r_out = pool.reserves(hop.token_in)  # type: ignore[union-attr]
                legs.append(V2Leg(r_in, r_out, pool.fee_bps))  # type: ignore[union-attr]
            return size_v2_chain(legs, fee, max_in)

        pairs = zip(cycle, pools, strict=True)
        quote = chain_quote(hop_quote(p, h.token_in, h.token_out) for h, p in pairs)

        # To a millionth of the input: the profit is flat to second order there (a loss of order
        # 1e-12), ~40 quotes a cycle, not ~59; the e2e test's landed / brute-force ratios were
        # unchanged (1.00004-1.0079 on seeds 5, 17, 29). A 2x bracket (spread=2) lost seed 17's
        # 95% in an earlier session: the bracket stays 16x the float guess.
        guess = self._guess(cycle, pools, fee)
        return size_quote(quote, fee, max_in, guess=guess, rel=ARB_SIZING_REL)

    def estimate_wei(self, cycle: Cycle, block: BlockContext) -> float:
        """The float estimate of the cycle's best profit in wei (before loan fee and gas) from
        its virtual constant-product legs: out(x) = a x / (b + c x), best at (sqrt(ab) - b) / c."""
        price = block.eth_price(cycle[0].token_in)
        a, b, c = _virtual_chain(cycle, [self.graph.pools[h.pool] for h in cycle])
        if not (price and c > 0 and a > b and math.isfinite(a * b)):
            return 0.0
        x = (math.sqrt(a * b) - b) / c
        return (a * x / (b + c * x) - x) * ETH / price

    def _net_estimate(self, cycle: Cycle, block: BlockContext) -> float:
        """`estimate_wei` after the loan fee and gas, at the lender that leaves the most, as
        `opportunity` chooses (its fee moves the optimum, its liquidity caps the loan);
        -inf when nobody lends or nothing pays."""
        price = block.eth_price(cycle[0].token_in)
        if not price:
            return -math.inf
        a, b, c = _virtual_chain(cycle, [self.graph.pools[h.pool] for h in cycle])
        if not (c > 0 and math.isfinite(a * b)):
            return -math.inf
        max_in = self.config.max_notional_wei * price / ETH
        best = -math.inf
        for lender in self._lenders(cycle):
            k = 1.0 + lender.fee.numerator / lender.fee.denominator
            if a <= b * k:
                continue
            x = min((math.sqrt(a * b / k) - b) / c, float(lender.liquidity), max_in)
            gas = self.config.gas.estimate(cycle, lender.source) * block.gas_price
            best = max(best, (a * x / (b + c * x) - k * x) * ETH / price - gas)
        return best

    def estimates_wei(self, ids: npt.NDArray[np.int64], block: BlockContext) -> Floats:
        """`estimate_wei` of the index's cycles `ids`, over the index's numpy columns."""
        a, b, c = self.index.chains(ids)
        prices = [block.eth_price(t) or 0 for t in self.index.start_tokens]
        price = np.array(prices, dtype=np.float64)[self.index.start[ids]]
        with np.errstate(all="ignore"):
            ok = (price > 0) & (c > 0) & (a > b) & np.isfinite(a * b)
            x = (np.sqrt(a * b) - b) / c
            wei = (a * x / (b + c * x) - x) * ETH / price
        return np.where(ok, wei, 0.0)

    def _guess(self, cycle: Cycle, pools: list[Any], fee: LoanFee) -> int:
        a, b, c = _virtual_chain(cycle, pools)
        k = 1.0 + fee.numerator / fee.denominator
        if not (c > 0 and a > b * k and math.isfinite(a * b)):
            return 0
        return max(0, int((math.sqrt(a * b / k) - b) / c))

    # -- lenders ----------------------------------------------------------------------------
    def lenders(self, cycle: Cycle) -> list[Lender]:
        """Who can lend the cycle's token, by cost: Balancer, a V3 pool outside, then Aave."""
        return list(self._lenders(cycle))

    def _lenders(self, cycle: Cycle) -> Iterator[Lender]:
        token, config = cycle[0].token_in, self.config
        vault = config.balancer_vault
        if vault and not any(h.kind == "balancer" and h.vault == vault for h in cycle):
            held = self._vault_balance(token)
            if held:
                fee = LoanFee(config.balancer_fee, 10**18, "up")
                yield Lender(FlashSource.BALANCER, vault, fee, held)
        if config.v3_flash:
            v3 = self._v3_lender(token, {h.pool for h in cycle})
            if v3 is not None:
                yield v3
        if config.aave_pool and token in config.aave_tokens:
            fee = LoanFee(config.aave_premium_bps, BPS, "half_up")
            yield Lender(FlashSource.AAVE_V3, config.aave_pool, fee, MAX_UINT112)

    def _vault_balance(self, token: str) -> int:
        """What the vault holds of `token` as far as state shows: its weighted pools' balances
        (their current values: the graph's, not the index's build-time ones)."""
        held = 0
        for address, i in self._vault_tokens.get(token, ()):
            pool = self.graph.pools.get(address)
            if isinstance(pool, WeightedPool):
                held += pool.balances[i]
        return held

    def _v3_lender(self, token: str, excluded: set[str]) -> Lender | None:
        for address in self._v3_by_token.get(token, ()):
            pool = self.graph.pools.get(address)
            if address in excluded or not isinstance(pool, V3Pool) or not pool.liquidity:
                continue
            other = pool.token1 if pool.is_token0(token) else pool.token0
            # half the active range's virtual reserve: below what the pool holds, mostly
            held = int(virtual_leg(pool, token, other).reserve_in) // 2
            fee = LoanFee(pool.fee, FEE_DENOMINATOR, "up")
            return Lender(FlashSource.UNISWAP_V3, address, fee, held)
        return None

    def _new_index(self) -> CycleIndex:
        pools = self.graph.pools.values()
        self._weighted = [p for p in pools if isinstance(p, WeightedPool)]
        self._vault_tokens: dict[str, list[tuple[str, int]]] = {}  # token: (pool, its index)
        for w in self._weighted:
            for i, t in enumerate(w.tokens):
                self._vault_tokens.setdefault(t.lower(), []).append((w.address.lower(), i))
        v3 = sorted((p for p in pools if isinstance(p, V3Pool)), key=lambda p: p.fee)
        self._v3_by_token: dict[str, list[str]] = {}
        for pool in v3:
            for token in (pool.token0.lower(), pool.token1.lower()):
                self._v3_by_token.setdefault(token, []).append(pool.address.lower())
        lendable = set(self.config.aave_tokens) if self.config.aave_pool else set()
        if self.config.balancer_vault:
            lendable |= {t.lower() for p in self._weighted for t in p.tokens}
        if self.config.v3_flash:
            lendable |= set(self._v3_by_token)
        return CycleIndex(self.graph, lendable, self.config.max_hops)

    # -- the opportunity --------------------------------------------------------------------
    def _opportunity(
        self,
        cycle: Cycle,
        block: BlockContext,
        eth_price: int,
        lender: Lender,
        sizing: Sizing,
        gas: int,
    ) -> Opportunity:
        token = cycle[0].token_in
        gas_cost = gas * block.gas_price * eth_price // ETH
        floor = gas_cost + self.config.min_profit_wei * eth_price // ETH
        keep = sizing.profit * self.config.keep_share_bps // BPS
        plan = Plan(
            route_actions(cycle, sizing.amount_in),
            profit_token=token,
            min_profit=max(1, floor, keep),
            loan=FlashLoan(lender.source, lender.address, token, sizing.amount_in),
        )
        return Opportunity(
            strategy=self.name,
            kind=Kind.ARBITRAGE,
            chain_id=block.chain_id,
            block=block.block,
            plan=plan,
            expected_profit=sizing.profit,
            gas_estimate=gas,
            eth_price=eth_price,
            touches=frozenset({*(h.pool for h in cycle), lender.address}),
            detail={
                "pools": [h.pool for h in cycle],
                "amount_in": sizing.amount_in,
                "amount_out": sizing.amount_out,
                "lender": lender.source.name,
                "gas_cost": gas_cost,
                "net_wei": (sizing.profit - gas_cost) * ETH // eth_price,
            },
        )


def _virtual_chain(cycle: Cycle, pools: list[Any]) -> tuple[float, float, float]:
    """(a, b, c) of the cycle's virtual legs composed: out(x) = a x / (b + c x)."""
    a, b, c = 1.0, 1.0, 0.0
    for hop, pool in zip(cycle, pools, strict=True):
        leg = virtual_leg(pool, hop.token_in, hop.token_out)
        g = leg.keep
        a, b, c = g * leg.reserve_out * a, leg.reserve_in * b, leg.reserve_in * c + g * a
    return a, b, c


def _blocked(found: list[Opportunity], cycle: Cycle, bound: float) -> bool:
    """A found opportunity shares a pool with `cycle` and nets at least its bound."""
    pools = {h.pool for h in cycle}
    return any(net(o) >= bound and not pools.isdisjoint(o.detail["pools"]) for o in found)


def _disjoint(ranked: list[Opportunity]) -> list[Opportunity]:
    """Greedily, best net first, the opportunities sharing no pool with a better one."""
    taken: list[Opportunity] = []
    used: set[str] = set()
    for o in ranked:
        if used.isdisjoint(o.detail["pools"]):
            taken.append(o)
            used.update(o.detail["pools"])
    return taken
