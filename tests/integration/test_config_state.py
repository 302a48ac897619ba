"""Market configuration changes followed by events equal a fresh snapshot, and the exact models
on that state give the contracts' own answers.

The devnet's ACL admin (the deployer) drives the real Aave PoolConfigurator (collateral LT and
bonus, protocol fee, freeze, pause, an e-mode category changed and one added, an asset moved
into it) and AaveOracle (an asset re-pointed at a new SettableFeed); the deployer, which the
Venus ACM allows, drives the comptroller's setters (collateral factor and threshold, incentive,
close factor). After each step the state kept by events equals a snapshot read at the head,
entry for entry; every account's getUserAccountData and getAccountLiquidity equal the models';
a liquidation sized on the new LT, bonus and fee seizes what the model says, to the wei.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from eth_utils import to_checksum_address
from test_run_chain_config import chain_toml

from tallyio.app.chain_market import discover_market
from tallyio.app.config import load_chain
from tallyio.chain import ChainClient, build_client
from tallyio.chain.reorg import block_from_rpc
from tallyio.core.events import Log
from tallyio.devnet.context import DECIMALS, PRICES_USD_8
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.state.health import HealthBook, aave_account_data, from_state, on_deltas
from tallyio.state.position_loader import (
    calldata,
    discover_accounts,
    load_snapshot,
    refs_from_manifest,
)
from tallyio.state.positions import (
    aave_inputs,
    account_key,
    emode_key,
    lending_handlers,
    reserve_key,
    venus_assets,
)
from tallyio.state.prices import CLOCK_KEY, clock_log, price_key, source_key
from tallyio.state.store import MarketState

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

MAX_UINT = 2**256 - 1


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        31337, int(raw["blockNumber"], 16), raw["blockHash"], raw["transactionHash"],
        int(raw["logIndex"], 16), raw["address"], tuple(raw["topics"]), raw["data"],
    )  # fmt: skip


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


class Follower:
    """Snapshot at the head, then every mined block's logs through MarketState.apply."""

    def __init__(self, chain: Devnet) -> None:
        self.chain, self.d, self.m = chain, chain.d, chain.manifest
        self.aref, self.vref, self.targets = refs_from_manifest(self.m)
        self.client = build_client(self.m["rpc_url"])
        self.feeds = [t.feed for t in self.targets]
        self.state: MarketState | None = None
        self.book: HealthBook | None = None  # the float screen, kept by the same deltas

    def send(self, to: str, sig: str, *args: Any, who: str | None = None) -> None:
        self.d.send_raw_call(to, "0x" + calldata(sig, *args).hex(), sender=who)

    async def call(self, to: str, sig: str, *args: Any) -> list[int]:
        tx = {"to": to, "data": "0x" + calldata(sig, *args).hex()}
        return _words(bytes.fromhex((await self.client.request("eth_call", [tx]))[2:]))

    async def accounts(self, block: int) -> tuple[list[str], list[str]]:
        a = await discover_accounts(self.client, self.aref, 0, block)
        return a, await discover_accounts(self.client, self.vref, 0, block)

    async def snapshot(self, block: int) -> dict[Any, Any]:
        a, v = await self.accounts(block)
        return await load_snapshot(
            self.client, block=block, multicall_address=self.m["multicall"],
            aave_markets=[(self.aref, a)], venus_markets=[(self.vref, v)], feeds=self.feeds,
        )  # fmt: skip

    async def start(self) -> None:
        block = int(await self.client.request("eth_blockNumber"), 16)
        handlers = lending_handlers([self.aref], [self.vref], self.targets)
        self.state = MarketState(await self.snapshot(block), handlers, block=block)
        a, _ = await self.accounts(block)
        self.book = from_state(self.state.get, self.aref, a, self.state.get(CLOCK_KEY)[1])

    async def follow(self) -> int:
        """Applies the blocks mined since; returns how many logs changed the state."""
        assert self.state is not None
        head, changed = int(await self.client.request("eth_blockNumber"), 16), 0
        for n in range(self.state.block + 1, head + 1):
            raw = await self.client.request("eth_getBlockByNumber", [hex(n), False])
            block = block_from_rpc(31337, raw)
            self.state.apply(block)
            self.state.apply(clock_log(block))
            for r in await self.client.request("eth_getLogs", [{"blockHash": block.hash}]):
                deltas = self.state.apply(_log(r))
                assert self.book is not None
                on_deltas(self.book, deltas, self.state.get, self.aref, block.timestamp)
                changed += bool(deltas)
        return changed

    async def check(self) -> None:
        """Event state == fresh snapshot (the re-pointed sources are the events' own record)."""
        assert self.state is not None
        await self.follow()
        fresh = await self.snapshot(self.state.block)
        mine = {k: v for k, v in self.state.items() if k[0] != "source"}
        empty = (aave.UserAccount((), 0),)
        mine = {k: v for k, v in mine.items() if v not in empty}
        diff = [k for k in fresh.keys() | mine.keys() if fresh.get(k) != mine.get(k)]
        assert diff == [], [(k, mine.get(k), fresh.get(k)) for k in diff[:3]]
        await self.check_models()
        self.check_book()

    def check_book(self) -> None:
        """The screen kept by deltas equals one built afresh (to 1e-6: it skips accrual)."""
        assert self.state is not None and self.book is not None
        ts = self.state.get(CLOCK_KEY)[1]
        fresh = from_state(self.state.get, self.aref, list(self.book.accounts), ts)
        assert np.allclose(self.book.hf, fresh.hf, rtol=1e-6, atol=0), self.book.hf - fresh.hf

    async def check_models(self) -> None:
        """Every account: getUserAccountData / getAccountLiquidity == the models on the state."""
        assert self.state is not None
        get, (_, ts) = self.state.get, self.state.get(CLOCK_KEY)
        a, v = await self.accounts(self.state.block)
        reserves, emodes = aave_inputs(get, self.aref)
        for u in a:
            chain_data = await self.call(self.aref.pool, "getUserAccountData(address)", u)
            mine = aave_account_data(reserves, emodes, get, self.aref, u, ts).as_tuple()
            assert mine == tuple(chain_data), u
        for u in v:
            account = get(account_key("venus", self.vref.comptroller, u))
            assets = venus_assets(get, self.vref, account) if account else []
            err, liq, short = await self.call(
                self.vref.comptroller, "getAccountLiquidity(address)", u
            )
            assert err == 0 and venus.get_account_liquidity(assets) == (liq, short), u

    def hfs(self) -> dict[str, int]:
        assert self.state is not None
        get, (_, ts) = self.state.get, self.state.get(CLOCK_KEY)
        reserves, emodes = aave_inputs(get, self.aref)
        prefix = ("account", "aave_v3", self.aref.pool)
        users = [k[3] for k, _ in self.state.items() if k[:3] == prefix]
        return {
            u: aave_account_data(reserves, emodes, get, self.aref, u, ts).health_factor
            for u in users
        }


