"""The journal's PnL from what the executors really write: a real arbitrage on the devnet, run on
paper and then sent publicly, read back as trades and PnL equal to the chain's own receipt.

The arbitrage (TallyExecutor, a 3% V2 dislocation) is test_executors.py's; the opportunity row is
written here as the engine writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_executors import (  # noqa: F401 - fixtures
    GWEI,
    Arbitrage,
    _common,
    _public,
    arb,
    built,
    journal,
)

from tallyio.chain import ChainClient
from tallyio.core.opportunity import Kind
from tallyio.execution.executors import Approved, PaperExecutor, Status
from tallyio.execution.fees import FeePolicy
from tallyio.journal import JournalStore
from tallyio.sim import ForkSimulator

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet


def _found(store: JournalStore, chain: Devnet, a: Approved, profit_token: str) -> None:
    store.record_opportunity(
        a.plan_id, block=chain.d.block_number(), strategy="arbitrage", kind=Kind.ARBITRAGE,
        chain_id=chain.manifest["chain_id"], expected_profit=a.expected_profit,
        gas_estimate=a.gas_estimate, profit_token=profit_token,
    )  # fmt: skip


async def test_pnl_and_trades_match_the_chain(
    chain: Devnet,
    arb: Arbitrage,  # noqa: F811
    node: ChainClient,
    journal: JournalStore,  # noqa: F811
) -> None:
    paper = PaperExecutor(node, ForkSimulator(chain.rpc_url), owner=chain.account("searcher"),
                          **_common(chain, journal))  # fmt: skip
    dry = arb.approved(chain, plan_id="dry-run")  # paper mines nothing: name it apart
    _found(journal, chain, dry, arb.usdc)
    assert (await paper.execute(dry)).status is Status.SIMULATED
    live = arb.approved(chain, plan_id="live", fee_policy=FeePolicy(priority_fee=GWEI))
    _found(journal, chain, live, arb.usdc)
    result = await _public(chain, node, journal).execute(live)
    assert result.status is Status.INCLUDED, result.reason
    receipt = chain.d.rpc("eth_getTransactionReceipt", result.tx_hash)
    gas_wei = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)

    (row,) = journal.pnl()
    assert (row.strategy, row.chain_id, row.token) == (
        "arbitrage", chain.manifest["chain_id"], arb.usdc.lower(),
    )  # fmt: skip
    assert (row.trades, row.included, row.simulated, row.reverted, row.missed) == (2, 1, 1, 0, 0)
    assert row.realised_profit == result.realised_profit == arb.expected_profit
    assert row.gas_used == result.gas_used and row.gas_spent_wei == gas_wei
    assert row.gas_cost == -(-gas_wei * arb.eth_price // 10**18)  # in USDC, rounded up
    assert row.net_profit == result.realised_profit - row.gas_cost > 0  # type: ignore[operator]

    landed, dry_run = journal.trades()
    assert (landed["plan_id"], landed["tx_hash"], landed["mode"]) == (
        live.plan_id, result.tx_hash, "public",
    )  # fmt: skip
    assert (dry_run["plan_id"], dry_run["status"], dry_run["mode"]) == (
        dry.plan_id, "simulated", "paper",
    )  # fmt: skip
    assert [o["plan_id"] for o in journal.opportunities(strategy="arbitrage")] == [
        live.plan_id, dry.plan_id,
    ]  # fmt: skip
