"""The liquidation engine end to end on the devnet (issue: liquidation engine, done-when).

The engine runs LIVE on the devnet (`run_session`, the same code as `tallyio run --live` and
`make demo`) with 1-second blocks (interval mining, as a real chain has block times), while a
seeded scenario drops collateral prices step by step. After each price update, mined in block P,
the test itself reads the chain at P and, with the exact models and an independent router,
finds every account with a profitable liquidation and its optimum (tests/liquidation_optimum.py:
every debt asset x collateral asset x amount on a grid). Then it holds the engine to:
- every such account liquidated by us within 2 blocks of P;
- our first transaction after P realising >= 99% of that account's optimum (kept profit less the
  gas actually paid; later ones in the same block share pools with it, so they must only win);
- no transaction of ours losing money, and nothing sent that its simulation did not show
  profitable after gas (the journal: every sent plan has a profitable simulation).
A competing liquidator that takes the same account with a higher tip in the same block leaves
our transaction reverted cheaply or unsent, and the engine goes on liquidating afterwards.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils import to_checksum_address

from direct_router import direct_router
from liquidation_optimum import (
    aave_optimum,
    block_context,
    liquidation_config,
    load_state,
    venus_optimum,
)
from tallyio.app.report import LiveReport
from tallyio.app.runner import EngineOptions, Running
from tallyio.app.session import run_session, settle
from tallyio.devnet.context import DeployContext
from tallyio.devnet.scenarios import block_time
from tallyio.execution.pipeline import Status
from tallyio.journal import JournalStore
from tallyio.paths import repo_root
from tallyio.state.store import StateView

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = [pytest.mark.devnet, pytest.mark.slow]

GWEI = 10**9
STEPS = 6


@dataclass
class Step:
    block: int  # the price update's block
    optimum: dict[str, int] = field(default_factory=dict)  # account -> best net (wei)


def _interval_mining(chain: Devnet, seconds: int) -> None:
    block_time(chain.d, seconds)


def _shocks(seed: int) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    return [(rng.choice(("WETH", "WBTC")), -rng.uniform(2.0, 5.0)) for _ in range(STEPS)]


async def _optimum(m: dict[str, Any], block: int) -> dict[str, int]:
    """Every seeded borrower with a profitable liquidation at `block`, and its optimum (wei)."""
    lending, pools, raw = await load_state(m, block)
    view, ctx = StateView({**pools, **lending}), block_context(m, lending, raw)
    addresses = [k[1] for k in pools if isinstance(k, tuple) and k[0] == "pool"]
    cfg = liquidation_config(m, pools, direct_router(addresses, m["balancer_v2"]["vault"]))
    out = {}
    for users, optimum in ((m["borrowers"]["aave_v3"], aave_optimum),
                           (m["borrowers"]["venus"], venus_optimum)):  # fmt: skip
        for user in users:
            best = await asyncio.to_thread(optimum, m, view, ctx, cfg, [user])
            if best > 0:
                out[user.lower()] = best
    return out


def _set_price(ctx: DeployContext, symbol: str, pct: float) -> int:
    """Move a feed by `pct` percent; the block the update was mined in."""
    feed = ctx.feeds[symbol]
    new = int(feed.functions.latestAnswer().call()) * round(10_000 + pct * 100) // 10_000
    receipt = ctx.d.send(feed.functions.setAnswer(new), sender=ctx.deployer)
    return int(receipt["blockNumber"], 16)


def _options(tmp: Path) -> EngineOptions:
    # The liquidation strategies alone: arbitrage beside them is tests/e2e/test_arbitrage_engine.py
    return EngineOptions(live=True, journal_path=tmp / "journal.db", state_dir=tmp,
                         risk_config=repo_root() / "config" / "risk" / "devnet.toml",
                         poll_interval=0.02,
                         strategies=("aave_v3_liquidation", "venus_liquidation"))  # fmt: skip


def _landed(running: Running) -> list[tuple[Any, Any]]:
    return [(o, r) for o, r in running.engine.stats.results
            if getattr(r, "status", None) is Status.INCLUDED]  # fmt: skip


def _net_wei(chain: Devnet, landed: list[tuple[Any, Any]], tx_hash: str) -> int:
    """One transaction's net in wei: its parts' realised profits (a batch's parts each carry
    their share; app/batch_results.py) less the gas its receipt paid, once."""
    receipt = chain.d.rpc("eth_getTransactionReceipt", tx_hash)
    gas = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    parts = [(o, r) for o, r in landed if r.tx_hash == tx_hash]
    return sum(int(r.realised_profit) * 10**18 // o.eth_price for o, r in parts) - gas


def _history(running: Running) -> list[tuple[Any, ...]]:
    """What the engine did, for a failure message."""
    out: list[tuple[Any, ...]] = [("rejected", dict(running.engine.stats.rejected))]
    for opp, r in running.engine.stats.results:
        out.append((opp.detail.get("borrower"), opp.block, getattr(r, "block", None),
                    str(getattr(r, "status", r)), getattr(r, "reason", "")))  # fmt: skip
    return out


def _check_journal(path: Path) -> None:
    """Every plan that was sent had a simulation that succeeded with a net profit after gas."""
    with JournalStore(path) as journal:
        sims = {r["plan_id"]: r for r in journal.rows("simulations")}
        sent = [r for r in journal.rows("submissions") if r["status"] == "sent"]
        assert sent, "the engine sent nothing"
        for row in sent:
            sim = sims[row["plan_id"]]
            assert sim["success"] and sim["payload"]["net_profit"] > 0, sim


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_every_profitable_liquidation_lands_within_two_blocks(
    chain: Devnet, tmp_path: Path, seed: int
) -> None:
    m, ctx = chain.manifest, chain.context()
    steps: list[Step] = []

    async def scenario(running: Running) -> None:
        for symbol, pct in _shocks(seed):
            await settle(running)
            block = await asyncio.to_thread(_set_price, ctx, symbol, pct)
            steps.append(Step(block, await _optimum(m, block)))
            await settle(running)

    _interval_mining(chain, 1)
    try:
        running = asyncio.run(run_session(m, _options(tmp_path), LiveReport(quiet=True),
                                          scenario))  # fmt: skip
    finally:
        _interval_mining(chain, 0)
    landed = _landed(running)
    assert not [r for _, r in running.engine.stats.results
                if getattr(r, "status", None) is Status.REVERTED]  # fmt: skip
    liquidated = 0
    for step in steps:
        mine = [(o, r) for o, r in landed if step.block < r.block <= step.block + 2]
        for account, optimum in step.optimum.items():
            hits = [(o, r) for o, r in mine if o.detail.get("borrower") == account]
            assert hits, (
                f"seed {seed}: {account} liquidatable at {step.block}, not liquidated",
                _history(running),
            )
            _, result = min(hits, key=lambda h: h[1].block)
            first = min(r.block for _, r in mine)
            net = _net_wei(chain, landed, result.tx_hash)
            assert net > 0
            if result.block == first and len([h for h in mine if h[1].block == first]) == 1:
                assert net * 100 >= optimum * 99, (seed, account, net, optimum)
            liquidated += 1
    for tx_hash in {r.tx_hash for _, r in landed}:
        assert _net_wei(chain, landed, tx_hash) > 0  # nothing of ours lost money
    assert liquidated >= 2, f"seed {seed}: the scenario liquidated too little to prove much"
    _check_journal(tmp_path / "journal.db")


# -- a competing liquidator ---------------------------------------------------------------------
MAX_UINT = 2**256 - 1


async def _aave_targets(m: dict[str, Any], block: int) -> list[tuple[str, str, str]]:
    """(user, collateral, debt) of every seeded Aave borrower under HF 1 at `block`: the
    largest collateral and the largest debt, as a plain liquidator script would pick."""
    from tallyio.protocols import aave_v3 as aave
    from tallyio.state.position_loader import refs_from_manifest
    from tallyio.state.positions import aave_inputs, account_key

    lending, _, raw = await load_state(m, block)
    aref, _, _ = refs_from_manifest(m)
    reserves, emodes = aave_inputs(lending.get, aref)
    ts, out = int(raw["timestamp"], 16), []
    for user in m["borrowers"]["aave_v3"]:
        account = lending.get(account_key("aave_v3", aref.pool, user.lower()))
        if account is None:
            continue
        data = aave.calculate_user_account_data(reserves, account, ts,
                                                emodes.get(account.emode_category))  # fmt: skip
        if data.health_factor >= 10**18:
            continue

        def value(p: Any, debt: bool) -> int:
            r = reserves[p.asset]
            amount = p.scaled_variable_debt if debt else p.scaled_a_token_balance
            return amount * r.price // 10**r.decimals

        coll = max((p for p in account.positions if p.using_as_collateral),
                   key=lambda p: value(p, False))  # fmt: skip
        debt = max((p for p in account.positions if p.borrowing), key=lambda p: value(p, True))
        out.append((user, coll.asset, debt.asset))
    return out


def _arm_competitor(chain: Devnet, targets: list[tuple[str, str, str]]) -> None:
    """Fund and approve the competitor beforehand, as a running script would be."""
    ctx, m, who = chain.context(), chain.manifest, chain.account("competitor")
    symbols = {a.lower(): s for s, a in m["tokens"].items()}
    for _, _, debt in targets:
        symbol = symbols[debt.lower()]
        ctx.fund(symbol, who, ctx.units(symbol, 1_000_000))
        ctx.approve(symbol, who, m["aave_v3"]["pool"])


def _compete(chain: Devnet, targets: list[tuple[str, str, str]]) -> list[str]:
    """The competitor liquidates each target with a 50 gwei tip (ours bids 1 gwei)."""
    who, pool = chain.account("competitor"), chain.manifest["aave_v3"]["pool"]
    aave_pool = chain.d.at(_pool_artifact(), pool)
    sent = []
    for user, coll, debt in targets:
        data = aave_pool.functions.liquidationCall(
            to_checksum_address(coll), to_checksum_address(debt), to_checksum_address(user),
            MAX_UINT, False,
        )  # fmt: skip
        tx = {"from": who, "to": pool, "data": data._encode_transaction_data(),
              "gas": hex(2_000_000), "maxPriorityFeePerGas": hex(50 * GWEI),
              "maxFeePerGas": hex(500 * GWEI)}  # fmt: skip
        sent.append(str(chain.d.rpc("eth_sendTransaction", tx)))
    return sent


def _pool_artifact() -> Any:
    from tallyio.devnet.aave_v3_setup import artifact

    return artifact("Pool")


def test_a_competing_liquidator_leaves_us_a_cheap_revert_or_nothing(
    chain: Devnet, tmp_path: Path
) -> None:
    m, ctx = chain.manifest, chain.context()
    contested: list[tuple[str, str, str]] = []
    competitor_txs: list[str] = []
    after: list[int] = []

    # The competitor's homework, before the engine starts: what the shock will make liquidatable.
    snap = chain.d.rpc("evm_snapshot")
    contested.extend(asyncio.run(_aave_targets(m, _set_price(ctx, "WETH", -8.0))))
    chain.d.rpc("evm_revert", snap)
    _arm_competitor(chain, contested)

    async def scenario(running: Running) -> None:
        await settle(running)
        # The shock; the competitor sends the moment it is mined, tipping 50x ours.
        await asyncio.to_thread(_set_price, ctx, "WETH", -8.0)
        competitor_txs.extend(await asyncio.to_thread(_compete, chain, contested))
        await settle(running)
        # The engine goes on: a later shock is liquidated as usual.
        after.append(await asyncio.to_thread(_set_price, ctx, "WBTC", -8.0))
        await settle(running)

    _interval_mining(chain, 2)
    try:
        running = asyncio.run(run_session(m, _options(tmp_path), LiveReport(quiet=True),
                                          scenario))  # fmt: skip
    finally:
        _interval_mining(chain, 0)
    assert contested, "the shock must make an Aave borrower liquidatable"
    for h in competitor_txs:
        receipt = chain.d.rpc("eth_getTransactionReceipt", h)
        assert receipt["status"] == "0x1", (receipt["blockNumber"], _history(running))
    users = {u.lower() for u, _, _ in contested}
    ours = [(o, r) for o, r in running.engine.stats.results if o.detail.get("borrower") in users]
    for opp, result in ours:
        status = getattr(result, "status", None)
        if status is Status.REVERTED:  # lost the race: it must have cost little
            receipt = chain.d.rpc("eth_getTransactionReceipt", result.tx_hash)
            assert int(receipt["gasUsed"], 16) < opp.gas_estimate, receipt["gasUsed"]
        else:  # never sent, or still worth it after the competitor's
            assert status in (Status.REJECTED, Status.INCLUDED), result
            if status is Status.INCLUDED:
                assert _net_wei(chain, _landed(running), result.tx_hash) > 0
    later = [r for _, r in _landed(running) if r.block > after[0]]
    assert later, ("the engine stopped liquidating after the race", _history(running))