async def _aave_config(f: Follower) -> None:
    m, cfg = f.m, f.m["aave_v3"]["configurator"]
    weth, wbtc, dai = (m["tokens"][s] for s in ("WETH", "WBTC", "DAI"))
    await f.start()
    assert f.state is not None
    before = f.hfs()
    f.send(cfg, "setLiquidationProtocolFee(address,uint256)", weth, 2_000)
    f.send(cfg, "configureReserveAsCollateral(address,uint256,uint256,uint256)",
           weth, 7_500, 7_800, 10_700)  # fmt: skip
    f.send(cfg, "setReserveFreeze(address,bool)", dai, True)  # not in the models: no entry moves
    f.send(cfg, "setReservePause(address,bool)", wbtc, True)
    f.send(cfg, "setReserveActive(address,bool)", weth, True)
    await f.check()
    r = f.state.get(reserve_key("aave_v3", f.aref.pool, weth))
    assert (r.ltv, r.liquidation_threshold, r.liquidation_bonus) == (7_500, 7_800, 10_700)
    assert r.liquidation_protocol_fee == 2_000
    assert f.state.get(reserve_key("aave_v3", f.aref.pool, wbtc)).paused
    after = f.hfs()
    assert any(after[u] < before[u] for u in before)  # the lower LT moved health factors

    sig = "setEModeCategory(uint8,uint16,uint16,uint16,address,string)"
    f.send(cfg, sig, 1, 9_650, 9_720, 10_150, aave.ZERO_ADDRESS, "Stablecoins")
    f.send(cfg, sig, 2, 8_500, 9_000, 10_300, aave.ZERO_ADDRESS, "ETH correlated")
    f.send(cfg, "setAssetEModeCategory(address,uint8)", weth, 2)
    f.send(cfg, "setReservePause(address,bool)", wbtc, False)
    await f.check()
    assert f.state.get(emode_key(f.aref.pool, 1)).liquidation_threshold == 9_720
    assert f.state.get(emode_key(f.aref.pool, 2)) == aave.EModeCategory(
        2, 8_500, 9_000, 10_300, aave.ZERO_ADDRESS, 0
    )
    await _liquidate(f, weth, "USDC")


