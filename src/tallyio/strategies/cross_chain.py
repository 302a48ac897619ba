"""Cross-chain arbitrage in inventory mode: the same pair on two chains at different prices.

No bridge in the hot path. The executor on each chain trades from what it already holds: on the
cheap chain it pays `x` quote for `b` base, on the dear chain it sells the same `b` base for
`q` quote. Base is unchanged across the two chains together and quote grew by `q - x`, so the
pair's outcome is exact in one unit (quote) with no price assumed. What moved is left for a
rebalancer: `b` base from the cheap chain to the dear one and `x` quote back (a `Rebalance`).

`x` maximises `out_dear(out_cheap(x)) - x` on the exact pool models: golden-section steps on
the integers, then every integer of the last bracket, bounded by the quote the cheap chain's
executor may spend and by the base the dear chain's may (inventory and exposure). It trades
only when that beats both legs' gas, each priced on its own chain.

Each leg is one Plan with FlashSource.NONE. A one-leg swap has no profit in a single token, so
the leg's profit token is its output token: the executor's balance of it grows by exactly the
swap's output, and `min_profit` (the contract's check) is that output less `slippage_bps`, an
amount-out floor. `expected_profit` of a leg's Opportunity is therefore its output, not a
profit; the pair's profit is in `CrossTrade.profit` and in each leg's `detail`.

Pure: views, blocks and budgets in, values out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tallyio.core.opportunity import ETH, BlockContext, Kind, Opportunity
from tallyio.core.plan import Plan
from tallyio.state.pools import pool_key
from tallyio.state.routes import POOL_TYPES, PoolValue, amount_out, hop_for, route_actions
from tallyio.state.store import StateView

BPS = 10_000
STRATEGY = "cross_chain"
SCAN = 256  # the last golden bracket is scanned integer by integer


# -- configuration ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Venue:
    """The pair on one chain: its pool and the two tokens' addresses there."""

    chain_id: int
    pool: str
    base: str
    quote: str
    weth: str = ""  # the chain's WETH, to price gas when the block has no oracle price

    def __post_init__(self) -> None:
        for name in ("pool", "base", "quote", "weth"):
            object.__setattr__(self, name, getattr(self, name).lower())


@dataclass(frozen=True, slots=True)
class CrossPair:
    name: str  # "WETH/USDC": base/quote
    venues: tuple[Venue, Venue]

    def __post_init__(self) -> None:
        if self.venues[0].chain_id == self.venues[1].chain_id:
            raise ValueError(f"{self.name}: both venues on chain {self.venues[0].chain_id}")

    @property
    def symbols(self) -> tuple[str, str]:
        base, quote = self.name.split("/")
        return base, quote


@dataclass(frozen=True, slots=True)
class CrossChainConfig:
    pairs: tuple[CrossPair, ...]
    gas_per_leg: int = 150_000  # one swap through TallyExecutor, with margin
    min_net: int = 0  # quote units the pair must clear after both legs' gas
    slippage_bps: int = 0  # each leg's amount-out floor below the model's output


@dataclass(frozen=True, slots=True)
class ChainSide:
    """What the strategy sees of one chain: its state, its block, and the budget of each
    token (lowercase address) the executor there may spend (held, within exposure limits)."""

    view: StateView
    block: BlockContext
    spendable: Mapping[str, int] = field(default_factory=dict)


# -- what it emits ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Move:
    """`amount` of `symbol` to carry from one chain to another."""

    symbol: str
    from_chain: int
    to_chain: int
    amount: int


@dataclass(frozen=True, slots=True)
class Rebalance:
    """What a pair's trades changed per (chain, symbol), the transfers that restore each chain's
    inventory, and what is left once they are made: per symbol, the chains' summed change.
    A pair that landed both legs nets zero base (hedged); one leg alone leaves a position."""

    pair: str
    imbalance: tuple[tuple[int, str, int], ...]  # (chain id, symbol, change in base units)
    moves: tuple[Move, ...]
    net: tuple[tuple[str, int], ...]  # (symbol, summed change)

    def net_of(self, symbol: str) -> int:
        return dict(self.net).get(symbol, 0)

    @property
    def hedged(self) -> bool:
        """Only the quote token moved on balance (the base is back where it was overall)."""
        return sum(1 for _, n in self.net if n != 0) <= 1

    def as_dict(self) -> dict[str, object]:
        return {
            "pair": self.pair,
            "imbalance": [{"chain_id": c, "symbol": s, "change": str(v)}
                          for c, s, v in self.imbalance],
            "moves": [{"symbol": m.symbol, "from_chain": m.from_chain, "to_chain": m.to_chain,
                       "amount": str(m.amount)} for m in self.moves],
            "net": {s: str(v) for s, v in self.net},
            "hedged": self.hedged,
        }  # fmt: skip


