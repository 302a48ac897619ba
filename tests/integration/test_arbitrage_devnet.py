"""ArbitrageStrategy on the devnet: random dislocations, the strategy's best cycle against an
independent brute force, then the plan sent to a real TallyExecutor and its profit realised.

For each seed: snapshot every pool, dislocate, snapshot again and hand the strategy the deltas
between the two (what MarketState would emit). The brute force here enumerates every cycle of
2-4 hops from a lendable token by itself and sizes each on a log grid refined by ternary
search on the exact models (tests/arbitrage_bruteforce.py); the strategy's best must reach 95%
of its best (in wei), and the plan, sent from the searcher, must earn exactly what the strategy
expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from arbitrage_bruteforce import brute_force
from tallyio.chain import ChainClient
from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.core.plan import FlashSource, encode_plan
from tallyio.devnet.context import TOKENS, forge_build
from tallyio.devnet.deployer import load_forge_artifact
from tallyio.devnet.scenarios import random_dislocations
from tallyio.state.pool_loader import Snapshot, load_pools, sources_from_manifest
from tallyio.state.store import Delta
from tallyio.strategies.arbitrage import ArbitrageConfig, ArbitrageStrategy

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

SEEDS = (11, 22, 33)
GWEI = 10**9


@pytest.fixture(scope="module")
def built() -> None:
    forge_build()


@pytest.fixture
def searcher_executor(chain: Devnet, built: None) -> Iterator[str]:
    searcher = chain.account("searcher")
    weth = chain.manifest["tokens"]["WETH"]
    contract = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher, weth,
                              sender=searcher)  # fmt: skip
    yield contract.address


def _config(manifest: dict[str, Any]) -> ArbitrageConfig:
    aave = manifest["aave_v3"]
    return ArbitrageConfig(
        balancer_vault=manifest["balancer_v2"]["vault"],
        balancer_fee=int(manifest["balancer_v2"]["flash_loan_fee_percentage"]),
        aave_pool=aave["pool"],
        aave_premium_bps=int(aave["flashloan_premium_bps"]),
        aave_tokens=frozenset(a.lower() for a in manifest["tokens"].values()),
        max_candidates=10_000,
        max_opportunities=10_000,
    )


def _block(chain: Devnet) -> BlockContext:
    """The next block's fees and each token's units per ETH from the devnet's feeds."""
    ctx, manifest = chain.context(), chain.manifest
    head = chain.d.rpc("eth_getBlockByNumber", "latest", False)
    usd = {s: int(f.functions.latestAnswer().call()) for s, f in ctx.feeds.items()}
    decimals = {s: TOKENS.get(s, ("", 18))[1] for s in manifest["tokens"]}
    prices = {
        manifest["tokens"][s].lower(): 10 ** decimals[s] * usd["WETH"] // usd[s]
        for s in manifest["tokens"]
        if s in usd
    }
    return BlockContext(manifest["chain_id"], int(head["number"], 16), int(head["timestamp"], 16),
                        int(head["baseFeePerGas"], 16), GWEI, prices)  # fmt: skip


async def _snapshot(chain: Devnet, node: ChainClient) -> Snapshot:
    sources = sources_from_manifest(chain.manifest)
    return await load_pools(node, chain.manifest["multicall"], sources)


def _deltas(before: Snapshot, after: Snapshot) -> list[Delta]:
    return [
        Delta(after.block, key, before.entries.get(key), value)
        for key, value in after.entries.items()
        if before.entries.get(key) != value
    ]


# -- the test ---------------------------------------------------------------------------------
def _send(chain: Devnet, executor: str, opportunity: Opportunity) -> int:
    """Send the plan from the searcher; returns the executor's profit-token gain."""
    token = chain.d.at(_ERC20, opportunity.profit_token)
    held = int(token.functions.balanceOf(executor).call())
    data = "0x" + encode_plan(opportunity.plan).hex()
    chain.d.send_raw_call(executor, data, sender=chain.account("searcher"))
    return int(token.functions.balanceOf(executor).call()) - held


_ERC20 = [
    {"name": "balanceOf", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
]  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
async def test_best_cycle_lands_and_matches_the_brute_force(
    chain: Devnet, node: ChainClient, searcher_executor: str, seed: int
) -> None:
    config = _config(chain.manifest)
    before = await _snapshot(chain, node)
    strategy = ArbitrageStrategy.from_entries(config, before.entries)
    random_dislocations(chain.context(), seed, 3)
    after = await _snapshot(chain, node)
    block = _block(chain)
    found = strategy.process(_deltas(before, after), after.market_state().view, block)
    reference = brute_force(after.entries, config, block)
    assert reference > 0, "the dislocations left nothing to take"
    assert found, f"seed {seed}: brute force found {reference} wei, the strategy nothing"
    best = found[0]
    assert best.profit_wei() * 100 >= 95 * reference, (best.profit_wei(), reference)
    for opportunity in found:  # nothing it emits loses money at the block's gas price
        assert opportunity.net_profit(block.gas_price) > 0
        assert opportunity.plan.min_profit >= opportunity.detail["gas_cost"]
        assert opportunity.plan.loan.source is not FlashSource.NONE
    realised = _send(chain, searcher_executor, best)
    assert realised == best.expected_profit, best.detail
    assert math.isfinite(best.profit_wei())
