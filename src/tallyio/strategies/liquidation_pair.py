"""Sizing one (debt, collateral) pair of a liquidation: the repayment with the best net.

`size_pair` searches the repayment (liquidation_sizing.maximize) on the market's own seize
model; `price_candidate` prices one repayment: the collateral's sale along the router's best
route (and the best one that leaves the Balancer vault free, when the first uses it), the
cheapest flash loan that route leaves usable, and gas at the block's price in the debt asset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tallyio.core.memo import Recent
from tallyio.core.opportunity import BlockContext
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_route import SaleQuote, pinned_router
from tallyio.strategies.liquidation_sizing import (
    BPS,
    Candidate,
    LiquidationConfig,
    balancer_liquidity,
    cheapest_loan,
    gas_cost,
    maximize,
)

__all__ = ["Model", "better", "pair_nets", "price_candidate", "reprice_pair", "size_pair"]

Model = Callable[[int], tuple[int, int] | None]  # amount -> (repaid, collateral received)


def price_candidate(
    cfg: LiquidationConfig, view: StateView, block: BlockContext, pair: tuple[str, str],
    amount: int, outcome: tuple[int, int], liquidation_gas: int, vault_funds: int | None = None,
) -> Candidate | None:  # fmt: skip
    """Net of repaying `amount` that pulls `repaid` and yields `seized`: best sale x loan.
    `vault_funds`: the Balancer vault's balance of the debt asset, if known (cheapest_loan)."""
    debt, coll = pair
    repaid, seized = outcome
    if seized <= 0 or repaid <= 0:
        return None
    sales: list[SaleQuote | None] = [None]
    if coll != debt:
        quote = cfg.router(view, coll, debt, seized)
        sales = [quote]
        vault = cfg.balancer_vault.lower()
        if quote is not None and vault and vault in quote.touches:
            sales.append(cfg.router(view, coll, debt, seized, frozenset({vault})))
    best: Candidate | None = None
    for sale in sales:
        if coll != debt and sale is None:
            continue
        touched = sale.touches if sale is not None else frozenset()
        flash = cheapest_loan(cfg, view, block, debt, amount, touched, vault_funds)
        if flash is None:
            continue
        actions = sale.actions if sale is not None else ()
        gas = cfg.gas.estimate(liquidation_gas, actions, flash.loan.source)
        cost = gas_cost(gas, block, debt)
        if cost is None:
            return None
        out = sale.amount_out if sale is not None else seized
        profit = out - repaid - flash.fee
        c = Candidate(debt, coll, amount, repaid, seized, sale, flash, profit, gas, profit - cost)
        if best is None or c.net > best.net:
            best = c
    return best


def size_pair(
    cfg: LiquidationConfig, view: StateView, block: BlockContext, pair: tuple[str, str],
    hi: int, model: Model, liquidation_gas: int,
) -> Candidate | None:  # fmt: skip
    """The repayment in [1, hi] with the best net for one (debt, collateral) pair."""
    found: dict[int, Candidate | None] = {}
    funds = balancer_liquidity(view, cfg.pools, pair[0]) if cfg.balancer_vault else 0

    def net(x: int) -> int | None:
        outcome = model(x)
        c = None if outcome is None else price_candidate(
            cfg, view, block, pair, x, outcome, liquidation_gas, funds)  # fmt: skip
        found[x] = c
        return None if c is None else c.net

    best = maximize(net, 1, hi, cfg.grid, cfg.tolerance_bps)
    return None if best is None else found[best[0]]


def reprice_pair(
    cfg: LiquidationConfig, view: StateView, block: BlockContext, pair: tuple[str, str],
    hi: int, model: Model, liquidation_gas: int, armed: Candidate,
) -> Candidate | None:  # fmt: skip
    """`armed`'s repayment, along its own sale and with its own loan, priced on `view`; None
    unless it is still the pair's best there, as far as `size_pair` would tell: neither a
    repayment one search step (`tolerance_bps` of `hi`) below or above it, nor the best sale of
    the same collateral along any route nets more than the sizing's tolerance above it. (The
    net is concave in the repayment along one route, so a repayment no step beats is within a
    step of the optimum.)"""
    if armed.amount > hi or (armed.sale is None) != (pair[0] == pair[1]):
        return None
    funds = balancer_liquidity(view, cfg.pools, pair[0]) if cfg.balancer_vault else 0
    pinned = _pinned(cfg, armed.sale)
    seen: dict[int, tuple[int, int] | None] = {}

    def at(x: int, c: LiquidationConfig = pinned) -> Candidate | None:
        if x not in seen:
            seen[x] = model(x)
        outcome = seen[x]
        if outcome is None:
            return None
        return price_candidate(c, view, block, pair, x, outcome, liquidation_gas, funds)

    found = at(armed.amount)
    if found is None or found.net <= 0 or found.flash.loan != armed.flash.loan:
        return None
    step = max(1, hi * cfg.tolerance_bps // BPS)
    rivals = [at(armed.amount - step)] if armed.amount > step else []
    if armed.amount < hi:
        rivals.append(at(min(hi, armed.amount + step)))
    if any(r is not None and r.net > found.net for r in rivals):
        return None
    routed = at(armed.amount, cfg) if armed.sale is not None else None  # any route, same x
    if routed is not None and routed.net > found.net + found.net * cfg.tolerance_bps // BPS:
        return None
    return found


_PINNED: Recent[LiquidationConfig] = Recent()


def _pinned(cfg: LiquidationConfig, sale: SaleQuote | None) -> LiquidationConfig:
    """`cfg` selling only along `sale`, made once per armed sale: an armed plan is re-priced
    on every answer of its feed until it fires."""
    if sale is None:
        return cfg
    return _PINNED.get(sale, lambda: replace(cfg, router=pinned_router(sale)), cfg)


def pair_nets(
    cfg: LiquidationConfig, view: StateView, block: BlockContext, pair: tuple[str, str],
    hi: int, model: Model, liquidation_gas: int, shares: tuple[int, ...] = (1, 2),
) -> list[int]:  # fmt: skip
    """The pair's net at a few repayments (`hi // share`): a quick lower bound on its best."""
    funds = balancer_liquidity(view, cfg.pools, pair[0]) if cfg.balancer_vault else 0
    out = []
    for x in sorted({hi // k for k in shares if hi // k > 0}):
        outcome = model(x)
        c = None if outcome is None else price_candidate(
            cfg, view, block, pair, x, outcome, liquidation_gas, funds)  # fmt: skip
        if c is not None:
            out.append(c.net)
    return out


def better(a: Candidate | None, b: Candidate | None) -> Candidate | None:
    if b is None or (a is not None and a.net >= b.net):
        return a
    return b
