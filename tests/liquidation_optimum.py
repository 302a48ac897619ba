"""The exhaustive liquidation search, by hand: the optimum a liquidation engine is held to.

Shared by the strategy's devnet test and the engine's end-to-end test. For each account, every
(debt asset, collateral asset) pair and amounts on a grid of the close-factor cap are run through
the exact models (Aave executeLiquidationCall, Venus liquidateBorrow), the seized collateral is
sold along the best 1-2 hop route over the devnet's pools (an independent router), the cheapest
flash loan is paid for and gas priced by the gas model: the best net, in wei.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tallyio.chain import build_client
from tallyio.core.opportunity import BlockContext
from tallyio.core.plan import FlashSource
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.protocols.aave_v3_math import percent_mul
from tallyio.state.pool_loader import load_pools, sources_from_manifest
from tallyio.state.position_loader import discover_accounts, load_snapshot, refs_from_manifest
from tallyio.state.positions import aave_inputs, account_key, reserve_key, venus_assets
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_sizing import GasModel, LiquidationConfig

GAS = GasModel()
GRID = 40


# -- the exhaustive search, by hand ---------------------------------------------------------------
def _net_wei(
    cfg: LiquidationConfig, view: StateView, block: BlockContext, pair: tuple[str, str],
    x: int, got: tuple[int, int], liq_gas: int,
) -> int | None:  # fmt: skip
    """Net of one amount: best 1-2 hop sale over the pools (direct router), Balancer loan if
    the route leaves the vault alone (no fee) else Aave's (5 bps), gas by the gas model."""
    debt, coll = pair
    repaid, seized = got
    sale = cfg.router(view, coll, debt, seized) if coll != debt else None
    if coll != debt and sale is None:
        return None
    out = sale.amount_out if sale else seized
    hops = sale.actions if sale else ()
    uses_vault = sale is not None and cfg.balancer_vault in sale.touches
    source = FlashSource.AAVE_V3 if uses_vault else FlashSource.BALANCER
    fee = percent_mul(x, 5) if uses_vault else 0
    gas = GAS.estimate(liq_gas, hops, source)
    eth_price = block.eth_prices[debt]
    return (out - repaid - fee) * 10**18 // eth_price - gas * block.gas_price


