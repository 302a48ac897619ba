"""Vault.managePoolBalance on the devnet: a pool's total balance kept by events equals the vault's.

The factory's pools have no asset managers, so this test deploys the same published WeightedPool
bytecode with the constructor the factory calls, naming an anvil account as WETH's asset manager
(no mock: the real vault checks the caller). That account WITHDRAWs cash to manage, UPDATEs the
managed balance up (a gain) and down (a loss) and DEPOSITs back; after each, the pool followed by
events equals a fresh load_pools snapshot, and a swap on the new total pays what the model says.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address

from tallyio.chain import build_client
from tallyio.chain.reorg import block_from_rpc
from tallyio.core.events import Log
from tallyio.devnet.balancer_v2 import (
    BUFFER_PERIOD,
    JOIN_KIND_INIT,
    PAUSE_WINDOW,
    POOL_VERSION,
    VAULT,
    WEIGHTED_POOL,
    ZERO_ADDRESS,
)
from tallyio.devnet.deployer import load_artifact
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.events import BALANCER_POOL_BALANCE_MANAGED, BALANCER_SWAP
from tallyio.state.pool_loader import BalancerSource, PoolSources, load_pools
from tallyio.state.pools import pool_handlers, pool_key
from tallyio.state.store import MarketState

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

WITHDRAW, DEPOSIT, UPDATE = 0, 1, 2  # IVault.PoolBalanceOpKind
ONE = 10**18


def _log(raw: dict[str, Any]) -> Log:
    return Log(
        31337, int(raw["blockNumber"], 16), raw["blockHash"], raw["transactionHash"],
        int(raw["logIndex"], 16), raw["address"], tuple(raw["topics"]), raw["data"],
    )  # fmt: skip


def _managed_pool(chain: Devnet, manager: str) -> tuple[Any, bytes]:
    """A 50/50 WETH/DAI WeightedPool whose WETH has `manager` as asset manager, seeded by lp."""
    ctx, d, bal = chain.context(), chain.d, chain.manifest["balancer_v2"]
    symbols = sorted(("WETH", "DAI"), key=lambda s: int(ctx.tokens[s].address, 16))
    tokens = [ctx.tokens[s].address for s in symbols]
    managers = [manager if s == "WETH" else ZERO_ADDRESS for s in symbols]
    params = ("Managed", "B-MGD", tokens, [ONE // 2, ONE // 2], [ZERO_ADDRESS] * 2, managers,
              3 * 10**15)  # fmt: skip
    pool = d.deploy(load_artifact(WEIGHTED_POOL), params, bal["vault"],
                    bal["protocol_fee_percentages_provider"], PAUSE_WINDOW, BUFFER_PERIOD,
                    ctx.deployer, POOL_VERSION)  # fmt: skip
    pool_id: bytes = pool.functions.getPoolId().call()
    vault = d.at(load_artifact(VAULT), bal["vault"])
    lp = ctx.accounts["lp"]
    amounts = [100 * ONE if s == "WETH" else 300_000 * ONE for s in symbols]
    for s, amount in zip(symbols, amounts, strict=True):
        ctx.fund(s, lp, amount)
        ctx.approve(s, lp, vault.address)
    data = encode(["uint256", "uint256[]"], [JOIN_KIND_INIT, amounts])
    d.send(vault.functions.joinPool(pool_id, lp, lp, (tokens, amounts, data, False)), sender=lp)
    return vault, pool_id


async def _run(chain: Devnet) -> tuple[int, int]:
    ctx, d = chain.context(), chain.d
    manager = to_checksum_address(chain.account("competitor"))
    vault, pool_id = _managed_pool(chain, manager)
    weth, dai = ctx.tokens["WETH"].address, ctx.tokens["DAI"].address
    source = PoolSources(balancer=(BalancerSource(vault.address, "0x" + pool_id.hex()),))
    client = build_client(chain.rpc_url)
    key = pool_key("0x" + pool_id.hex()[:40])
    managed_logs = swaps = 0

    async def fresh(block: int) -> dict[Any, Any]:
        snap = await load_pools(client, chain.manifest["multicall"], source, block=block)
        return dict(snap.entries)

    try:
        head = int(await client.request("eth_blockNumber"), 16)
        state = MarketState(await fresh(head), pool_handlers(), block=head)

        async def follow_and_check() -> None:
            nonlocal managed_logs, swaps
            now = int(await client.request("eth_blockNumber"), 16)
            for n in range(state.block + 1, now + 1):
                raw = await client.request("eth_getBlockByNumber", [hex(n), False])
                block = block_from_rpc(31337, raw)
                state.apply(block)
                for r in await client.request("eth_getLogs", [{"blockHash": block.hash}]):
                    managed_logs += r["topics"][0] == BALANCER_POOL_BALANCE_MANAGED
                    swaps += r["topics"][0] == BALANCER_SWAP
                    state.apply(_log(r))
            assert {k: state.get(k) for k in (await fresh(now))} == await fresh(now)
            _, balances, _ = vault.functions.getPoolTokens(pool_id).call()
            assert state.get(key).balances == tuple(balances)

        def manage(kind: int, amount: int) -> None:
            d.send(vault.functions.managePoolBalance([(kind, pool_id, weth, amount)]),
                   sender=manager)  # fmt: skip

        manage(WITHDRAW, 40 * ONE)  # cash -> managed: the total stays
        await follow_and_check()
        manage(UPDATE, 40 * ONE + 1_234_567)  # the manager reports a gain
        await follow_and_check()
        manage(UPDATE, 31 * ONE + 7)  # and then a loss
        await follow_and_check()
        ctx.approve("WETH", manager, vault.address)
        manage(DEPOSIT, 20 * ONE)  # managed -> cash
        await follow_and_check()
        pool: WeightedPool = state.get(key)
        amount_in = 3 * ONE
        want = pool.amount_out(weth.lower(), dai.lower(), amount_in)
        lp = ctx.accounts["lp"]
        ctx.fund("WETH", lp, amount_in)
        before = ctx.tokens["DAI"].functions.balanceOf(lp).call()
        swap = (pool_id, 0, weth, dai, amount_in, b"")
        d.send(vault.functions.swap(swap, (lp, False, lp, False), 0, 2**255), sender=lp)
        assert ctx.tokens["DAI"].functions.balanceOf(lp).call() - before == want > 0
        await follow_and_check()
    finally:
        await client.close()
    return managed_logs, swaps


def test_pool_balance_managed_keeps_the_vaults_total(chain: Devnet) -> None:
    managed_logs, swaps = asyncio.run(_run(chain))
    assert (managed_logs, swaps) == (4, 1)
