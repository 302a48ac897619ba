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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
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

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext, *, first: bool = False
    ) -> list[Opportunity]:
        changed = self.graph.update(deltas) & self.graph.pools.keys()
        if self.index.version != self.graph.version:
            self.index = self._new_index()
        if not changed:
            return []
        self.index.refresh(changed)
        return self.evaluate(changed, block, first=first)

    def evaluate(
        self, pools: Iterable[str], block: BlockContext, *, first: bool = False
    ) -> list[Opportunity]:
        """Opportunities from the cycles through `pools` at the graph's state, best first.

        Best-first with a bound: the screened cycles are ranked by their float estimate and
        sized exactly in that order, stopping once no later cycle's bound (`bound_margin`
        times its estimate) can beat the `max_opportunities`-th best net found. With `first`
        (the engine's path: the best plan out before the rest are sized) a cycle is also
        skipped when it shares a pool with one already found whose net its bound cannot beat:
        it would only be simulated behind that one and dropped."""
        ids = self.index.screen(pools)
        bounds = self.estimates_wei(ids, block) * self.config.bound_margin
        order = np.argsort(-bounds, kind="stable")[: self.config.max_candidates]
        found: list[Opportunity] = []
        for bound, i in zip(bounds[order].tolist(), ids[order].tolist(), strict=True):
            if bound <= 0 or self._beaten(found, bound):
                break
            cycle = self.index.cycles[i]
            if first and _blocked(found, cycle, bound):
                continue
            opportunity = self.opportunity(cycle, block)
            if opportunity is not None:
                found.append(opportunity)
        best = sorted(found, key=_net, reverse=True)
        return (_disjoint(best) if first else best)[: self.config.max_opportunities]

    def _beaten(self, found: list[Opportunity], bound: float) -> bool:
        """True when `max_opportunities` found opportunities each net at least `bound`."""
        k = self.config.max_opportunities
        return len(found) >= k and sorted(map(_net, found), reverse=True)[k - 1] >= bound

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
        token, config, found = cycle[0].token_in, self.config, []
        vault = config.balancer_vault
        if vault and not any(h.kind == "balancer" and h.vault == vault for h in cycle):
            held = self._vault_balance(token)
            if held:
                fee = LoanFee(config.balancer_fee, 10**18, "up")
                found.append(Lender(FlashSource.BALANCER, vault, fee, held))
        if config.v3_flash:
            v3 = self._v3_lender(token, {h.pool for h in cycle})
            if v3 is not None:
                found.append(v3)
        if config.aave_pool and token in config.aave_tokens:
            fee = LoanFee(config.aave_premium_bps, BPS, "half_up")
            found.append(Lender(FlashSource.AAVE_V3, config.aave_pool, fee, MAX_UINT112))
        return found

    def _vault_balance(self, token: str) -> int:
        """What the vault holds of `token` as far as state shows: its weighted pools' balances."""
        return sum(
            p.balances[p.index(token)]
            for p in self._weighted
            if token in (t.lower() for t in p.tokens)
        )

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


def _net(opportunity: Opportunity) -> int:
    return int(opportunity.detail["net_wei"])


def _blocked(found: list[Opportunity], cycle: Cycle, bound: float) -> bool:
    """A found opportunity shares a pool with `cycle` and nets at least its bound."""
    pools = {h.pool for h in cycle}
    return any(_net(o) >= bound and not pools.isdisjoint(o.detail["pools"]) for o in found)


def _disjoint(ranked: list[Opportunity]) -> list[Opportunity]:
    """Greedily, best net first, the opportunities sharing no pool with a better one."""
    taken: list[Opportunity] = []
    used: set[str] = set()
    for o in ranked:
        if used.isdisjoint(o.detail["pools"]):
            taken.append(o)
            used.update(o.detail["pools"])
    return taken
