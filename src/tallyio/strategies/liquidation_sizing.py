"""Sizing a liquidation: config, gas, the cheapest flash loan, and the amount search.

Profit of repaying `x` of the debt asset is `sale(seized(x)) - x - flash_fee(x)`, with
`seized` linear in `x` (floors aside) up to the close factor or the collateral balance, and
the sale concave in its input: concave in `x`, flat where the collateral runs out. `maximize`
checks a coarse grid first (so a non-unimodal curve is seen at that resolution), then narrows
the bracket around the best grid point by golden-section steps on integers, and returns the
best amount it evaluated (ties to the smaller amount: less capital for the same profit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from tallyio.core.opportunity import BlockContext
from tallyio.core.plan import Action, FlashLoan, FlashSource, UniswapV2Swap, UniswapV3Swap
from tallyio.protocols.aave_v3_math import percent_mul
from tallyio.protocols.balancer import WeightedPool, flash_loan_fee
from tallyio.state.pools import pool_key
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_route import Router, SaleQuote

ETH: Final = 10**18
BPS: Final = 10_000

__all__ = [
    "Candidate",
    "FlashChoice",
    "GasModel",
    "LiquidationConfig",
    "balancer_liquidity",
    "cheapest_loan",
    "gas_cost",
    "maximize",
]


def _default_hops() -> Mapping[type, int]:
    return MappingProxyType({UniswapV2Swap: 67_000, UniswapV3Swap: 101_000})


@dataclass(frozen=True, slots=True)
class GasModel:
    """Whole-transaction gas by part, from the executor's measured runs (docs/executor.md):
    floor 28.1k; Aave liquidation 456.6k and Venus liquidation + redeem 686.5k alone (with the
    first-use approval, less the floor); per swap hop (V2 94.9k, V3 129.1k, Balancer 145.5k,
    less the floor); per flash source (Balancer +60.7k, V3 +64k, Aave +79.5k). Aave + V2 sale
    with a Balancer loan sums to 586k against 594.6k measured: `margin_bps` covers that."""

    base: int = 28_100
    aave_liquidation: int = 428_500
    venus_liquidation: int = 658_500
    hops: Mapping[type, int] = field(default_factory=_default_hops)
    balancer_hop: int = 117_500
    flash: Mapping[FlashSource, int] = field(
        default_factory=lambda: MappingProxyType(
            {
                FlashSource.NONE: 0,
                FlashSource.BALANCER: 60_700,
                FlashSource.UNISWAP_V3: 64_000,
                FlashSource.AAVE_V3: 79_500,
            }
        )
    )
    margin_bps: int = 500

    def estimate(self, liquidation: int, sale: tuple[Action, ...], source: FlashSource) -> int:
        hops = sum(self.hops.get(type(a), self.balancer_hop) for a in sale)
        raw = self.base + liquidation + hops + self.flash[source]
        return raw * (BPS + self.margin_bps) // BPS


@dataclass(frozen=True, slots=True)
class LiquidationConfig:
    """What a liquidation strategy needs besides the market: how to sell, where to borrow.

    `pools` are the pool addresses in state the Balancer vault's liquidity is summed over
    (and the tests' independent router routes over); `aave_flash_pool` lends by flashLoanSimple at
    `aave_flash_premium_bps`. `min_profit_bps` of the expected profit (never less than the gas
    cost) is the executor's revert floor. `grid` and `tolerance_bps` shape the amount search.
    """

    router: Router
    pools: tuple[str, ...] = ()
    balancer_vault: str = ""
    balancer_flash_fee: int = 0  # 1e18-scaled (ProtocolFeesCollector.getFlashLoanFeePercentage)
    aave_flash_pool: str = ""
    aave_flash_premium_bps: int = 5
    gas: GasModel = field(default_factory=GasModel)
    min_profit_bps: int = 8_000
    grid: int = 8  # 9 points see the flash-source and route switches; 16 bought no profit
    tolerance_bps: int = 10  # the optimum is flat (concave) or at a kept edge: 10 bps of x
    venus_close_factor: int = 5 * 10**17  # Comptroller.closeFactorMantissa (not in state)


@dataclass(frozen=True, slots=True)
class FlashChoice:
    loan: FlashLoan
    fee: int  # debt-asset units owed on top of the loan


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sized liquidation: everything the Plan and the Opportunity need."""

    debt_asset: str  # the token repaid and borrowed (an underlying for Venus)
    collateral_asset: str  # the token received after the liquidation (redeemed for Venus)
    amount: int  # requested repayment (the action's amount and the loan)
    repaid: int  # debt the model says the market pulls
    seized: int  # collateral received, in its underlying units
    sale: SaleQuote | None  # None when collateral == debt asset
    flash: FlashChoice
    profit: int  # sale output (or seized) - repaid - flash fee: what the executor keeps
    gas: int
    net: int  # profit - gas cost in debt-asset units
    target: str = ""  # the collateral market's id (Venus vToken)


def gas_cost(gas: int, block: BlockContext, token: str) -> int | None:
    """Gas at the block's price in `token` units; None when the token has no ETH price."""
    eth_price = block.eth_price(token)
    if eth_price is None or eth_price <= 0:
        return None
    return gas * block.gas_price * eth_price // ETH


def balancer_liquidity(view: StateView, pools: tuple[str, ...], token: str) -> int:
    """The vault's balance of `token`: the sum of its pools' balances kept in state."""
    total = 0
    for address in pools:
        pool = view.get(pool_key(address))
        if isinstance(pool, WeightedPool) and token.lower() in (t.lower() for t in pool.tokens):
            total += pool.balances[pool.index(token)]
    return total


def cheapest_loan(
    cfg: LiquidationConfig,
    view: StateView,
    block: BlockContext,
    token: str,
    amount: int,
    touched: frozenset[str],
    vault_funds: int | None = None,
) -> FlashChoice | None:
    """The lender costing least (fee + its gas) that holds `amount` and the route leaves alone.
    Only the winner becomes a FlashLoan value (its construction checksums addresses).
    `vault_funds`: the Balancer vault's `token` balance when the caller has it (a sizing
    search asks for one token many times on one state), else it is summed here."""
    options: list[tuple[int, FlashSource, str, int]] = []  # (cost, source, lender, fee)
    vault = cfg.balancer_vault.lower()
    if (
        vault
        and vault not in touched
        and (balancer_liquidity(view, cfg.pools, token) if vault_funds is None else vault_funds)
        >= amount
    ):
        fee = flash_loan_fee(amount, cfg.balancer_flash_fee) if cfg.balancer_flash_fee else 0
        options.append((_loan_cost(cfg, block, token, FlashSource.BALANCER, fee),
                        FlashSource.BALANCER, vault, fee))  # fmt: skip
    if cfg.aave_flash_pool and cfg.aave_flash_pool.lower() not in touched:
        fee = percent_mul(amount, cfg.aave_flash_premium_bps)  # FlashLoanLogic: percentMul
        options.append((_loan_cost(cfg, block, token, FlashSource.AAVE_V3, fee),
                        FlashSource.AAVE_V3, cfg.aave_flash_pool, fee))  # fmt: skip
    if not options:
        return None
    _, source, lender, fee = min(options, key=lambda o: o[0])  # first of equals, as before
    return FlashChoice(FlashLoan(source, lender, token, amount), fee)


def _loan_cost(
    cfg: LiquidationConfig, block: BlockContext, token: str, source: FlashSource, fee: int
) -> int:
    return fee + (gas_cost(cfg.gas.flash[source], block, token) or 0)


def maximize(
    f: Callable[[int], int | None], lo: int, hi: int, grid: int = 16, tolerance_bps: int = 1
) -> tuple[int, int] | None:
    """(amount, value) maximising `f` over integers in [lo, hi]; None where f is nowhere
    defined. Grid first, then golden-section inside the best grid point's neighbours until the
    bracket is `tolerance_bps` of `hi` wide (or 2 units)."""
    if hi < lo:
        return None
    seen: dict[int, int | None] = {}

    def at(x: int) -> int | None:
        if x not in seen:
            seen[x] = f(x)
        return seen[x]

    points = sorted({lo + (hi - lo) * k // grid for k in range(grid + 1)})
    values = [at(x) for x in points]
    scored = [
        (v, -x, i) for i, (x, v) in enumerate(zip(points, values, strict=True)) if v is not None
    ]
    if not scored:
        return None
    k = max(scored)[2]
    a, b = points[max(k - 1, 0)], points[min(k + 1, len(points) - 1)]
    width = max(2, hi * tolerance_bps // BPS)
    _golden(at, a, b, width)
    best = max((v, -x) for x, v in seen.items() if v is not None)
    return -best[1], best[0]


def _golden(at: Callable[[int], int | None], a: int, b: int, width: int) -> None:
    """Narrow [a, b] around a maximum of a unimodal `at` (None counts as minus infinity).
    The interior point that survives a step is kept as one of the next step's two, as in
    textbook golden section: one new evaluation a step, not two."""
    m1, m2 = _inner(a, b)
    while b - a > width and m1 < m2:
        v1, v2 = at(m1), at(m2)
        if (v1 if v1 is not None else -(2**255)) >= (v2 if v2 is not None else -(2**255)):
            b, m2 = m2, m1
            m1 = _inner(a, b)[0]
        else:
            a, m1 = m1, m2
            m2 = _inner(a, b)[1]
    for x in range(a, b + 1) if b - a <= 8 else (a, b):
        at(x)


def _inner(a: int, b: int) -> tuple[int, int]:
    third = max((b - a) * 382 // 1000, 1)
    return a + third, b - third
