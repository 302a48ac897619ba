"""MempoolCollector on the devnet: pending transactions decoded as PendingTx, each sent once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tallyio.chain import ChainClient
from tallyio.collectors.mempool import MempoolCollector, merge
from tallyio.core.events import PendingTx

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet


@pytest.fixture
def pending(chain: Devnet) -> Iterator[None]:
    """Automine off: sent transactions stay pending until the test mines them."""
    chain.d.rpc("evm_setAutomine", False)
    try:
        yield
    finally:
        chain.d.rpc("evm_setAutomine", True)


async def test_pending_transactions_are_decoded_and_sent_once(
    chain: Devnet, node: ChainClient, pending: None
) -> None:
    trader, lp = chain.account("trader"), chain.account("lp")
    collector = MempoolCollector(node, chain.manifest["chain_id"], poll_interval=0.01)
    assert await collector.step() == []
    h = chain.d.rpc("eth_sendTransaction", {"from": trader, "to": lp, "value": hex(12345),
                                             "data": "0xabcd", "gas": hex(60_000)})  # fmt: skip
    (tx,) = await collector.step()
    raw = chain.d.rpc("eth_getTransactionByHash", h)
    assert tx == PendingTx(
        chain.manifest["chain_id"], h.lower(), trader.lower(), lp.lower(), "0xabcd", 12345,
        60_000, int(raw["maxFeePerGas"], 16), int(raw["maxPriorityFeePerGas"], 16),
        int(raw["nonce"], 16),
    )  # fmt: skip
    assert await collector.step() == []  # still pending: not sent again
    second = chain.d.rpc("eth_sendTransaction", {"from": trader, "to": lp, "value": "0x1"})
    stream = merge(collector.events())
    got = await asyncio.wait_for(anext(stream), 10)
    await stream.aclose()
    assert got.hash == second.lower()
    chain.d.mine()
    assert await collector.step() == []  # mined: gone from the pool, nothing new