def rebalance(pair: str, changes: Mapping[tuple[int, str], int]) -> Rebalance:
    """The Rebalance for `changes` ((chain id, symbol) -> base units gained, negative if lost):
    each symbol moves from the chains that gained it to those that lost it, as much as both
    sides allow; the rest is the symbol's net."""
    imbalance = tuple(sorted((c, s, v) for (c, s), v in changes.items() if v != 0))
    moves: list[Move] = []
    net: list[tuple[str, int]] = []
    for symbol in sorted({s for _, s, _ in imbalance}):
        gains = [[c, v] for c, s, v in imbalance if s == symbol and v > 0]
        losses = [[c, -v] for c, s, v in imbalance if s == symbol and v < 0]
        for loss in losses:
            for gain in gains:
                amount = min(gain[1], loss[1])
                if amount > 0:
                    moves.append(Move(symbol, gain[0], loss[0], amount))
                    gain[1] -= amount
                    loss[1] -= amount
        net.append((symbol, sum(v for _, s, v in imbalance if s == symbol)))
    return Rebalance(pair, imbalance, tuple(moves), tuple(net))


@dataclass(frozen=True, slots=True)
class CrossTrade:
    """Both legs of one cross-chain arbitrage and the imbalance they leave if both land."""

    pair: str
    buy: Opportunity  # cheap chain: quote in, base out
    sell: Opportunity  # dear chain: base in, quote out
    quote_in: int  # x
    base_out: int  # b: bought on the cheap chain, sold on the dear one
    quote_out: int  # q
    gas_cost: int  # both legs' gas, quote units
    planned: Rebalance

    @property
    def profit(self) -> int:
        """Quote gained by the two chains together, before gas."""
        return self.quote_out - self.quote_in

    @property
    def net(self) -> int:
        return self.profit - self.gas_cost


# -- sizing -------------------------------------------------------------------------------------
def maximize(f: Callable[[int], int | None], lo: int, hi: int, scan: int = SCAN) -> int | None:
    """The smallest integer in [lo, hi] where `f` is largest (None counts as minus infinity):
    golden-section steps while the bracket is wider than `scan`, then every integer in it.
    Exact for a concave `f`; for a concave one floored to integers, exact once `scan` covers
    the stretch where it is within rounding of its top (always so on small pools)."""
    if hi < lo:
        return None
    seen: dict[int, int | None] = {}

    def at(x: int) -> int:
        if x not in seen:
            seen[x] = f(x)
        v = seen[x]
        return v if v is not None else -(2**255)

    a, b = lo, hi
    while b - a > scan:
        third = (b - a) * 382 // 1000
        m1, m2 = a + third, b - third
        if at(m1) >= at(m2):
            b = m2
        else:
            a = m1
    best = max(range(a, b + 1), key=lambda x: (at(x), -x))
    return best if seen[best] is not None else None


