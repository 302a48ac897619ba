"""Re-pricing an armed liquidation (strategies/armed.py's pieces) on small V2 states.

`pinned_router` sells only along the armed sale's own path: its quote is `path_quote`'s on
whatever state it is asked on, with the sale's actions (so its calldata); other tokens, or a
path through an excluded pool, give None. `pair_nets` prices a pair at a few shares of the
close. `reprice_pair` gives the armed candidate back on the state it was sized on, prices the
same repayment, sale and loan on a moved state, and gives None once it is no longer the pair's
best (a step up or down nets more, another route nets more, the close shrank below it) or no
longer nets anything.
"""

from __future__ import annotations

from dataclasses import replace

from tallyio.core.opportunity import BlockContext
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import pool_key
from tallyio.state.routes import path_quote
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_pair import (
    Model,
    pair_nets,
    price_candidate,
    reprice_pair,
    size_pair,
)
from tallyio.strategies.liquidation_route import graph_router, pinned_router
from tallyio.strategies.liquidation_sizing import Candidate, GasModel, LiquidationConfig

# Collateral C (18 dp, $2,000), debt D (6 dp, $1), and M (18 dp, $1) for a two-hop path.
C, D, M = "0x" + "0c" * 20, "0x" + "0d" * 20, "0x" + "0e" * 20
DIRECT, C_M, M_D, DEEP = (f"0x{i:040x}" for i in (0x101, 0x102, 0x103, 0x104))
FLASH_POOL = "0x" + "a0" * 20
E18, E6 = 10**18, 10**6
PAIR = (D, C)  # (debt, collateral)
HI = 100_000 * E6  # the close: debt the market lets one liquidation repay
GAS = GasModel().aave_liquidation
BLOCK = BlockContext(1, 100, 1_700_000_000, 20 * 10**9, 0,
                     {C: E18, D: 2_000 * E6, M: 2_000 * E18})  # fmt: skip


def _pools() -> dict[str, V2Pool]:
    """C sells for D through M (deeper) or directly (shallow), both near $2,000."""
    return {
        DIRECT: V2Pool(DIRECT, C, D, 20 * E18, 40_000 * E6),
        C_M: V2Pool(C_M, C, M, 300 * E18, 600_000 * E18),
        M_D: V2Pool(M_D, D, M, 1_000_000 * E6, 1_000_000 * E18),
    }