def _best(f: Callable[[int], int | None], hi: int) -> int:
    values = [f(max(hi * k // GRID, 1)) for k in range(1, GRID + 1)]
    return max((v for v in values if v is not None), default=0)


def aave_optimum(
    m: dict[str, Any], view: StateView, block: BlockContext, cfg: Any,
    users: list[str] | None = None,
) -> int:  # fmt: skip
    """The best net (wei) over `users` (default: the seeded borrowers), every debt asset,
    collateral asset and amount on a grid of the close-factor cap."""
    aref, _, _ = refs_from_manifest(m)
    reserves, emodes = aave_inputs(view.get, aref)
    best = 0
    for user in users if users is not None else m["borrowers"]["aave_v3"]:
        account = view.get(account_key("aave_v3", aref.pool, user.lower()))
        if account is None:
            continue
        emode = emodes.get(account.emode_category)
        hf = aave.calculate_user_account_data(reserves, account, block.timestamp, emode)
        if hf.health_factor >= 10**18:
            continue
        for d in (p for p in account.positions if p.borrowing):
            index = aave.get_normalized_debt(reserves[d.asset], block.timestamp)
            owed = aave.ray_mul(d.scaled_variable_debt, index)
            hi = percent_mul(owed, aave.close_factor(hf.health_factor))
            for c in (p for p in account.positions if p.using_as_collateral):

                def f(x: int, d: str = d.asset, c: str = c.asset, a: Any = account) -> int | None:
                    try:
                        r = aave.execute_liquidation_call(
                            reserves, a, collateral_asset=c, debt_asset=d, debt_to_cover=x,
                            timestamp=block.timestamp, emode=emodes.get(a.emode_category),
                        )  # fmt: skip
                    except aave.LiquidationCallError:
                        return None
                    got = (r.debt_repaid, r.collateral_to_liquidator)
                    return _net_wei(cfg, view, block, (d, c), x, got, GAS.aave_liquidation)

                best = max(best, _best(f, hi))
    return best


def venus_optimum(
    m: dict[str, Any], view: StateView, block: BlockContext, cfg: Any,
    users: list[str] | None = None,
) -> int:  # fmt: skip
    """As aave_optimum, for Venus (sized at the next block's accrual, as liquidateBorrow is)."""
    _, vref, _ = refs_from_manifest(m)
    under = {mk.vtoken: mk.underlying for mk in vref.markets}
    best = 0
    for user in users if users is not None else m["borrowers"]["venus"]:
        account = view.get(account_key("venus", vref.comptroller, user.lower()))
        if account is None:
            continue
        accrued: dict[Any, Any] = {}
        for mk in vref.markets:
            key = reserve_key("venus", vref.comptroller, mk.vtoken)
            market = view.get(key)
            state = venus.accrue_interest(market.state, block.block + 1)
            accrued[key] = replace(market, state=state)
        assets = venus_assets(_overlay(accrued, view), vref, account)
        if venus.get_account_liquidity(assets)[1] == 0:
            continue
        for b in (a for a in assets if a.borrow_balance):
            hi = venus.max_close(b.borrow_balance, cfg.venus_close_factor)
            for c in (a for a in assets if a.vtoken_balance):

                def f(x: int, b: Any = b, c: Any = c, assets: Any = assets) -> int | None:
                    try:
                        r = venus.liquidate_borrow(
                            assets, vtoken_borrowed=b.vtoken, collateral=c, repay_amount=x,
                            close_factor=cfg.venus_close_factor,
                        )  # fmt: skip
                    except venus.ComptrollerError:
                        return None
                    got = (x, r.seize_tokens * c.exchange_rate // 10**18)
                    pair = (under[b.vtoken], under[c.vtoken])
                    return _net_wei(cfg, view, block, pair, x, got, GAS.venus_liquidation)

                best = max(best, _best(f, hi))
    return best


def _overlay(accrued: dict[Any, Any], view: StateView) -> Callable[[Any], Any]:
    return lambda k: accrued.get(k) or view.get(k)


async def load_state(
    m: dict[str, Any], block: int | None = None
) -> tuple[dict[Any, Any], dict[Any, Any], dict[str, Any]]:
    """(lending entries, pool entries, the block's header) read from the chain at `block`
    (default: the head), accounts found in the markets' logs."""
    client = build_client(m["rpc_url"])
    try:
        head = int(await client.request("eth_blockNumber"), 16) if block is None else block
        aref, vref, _ = refs_from_manifest(m)
        aave_users = await discover_accounts(client, aref, 0, head)
        venus_users = await discover_accounts(client, vref, 0, head)
        lending = await load_snapshot(
            client, block=head, multicall_address=m["multicall"],
            aave_markets=[(aref, aave_users)], venus_markets=[(vref, venus_users)],
        )  # fmt: skip
        pools = await load_pools(client, m["multicall"], sources_from_manifest(m), block=head)
        block = await client.request("eth_getBlockByNumber", [hex(head), False])
    finally:
        await client.close()
    return lending, dict(pools.entries), block


def block_context(m: dict[str, Any], lending: dict[Any, Any], raw: dict[str, Any]) -> BlockContext:
    """ETH prices of every token from the Aave oracle (USD, 8 decimals)."""
    aref, _, _ = refs_from_manifest(m)
    reserves, _ = aave_inputs(lending.get, aref)
    weth = reserves[m["tokens"]["WETH"].lower()]
    eth_prices = {a: weth.price * 10**r.decimals // r.price for a, r in reserves.items()}
    number, ts = int(raw["number"], 16), int(raw["timestamp"], 16)
    return BlockContext(m["chain_id"], number, ts, int(raw["baseFeePerGas"], 16), 0, eth_prices)


def liquidation_config(m: dict[str, Any], pools: dict[Any, Any], router: Any) -> LiquidationConfig:
    addresses = tuple(k[1] for k in pools if isinstance(k, tuple) and k[0] == "pool")
    return LiquidationConfig(
        router=router, pools=addresses, balancer_vault=m["balancer_v2"]["vault"].lower(),
        aave_flash_pool=m["aave_v3"]["pool"].lower(),
        venus_close_factor=int(m["venus"]["close_factor"]),
    )  # fmt: skip
