"""PoolGraph follows MarketState's deltas; exact quotes, best routes and their executor actions."""

from __future__ import annotations

from eth_abi import encode

from tallyio.core.events import Log, Reorg
from tallyio.core.plan import ALL_BALANCE, BalancerSwap, UniswapV2Swap, UniswapV3Swap
from tallyio.protocols.balancer import ONE, WeightedPool
from tallyio.protocols.curve import StablePool
from tallyio.protocols.events import V2_SYNC
from tallyio.protocols.solidly import SolidlyPool
from tallyio.protocols.uniswap_v2 import V2Pool, get_amount_out
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import get_sqrt_ratio_at_tick
from tallyio.state.graph import PoolGraph
from tallyio.state.pools import balancer_vault_key, pool_handlers, pool_key
from tallyio.state.routes import Hop, amount_out, best_route, route_actions
from tallyio.state.store import Delta, MarketState, StateView

WETH, USDC, DAI = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
A, B, C, D, E, F, VAULT = ("0x" + c * 40 for c in "abcdef9")
E18, E6 = 10**18, 10**6


def weighted() -> WeightedPool:
    return WeightedPool(D + "00" * 12, D, (WETH, USDC, DAI), (1_000 * E18, 3_000_000 * E6,
                        3_000_000 * E18), (ONE // 2, ONE // 4, ONE // 4),
                        (ONE, ONE * 10**12, ONE), 3 * 10**15)  # fmt: skip


def v3() -> V3Pool:
    # tick 200k ~ 4.85e8 USDC units per WETH wei... use a price near 3000 USDC/WETH (1e-12 raw)
    tick = -198_000
    return V3Pool(C, WETH, USDC, 500, 10, get_sqrt_ratio_at_tick(tick), tick, 10**17, {})


def entries() -> dict[object, object]:
    return {
        pool_key(A): V2Pool(A, WETH, USDC, 1_000 * E18, 3_000_000 * E6),
        pool_key(B): V2Pool(B, WETH, USDC, 500 * E18, 1_560_000 * E6, 25),
        pool_key(C): v3(),
        pool_key(D): weighted(),
        pool_key(E): StablePool(
            E, (USDC, DAI), (10**6 * E6, 10**6 * E18), (10**30, 10**18), 200, 4 * 10**6
        ),
        pool_key(F): SolidlyPool(F, WETH, DAI, 100 * E18, 300_000 * E18, E18, E18, False, 30),
        balancer_vault_key(VAULT): VAULT,
    }


def test_graph_has_every_pool_kind_and_hop() -> None:
    graph = PoolGraph.from_entries(entries())
    assert len(graph) == 6 and graph.vault == VAULT.lower()
    assert set(graph.tokens) == {WETH, USDC, DAI}
    assert len(graph.pool_hops(D)) == 6 and len(graph.pool_hops(A)) == 2
    assert graph.neighbours(USDC) == {WETH, DAI}
    kinds = {h.kind for h in graph.hops(WETH)}
    assert kinds == {"uniswap_v2", "uniswap_v3", "balancer", "solidly"}
    curve = graph.pool_hops(E)[0]
    assert curve.kind == "curve" and not curve.executable


def test_amount_out_is_each_model_and_none_where_the_pool_reverts() -> None:
    e = entries()
    pool_a = e[pool_key(A)]
    assert isinstance(pool_a, V2Pool)
    assert amount_out(pool_a, WETH, USDC, E18) == get_amount_out(E18, 1_000 * E18, 3_000_000 * E6)
    assert amount_out(pool_a, WETH, DAI, E18) is None  # not its token
    assert amount_out(pool_a, WETH, USDC, 0) is None
    assert amount_out(pool_a, WETH, USDC, 2**112) is None  # uint112 overflow
    bal = weighted()
    assert amount_out(bal, WETH, DAI, E18) == bal.amount_out(WETH, DAI, E18)
    assert amount_out(bal, WETH, DAI, 10**6 * E18) is None  # BAL#304: over the in ratio
    for address in (C, E, F):
        pool = e[pool_key(address)]
        tokens = (WETH, USDC) if address == C else (USDC, DAI) if address == E else (WETH, DAI)
        out = amount_out(pool, tokens[0], tokens[1], 10**15)  # type: ignore[arg-type]
        assert out is not None and out > 0


def test_graph_follows_deltas_and_a_reorg() -> None:
    state = MarketState(entries(), pool_handlers(), block=1)
    graph = PoolGraph.from_entries(state.items())
    version = graph.version
    data = "0x" + encode(["uint112", "uint112"], [900 * E18, 3_100_000 * E6]).hex()
    log = Log(1, 2, "0x02", "0x0a", 0, A, (V2_SYNC,), data)
    changed = graph.update(state.apply(log))
    assert changed == {A.lower()} and graph.version == version
    pool = graph.pool(A)
    assert isinstance(pool, V2Pool) and pool.reserve0 == 900 * E18
    graph.update(state.apply(Reorg(1, 1, ())))
    pool = graph.pool(A)
    assert isinstance(pool, V2Pool) and pool.reserve0 == 1_000 * E18
    new = V2Pool("0x" + "77" * 20, WETH, DAI, E18, 3_000 * E18)
    assert graph.update([Delta(3, pool_key(new.address), None, new)]) == {new.address}
    assert graph.version == version + 1 and new.address in graph
    graph.update([Delta(3, pool_key(new.address), new, None)])
    assert new.address not in graph and graph.version == version + 2


def test_best_route_takes_the_best_path_and_builds_its_actions() -> None:
    e = entries()
    view = StateView(e)
    graph = PoolGraph.from_entries(e)
    route = best_route(graph, view, WETH, USDC, E18)
    assert route is not None and route.token_out == USDC
    candidates = [amount_out(e[pool_key(p)], WETH, USDC, E18) for p in (A, B, C)]  # type: ignore[arg-type]
    assert route.amount_out >= max(c or 0 for c in candidates)
    assert all(h.executable for h in route.hops)
    excluded = best_route(graph, view, WETH, USDC, E18, exclude=frozenset(route.pools))
    assert excluded is not None and not set(excluded.pools) & set(route.pools)
    assert best_route(graph, view, WETH, "0x" + "44" * 20, E18) is None
    hops = (
        Hop(B, WETH, USDC, "uniswap_v2", fee_bps=25),
        Hop(D, USDC, DAI, "balancer", pool_id=D + "00" * 12, vault=VAULT),
        Hop(C, DAI, WETH, "uniswap_v3"),
    )
    actions = route_actions(hops, 5 * E18)
    assert isinstance(actions[0], UniswapV2Swap) and actions[0].amount_in == 5 * E18
    assert actions[0].fee_bps == 25
    assert isinstance(actions[1], BalancerSwap) and actions[1].amount_in == ALL_BALANCE
    assert isinstance(actions[2], UniswapV3Swap) and actions[2].amount_in == ALL_BALANCE