def _moved(pools: dict[str, V2Pool], bps: int) -> dict[str, V2Pool]:
    """The M/D pool's D side `bps` deeper: M (so the sale) pays `bps` more D."""
    p = pools[M_D]
    return {**pools, M_D: replace(p, reserve0=p.reserve0 * (10_000 + bps) // 10_000)}


def _view(pools: dict[str, V2Pool]) -> StateView:
    return StateView({pool_key(a): p for a, p in pools.items()})


def _config(pools: dict[str, V2Pool]) -> LiquidationConfig:
    graph = PoolGraph.from_entries({pool_key(a): p for a, p in pools.items()})
    return LiquidationConfig(router=graph_router(graph), pools=tuple(pools),
                             aave_flash_pool=FLASH_POOL)  # fmt: skip


def _seize(price: int, bonus_bps: int = 10_500) -> Model:
    """Repaying x of D seizes x (in $) worth of C at `price` ($ per C, whole) plus the bonus."""

    def model(x: int) -> tuple[int, int] | None:
        return (x, x * 10**12 * bonus_bps // 10_000 // price) if x > 0 else None

    return model


def _armed(pools: dict[str, V2Pool], model: Model) -> Candidate:
    found = size_pair(_config(pools), _view(pools), BLOCK, PAIR, HI, model, GAS)
    assert found is not None and found.sale is not None and found.net > 0
    assert found.amount < HI, "an interior optimum: a step either side is a real rival"
    return found


# -- pinned_router ------------------------------------------------------------------------------
def test_the_pinned_router_quotes_its_path_as_path_quote_does() -> None:
    pools = _pools()
    sale = _config(pools).router(_view(pools), C, D, 30 * E18)
    assert sale is not None and len(sale.hops) == 2  # through M
    route = pinned_router(sale)
    moved = _moved(pools, -1_000)
    for state in (pools, moved):
        view = _view(state)
        for amount in (10**12, 10**15, 7 * E18, 30 * E18, 500 * E18):
            got = route(view, C, D, amount)
            assert got is not None
            assert got.amount_out == path_quote(view, sale.hops)(amount)
            assert (got.amount_in, got.actions, got.touches, got.hops) == (
                amount, sale.actions, sale.touches, sale.hops)  # fmt: skip
    assert route(_view(moved), C, D, 30 * E18) != route(_view(pools), C, D, 30 * E18)
    assert route(_view(pools), C.upper().replace("0X", "0x"), D, 30 * E18) is not None


def test_the_pinned_router_sells_nothing_else() -> None:
    pools = _pools()
    view = _view(pools)
    sale = _config(pools).router(view, C, D, 30 * E18)
    assert sale is not None
    route = pinned_router(sale)
    assert route(view, D, C, 30 * E18) is None  # the other way
    assert route(view, C, M, 30 * E18) is None  # another token out
    assert route(view, M, D, 30 * E18) is None  # another token in
    for pool in sale.touches:
        assert route(view, C, D, 30 * E18, frozenset({pool})) is None
    assert route(view, C, D, 30 * E18, frozenset({FLASH_POOL})) is not None
    assert route(view, C, D, 0) is None  # pays nothing
    gone = _view({a: p for a, p in pools.items() if a not in sale.touches})
    assert route(gone, C, D, 30 * E18) is None  # its pool is not in the state


# -- pair_nets ----------------------------------------------------------------------------------
def test_pair_nets_prices_the_close_and_its_half() -> None:
    pools = _pools()
    cfg, view, model = _config(pools), _view(pools), _seize(2_000)

    def net(x: int) -> int:
        outcome = model(x)
        assert outcome is not None
        c = price_candidate(cfg, view, BLOCK, PAIR, x, outcome, GAS, 0)
        assert c is not None
        return c.net

    assert pair_nets(cfg, view, BLOCK, PAIR, HI, model, GAS) == [net(HI // 2), net(HI)]
    quarters = pair_nets(cfg, view, BLOCK, PAIR, HI, model, GAS, (1, 2, 4))
    assert quarters == [net(HI // 4), net(HI // 2), net(HI)]
    assert pair_nets(cfg, view, BLOCK, PAIR, 1, model, GAS, (1, 2)) == [net(1)]  # 1 // 2 == 0
    assert pair_nets(cfg, view, BLOCK, PAIR, HI, lambda x: None, GAS) == []


# -- reprice_pair -------------------------------------------------------------------------------
def test_reprice_gives_the_armed_candidate_back_on_its_own_state() -> None:
    pools = _pools()
    armed = _armed(pools, _seize(2_000))
    again = reprice_pair(_config(pools), _view(pools), BLOCK, PAIR, HI, _seize(2_000), GAS,
                         armed)  # fmt: skip
    assert again == armed


def test_reprice_prices_the_same_repayment_sale_and_loan_on_a_moved_state() -> None:
    pools, model = _pools(), _seize(2_000)
    armed = _armed(pools, model)
    moved = _moved(pools, 1)
    found = reprice_pair(_config(moved), _view(moved), BLOCK, PAIR, HI, model, GAS, armed)
    assert found is not None
    assert (found.amount, found.seized, found.flash) == (armed.amount, armed.seized, armed.flash)
    assert found.sale is not None and armed.sale is not None
    assert (found.sale.actions, found.sale.hops) == (armed.sale.actions, armed.sale.hops)
    assert found.sale.amount_out == path_quote(_view(moved), armed.sale.hops)(found.seized)
    assert found.sale.amount_out > armed.sale.amount_out
    assert found.profit == found.sale.amount_out - found.repaid - found.flash.fee


def test_reprice_gives_none_once_the_armed_plan_is_not_the_best() -> None:
    pools = _pools()
    armed = _armed(pools, _seize(2_000))
    cfg, view = _config(pools), _view(pools)

    def reprice(**kw: object) -> Candidate | None:
        args: dict[str, object] = {"cfg": cfg, "view": view, "block": BLOCK, "pair": PAIR,
                                   "hi": HI, "model": _seize(2_000), "liquidation_gas": GAS,
                                   "armed": armed, **kw}  # fmt: skip
        return reprice_pair(**args)  # type: ignore[arg-type]

    assert reprice() == armed
    assert reprice(hi=armed.amount - 1) is None  # the close shrank below the repayment
    # the sale pays 20 bps more: a repayment a step larger nets more (the optimum moved up)
    moved = _moved(pools, 20)
    assert reprice(cfg=_config(moved), view=_view(moved)) is None
    assert reprice(model=_seize(2_000, 13_000)) is None  # a larger bonus: likewise
    # a deep direct pool: another route nets more than the tolerance at the same repayment
    deep = {**pools, DEEP: V2Pool(DEEP, C, D, 10_000 * E18, 20_200_000 * E6)}
    assert reprice(cfg=_config(deep), view=_view(deep)) is None
    assert reprice(block=replace(BLOCK, base_fee=10**18)) is None  # gas above the profit
    assert reprice(pair=(D, D)) is None  # the armed sale sells; a same-asset pair does not