async def _liquidate(f: Follower, collateral: str, debt_symbol: str) -> None:
    """The first account the exact model calls liquidatable, liquidated for as much as it may:
    the liquidator's collateral and debt token moves equal execute_liquidation_call's."""
    assert f.state is not None
    collateral = collateral.lower()
    debt = f.m["tokens"][debt_symbol].lower()
    searcher = to_checksum_address(f.chain.account("searcher"))
    ctx = f.chain.context()
    ctx.fund(debt_symbol, searcher, 10 ** (DECIMALS[debt_symbol] + 12) // PRICES_USD_8[debt_symbol])
    ctx.approve(debt_symbol, searcher, f.m["aave_v3"]["pool"])
    await f.follow()
    user = next(u for u, hf in sorted(f.hfs().items()) if hf < 10**18)
    get, (_, ts) = f.state.get, f.state.get(CLOCK_KEY)
    reserves, emodes = aave_inputs(get, f.aref)
    account = get(account_key("aave_v3", f.aref.pool, user))
    ts += 12
    want = aave.execute_liquidation_call(
        reserves, account, collateral_asset=collateral, debt_asset=debt, debt_to_cover=MAX_UINT,
        timestamp=ts, emode=emodes.get(account.emode_category),
    )  # fmt: skip
    held = [(await f.call(t, "balanceOf(address)", searcher))[0] for t in (collateral, debt)]
    f.d.rpc("evm_setNextBlockTimestamp", ts)
    f.send(f.aref.pool, "liquidationCall(address,address,address,uint256,bool)",
           collateral, debt, user, MAX_UINT, False, who=searcher)  # fmt: skip
    now = [(await f.call(t, "balanceOf(address)", searcher))[0] for t in (collateral, debt)]
    assert now[0] - held[0] == want.collateral_to_liquidator > 0
    assert held[1] - now[1] == want.debt_repaid > 0
    await f.check()


async def _oracle_source(f: Follower) -> None:
    m, ctx = f.m, f.chain.context()
    wbtc, pool = m["tokens"]["WBTC"], f.aref.pool
    await f.start()
    assert f.state is not None
    vwbtc = m["venus"]["markets"]["WBTC"]["vtoken"].lower()
    venus_before = f.state.get(price_key("venus", f.vref.comptroller, vwbtc))
    feed = f.d.deploy(load_forge_artifact("SettableFeed"), 8, "WBTC / USD b", 61_000 * 10**8)
    f.feeds.append(feed.address)  # snapshots from here on read its answer too
    f.send(m["aave_v3"]["oracle"], "setAssetSources(address[],address[])", [wbtc], [feed.address])
    await f.check()
    assert f.state.get(source_key("aave_v3", pool, wbtc)) == feed.address.lower()
    assert f.state.get(price_key("aave_v3", pool, wbtc)) == 61_000 * 10**8
    assert f.state.get(price_key("venus", f.vref.comptroller, vwbtc)) == venus_before
    f.d.send(feed.functions.setAnswer(58_000 * 10**8))  # the new source moves Aave's price
    f.d.send(ctx.feeds["WBTC"].functions.setAnswer(70_000 * 10**8))  # the old: only Venus's
    await f.check()
    assert f.state.get(price_key("aave_v3", pool, wbtc)) == 58_000 * 10**8
    assert f.state.get(price_key("venus", f.vref.comptroller, vwbtc)) != venus_before


async def _venus_config(f: Follower) -> None:
    comp = f.m["venus"]["comptroller"]
    vweth = f.m["venus"]["markets"]["WETH"]["vtoken"].lower()
    await f.start()
    assert f.state is not None
    f.send(comp, "setCollateralFactor(address,uint256,uint256)", vweth, 70 * 10**16, 75 * 10**16)
    f.send(comp, "setLiquidationIncentive(address,uint256)", vweth, 112 * 10**16)
    f.send(comp, "_setCloseFactor(uint256)", 40 * 10**16)
    await f.check()
    market = f.state.get(reserve_key("venus", comp, vweth))
    assert (market.collateral_factor, market.liquidation_threshold) == (70 * 10**16, 75 * 10**16)
    assert market.liquidation_incentive == 112 * 10**16
    assert f.state.get(("close_factor", "venus", comp.lower())) == 40 * 10**16


def _run(chain: Devnet, scenario: Any) -> None:
    f = Follower(chain)

    async def go() -> None:
        try:
            await scenario(f)
        finally:
            await f.client.close()

    asyncio.run(go())


def test_aave_configurator_changes_follow_to_the_wei(chain: Devnet) -> None:
    _run(chain, _aave_config)


def test_aave_oracle_source_switch_follows_the_new_feed(chain: Devnet) -> None:
    _run(chain, _oracle_source)


def test_venus_comptroller_setters_follow(chain: Devnet) -> None:
    _run(chain, _venus_config)


async def test_chain_discovery_names_the_configurator(
    chain: Devnet, node: ChainClient, tmp_path: Path
) -> None:
    """A market discovered from a chain config follows its configurator's events too."""
    (tmp_path / "localnode.toml").write_text(chain_toml(chain.manifest))
    config = replace(load_chain(tmp_path / "localnode.toml"), rpc_urls=(chain.rpc_url,))
    market = await discover_market(node, config, int(await node.request("eth_blockNumber"), 16))
    assert market.aave.configurator == chain.manifest["aave_v3"]["configurator"].lower()
