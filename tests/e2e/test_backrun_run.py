"""Backruns in the runnable engine: `run_session` (the code behind `tallyio run --relay devnet`)
builds the engine with the backrun strategy, the mempool collector merged with the node's, the
preview hook and the bundle executor, and starts a DevnetRelay for the run.

A large pending user swap (automine off) is then backrun by the engine on its own:
- live: the block holds exactly the user's transaction, then ours; the user's output equals
  the same swap alone on the parent block; our realised profit equals the simulated and the
  expected; every submission of ours went to the relay (the journal), none to the public pool;
- paper: the backrun is simulated behind the user's transaction and journaled; nothing is
  sent (our account's nonce does not move, the user's swap is still pending alone).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tallyio.app.report import LiveReport
from tallyio.app.runner import EngineOptions, Running
from tallyio.app.session import run_session
from tallyio.core.opportunity import Kind
from tallyio.devnet.scenarios import find_pool, pending_victim_swap
from tallyio.execution.pipeline import Status
from tallyio.journal import JournalStore
from tallyio.paths import repo_root
from tallyio.sim import ForkSimulator, SimTx
from tallyio.strategies.backrun import leading_tx

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

USDC = 10**6
SWAP_USDC = 250_000 * USDC  # an eighth of the Uniswap V2 WETH/USDC pair's USDC side


@pytest.fixture
def automine(chain: Devnet) -> Iterator[None]:
    try:
        yield
    finally:
        chain.d.rpc("evm_setAutomine", True)  # the pending swap turned it off


def _options(tmp: Path, *, live: bool) -> EngineOptions:
    return EngineOptions(live=live, journal_path=tmp / "journal.db", state_dir=tmp,
                         risk_config=repo_root() / "config" / "risk" / "devnet.toml",
                         poll_interval=0.02, strategies=("backrun",),
                         relay_urls=("devnet",))  # fmt: skip


async def _until(what: Callable[[], Any], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _pair(chain: Devnet) -> tuple[str, bool]:
    venue = next(v for v in chain.manifest["uniswap_v2"] if v["name"] == "uniswap_v2")
    pair = next(p for p in venue["pairs"] if {p["symbol0"], p["symbol1"]} == {"WETH", "USDC"})
    return pair["address"], find_pool(chain.manifest, pair["address"]).symbol0 == "USDC"


def _balance(chain: Devnet, symbol: str, who: str, block: int | str = "latest") -> int:
    token = chain.context().tokens[symbol]
    return int(token.functions.balanceOf(who).call(block_identifier=block))


def _scenario(chain: Devnet, sent: list[Any], *, wait_landed: bool) -> Any:
    """Sends the user's swap; `sent` gets its hash and our account's nonce just before it."""
    pair, usdc_first = _pair(chain)
    searcher = chain.account("searcher")

    async def scenario(running: Running) -> None:
        sent.append(chain.d.rpc("eth_getTransactionCount", searcher, "pending"))
        await asyncio.to_thread(chain.d.mine)  # one block the engine sees: prices and fees
        await _until(lambda: running.engine.block is not None)
        h = await asyncio.to_thread(pending_victim_swap, chain.context(), pair, SWAP_USDC,
                                    zero_for_one=usdc_first, sender="trader")  # fmt: skip
        sent.append(h)
        await _until(lambda: running.engine.stats.results)
        if wait_landed:
            landed = running.engine.stats.results[0][1].block or 0
            await _until(lambda: running.engine.state.block >= landed)

    return scenario


def test_the_runner_backruns_a_large_pending_swap_in_its_block_through_the_relay(
    chain: Devnet, tmp_path: Path, automine: None
) -> None:
    sent: list[Any] = []
    running = asyncio.run(run_session(chain.manifest, _options(tmp_path, live=True),
                                      LiveReport(quiet=True),
                                      _scenario(chain, sent, wait_landed=True)))  # fmt: skip
    _, h = sent
    (opp, result), *_ = running.engine.stats.results
    assert opp.kind is Kind.BACKRUN and leading_tx(opp) == h.lower()
    assert result.status is Status.INCLUDED, result.reason
    assert result.mode == "bundle"
    block = chain.d.rpc("eth_getBlockByNumber", hex(result.block), False)
    assert [t.lower() for t in block["transactions"]] == [h.lower(), result.tx_hash.lower()]

    # the user's output, exactly as the same swap alone on a fork of the parent block
    user = chain.account("trader")
    tx = chain.d.rpc("eth_getTransactionByHash", h)
    alone = ForkSimulator(chain.rpc_url).simulate(
        SimTx(user, tx["to"], bytes.fromhex(tx["input"][2:]), 0, int(tx["gas"], 16)),
        chain.manifest["tokens"]["WETH"], user, result.block - 1,
    )  # fmt: skip
    got = _balance(chain, "WETH", user, result.block) - _balance(
        chain, "WETH", user, result.block - 1
    )
    assert alone.success and got == alone.profit > 0

    # our profit: realised on chain == simulated behind the user's swap == the strategy's
    executor = running.executor_address
    tokens = {a.lower(): s for s, a in chain.manifest["tokens"].items()}
    token = tokens[opp.profit_token.lower()]
    held = _balance(chain, token, executor, result.block) - _balance(
        chain, token, executor, result.block - 1
    )
    assert result.outcome is not None
    assert held == result.realised_profit == result.outcome.profit == opp.expected_profit > 0

    # every submission of ours went to the relay as a bundle: none to the public mempool
    with JournalStore(tmp_path / "journal.db") as journal:
        rows = journal.rows("submissions")
    assert rows and {r["mode"] for r in rows} == {"bundle"}, rows


def test_paper_backruns_are_simulated_behind_the_users_swap_and_nothing_is_sent(
    chain: Devnet, tmp_path: Path, automine: None
) -> None:
    sent: list[Any] = []
    running = asyncio.run(run_session(chain.manifest, _options(tmp_path, live=False),
                                      LiveReport(quiet=True),
                                      _scenario(chain, sent, wait_landed=False)))  # fmt: skip
    nonce, h = sent
    (opp, result), *_ = running.engine.stats.results
    assert opp.kind is Kind.BACKRUN and leading_tx(opp) == h.lower()
    assert result.status is Status.SIMULATED and result.mode == "paper", result.reason
    assert result.outcome is not None and result.outcome.profit > 0
    assert result.net_profit is not None and result.net_profit > 0
    # nothing sent: our nonce did not move, and the user's swap waits alone in the pool
    assert chain.d.rpc("eth_getTransactionCount", chain.account("searcher"), "pending") == nonce
    assert chain.d.rpc("eth_getTransactionByHash", h)["blockNumber"] is None
    pool = chain.d.rpc("txpool_content")["pending"]
    assert [t["hash"].lower() for by in pool.values() for t in by.values()] == [h.lower()]
    with JournalStore(tmp_path / "journal.db") as journal:
        sims = [r for r in journal.rows("simulations") if r["plan_id"] == result.plan_id]
        subs = [r for r in journal.rows("submissions") if r["plan_id"] == result.plan_id]
    assert sims and sims[0]["success"]
    assert [r["status"] for r in subs] == ["simulated"] and subs[0]["mode"] == "paper"