def largest_input(out: Callable[[int], int | None], cap: int, limit: int) -> int:
    """The largest x in [0, limit] with out(x) <= cap (out grows with x; None: too large)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        value = out(mid)
        if value is not None and value <= cap:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- the strategy -------------------------------------------------------------------------------
class CrossChainArbitrage:
    """For each configured pair, the better direction's trade when it clears both legs' gas."""

    name = STRATEGY

    def __init__(self, config: CrossChainConfig) -> None:
        self.config = config

    def process(self, sides: Mapping[int, ChainSide]) -> list[CrossTrade]:
        trades: list[CrossTrade] = []
        for pair in self.config.pairs:
            a, b = pair.venues
            if a.chain_id not in sides or b.chain_id not in sides:
                continue
            found = [self.size(pair, c, d, sides[c.chain_id], sides[d.chain_id])
                     for c, d in ((a, b), (b, a))]  # fmt: skip
            best = max((t for t in found if t is not None), key=lambda t: t.net, default=None)
            if best is not None:
                trades.append(best)
        return sorted(trades, key=lambda t: -t.net)

    def size(
        self, pair: CrossPair, cheap: Venue, dear: Venue, c: ChainSide, d: ChainSide
    ) -> CrossTrade | None:
        """Buy base on `cheap`, sell it on `dear`: the best-sized trade, or None."""
        pc, pd = c.view.get(pool_key(cheap.pool)), d.view.get(pool_key(dear.pool))
        if not isinstance(pc, POOL_TYPES) or not isinstance(pd, POOL_TYPES):
            return None

        def bought(x: int) -> int | None:
            return amount_out(pc, cheap.quote, cheap.base, x)

        def profit(x: int) -> int | None:
            got = bought(x)
            back = amount_out(pd, dear.base, dear.quote, got) if got else None
            return None if back is None else back - x

        budget = c.spendable.get(cheap.quote, 0)
        hi = largest_input(bought, d.spendable.get(dear.base, 0), budget)
        x = maximize(profit, 1, hi)
        gas = self._gas(cheap, pc, c.block, cheap.quote), self._gas(dear, pd, d.block, dear.quote)
        if x is None or gas[0] is None or gas[1] is None:
            return None
        gained = profit(x) or 0
        if gained - gas[0] - gas[1] <= self.config.min_net:
            return None  # "no opportunity" is a value
        b = bought(x) or 0
        return self._trade(pair, (cheap, pc, c), (dear, pd, d), x, b, x + gained, gas[0] + gas[1])

    def _gas(self, venue: Venue, pool: PoolValue, block: BlockContext, token: str) -> int | None:
        price = eth_price(venue, pool, block, token)
        return None if price is None else self.config.gas_per_leg * block.gas_price * price // ETH

    def _trade(
        self, pair: CrossPair, cheap: tuple[Venue, PoolValue, ChainSide],
        dear: tuple[Venue, PoolValue, ChainSide], x: int, b: int, q: int, gas: int,
    ) -> CrossTrade | None:  # fmt: skip
        base, quote = pair.symbols
        buy = self._leg(pair, cheap, (cheap[0].quote, cheap[0].base), x, b, "buy")
        sell = self._leg(pair, dear, (dear[0].base, dear[0].quote), b, q, "sell")
        if buy is None or sell is None:
            return None
        ca, da = cheap[0].chain_id, dear[0].chain_id
        planned = rebalance(pair.name, {(ca, quote): -x, (ca, base): b, (da, base): -b,
                                        (da, quote): q})  # fmt: skip
        return CrossTrade(pair.name, buy, sell, x, b, q, gas, planned)

    def _leg(
        self, pair: CrossPair, side: tuple[Venue, PoolValue, ChainSide], tokens: tuple[str, str],
        spend: int, out: int, leg: str,
    ) -> Opportunity | None:  # fmt: skip
        venue, pool, chain = side
        token_in, token_out = tokens
        price = eth_price(venue, pool, chain.block, token_out)
        if price is None or price <= 0 or out <= 0:
            return None
        floor = out * (BPS - self.config.slippage_bps) // BPS
        plan = Plan(route_actions([hop_for(pool, token_in, token_out)], spend), token_out, floor)
        detail = {"pair": pair.name, "leg": leg, "amount_in": spend, "amount_out": out,
                  "token_in": token_in, "token_out": token_out, "pool": venue.pool}  # fmt: skip
        return Opportunity(
            STRATEGY, Kind.ARBITRAGE, venue.chain_id, chain.block.block, plan, out,
            self.config.gas_per_leg, price, frozenset({venue.pool, f"inventory:{token_in}"}),
            detail=detail,
        )  # fmt: skip


def eth_price(venue: Venue, pool: PoolValue, block: BlockContext, token: str) -> int | None:
    """`token` base units worth one ETH: the block's oracle price, else 1:1 for WETH, else the
    pool's own quote of a thousandth of an ETH when its other token is WETH (screening only:
    it prices gas and nothing else)."""
    known = block.eth_price(token)
    if known:
        return known
    if token == venue.weth:
        return ETH
    if venue.weth in (venue.base, venue.quote):
        out = amount_out(pool, venue.weth, token, ETH // 1000)
        return out * 1000 if out else None
    return None


def leg_changes(
    trade: CrossTrade, landed: Sequence[tuple[Opportunity, int | None]]
) -> dict[tuple[int, str], int]:
    """Per (chain, symbol), what legs actually did: (leg, realised output or None when it did
    not land). A landed leg spent its whole input; one that did not spent nothing."""
    base, quote = trade.pair.split("/")
    changes: dict[tuple[int, str], int] = {}
    for opp, realised in landed:
        if realised is None:
            continue
        spent, got = (quote, base) if opp is trade.buy else (base, quote)
        spend = int(opp.detail["amount_in"])
        changes[opp.chain_id, spent] = changes.get((opp.chain_id, spent), 0) - spend
        changes[opp.chain_id, got] = changes.get((opp.chain_id, got), 0) + realised
    return changes
