"""Armed liquidations on the devnet: sized and simulated ahead in idle time, acted on at once.

The engine is the devnet runner's (`build_devnet_engine`, live: the public mempool executor,
the runner's Submitter.presimulate plugged in) and is fed the chain block by block by its own
NodeCollector. The seeded Aave borrower 0 and Venus borrower 0 hold WETH against USDC and sit
on their monitors' watch lists (HF in [1, 1.1)); a block later, the idle step has armed them.

- Arming: each armed plan's pre-simulated outcome succeeded with a profit, and a fresh fork
  run of its calldata at its armed answer (FeedOverride) pays the same, to the wei.
- Firing: WETH's feed drops past both triggers; the plans acted on early carry the armed
  outcome, the armed calldata but for minProfit, an expected profit equal to the fork's on the
  real post-event state, and a net >= 99% of the strategy's own full search there.
- Landing: the first plan of the conflict group goes on its pre-simulation and keeps its
  expected profit to the wei; the one behind it is simulated behind it (same pool) and keeps
  that simulation's profit.
- Staleness: a deposit by the borrower, or a swap on the sale's pool, in the feed's block drops
  the armed plan (no early opportunity); the full path still liquidates.
- Regime change: WETH far past Aave's trigger (HF < 0.95, close factor 100%): `reprice` gives
  None and the full path sizes the larger repayment.
- An answer short of the trigger fires nothing and keeps the plans armed; a later one past it
  fires the very plans armed before.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils import to_checksum_address

from tallyio.app.runner import EngineOptions, Running, build_devnet_engine
from tallyio.core.opportunity import Opportunity
from tallyio.core.plan import Plan, encode_plan
from tallyio.devnet.aave_v3_setup import artifact
from tallyio.devnet.context import DeployContext
from tallyio.devnet.deployer import load_artifact, load_forge_artifact
from tallyio.devnet.scenarios import BPS, V3_POOL, V3_ROUTER, find_pool, pct_to_bps
from tallyio.execution.pipeline import Status, Submission
from tallyio.sim import ForkSimulator, SimTx
from tallyio.sim.overrides import FeedOverride
from tallyio.strategies.armed import PAST, TRIES, Armed
from tallyio.strategies.liquidation_sizing import Candidate
from tallyio.strategies.monitored import MonitoredLiquidation

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

LIQUIDATIONS = ("aave_v3_liquidation", "venus_liquidation")
AAVE, VENUS = LIQUIDATIONS
FIRES = -5.0  # WETH %: past both triggers (Aave borrower 0 at about -4.2%, Venus 0 at -3.6%)
SHORT = -1.0  # WETH %: short of both
FAR = -12.0  # WETH %: Aave borrower 0's HF below 0.95, where the close factor is 100%


# -- the devnet ---------------------------------------------------------------------------------
def _users(chain: Devnet) -> dict[str, str]:
    """Strategy -> the seeded borrower it arms on WETH (lowercase, as the strategies key them)."""
    b = chain.manifest["borrowers"]
    return {AAVE: b["aave_v3"][0].lower(), VENUS: b["venus"][0].lower()}


def _executor(chain: Devnet) -> str:
    """A TallyExecutor owned by the searcher (deployed here: the runner's deploy_executor would
    run a whole forge build first, and the session's `deploy.up` has built the artifact)."""
    searcher = chain.account("searcher")
    contract = chain.d.deploy(load_forge_artifact("TallyExecutor"), searcher,
                              chain.manifest["tokens"]["WETH"], sender=searcher)  # fmt: skip
    return str(contract.address)


def _answer_tx(ctx: DeployContext, pct: float) -> dict[str, Any]:
    feed = ctx.feeds["WETH"]
    new = int(feed.functions.latestAnswer().call()) * (BPS + pct_to_bps(pct)) // BPS
    return {"from": ctx.deployer, "to": feed.address,
            "data": feed.functions.setAnswer(new)._encode_transaction_data()}  # fmt: skip


def _mine(chain: Devnet, tx: dict[str, Any]) -> None:
    """`tx` mined (its receipt waited for: the collector must see its block next)."""
    chain.d.send_raw_call(tx["to"], tx["data"], sender=tx["from"])


def _in_one_block(chain: Devnet, txs: list[dict[str, Any]]) -> None:
    """`txs` mined together in one block."""
    d = chain.d
    d.rpc("evm_setAutomine", False)
    try:
        for tx in txs:
            d.rpc("eth_sendTransaction", {"gas": hex(3_000_000), **tx})
        d.mine(1)
    finally:
        d.rpc("evm_setAutomine", True)
    receipts = d.rpc("eth_getBlockReceipts", "latest")
    assert [r["status"] for r in receipts] == ["0x1"] * len(txs), receipts


def _fund_supply(chain: Devnet, user: str, amount: int) -> None:
    ctx = chain.context()
    ctx.fund("WETH", to_checksum_address(user), amount)
    ctx.approve("WETH", to_checksum_address(user), chain.manifest["aave_v3"]["pool"])


def _supply_tx(chain: Devnet, user: str, amount: int) -> dict[str, Any]:
    """Aave Pool.supply of `amount` WETH by `user` for itself (_fund_supply beforehand)."""
    ctx, pool = chain.context(), chain.manifest["aave_v3"]["pool"]
    who = to_checksum_address(user)
    call = ctx.d.at(artifact("Pool"), pool).functions.supply(ctx.tokens["WETH"].address,
                                                              amount, who, 0)  # fmt: skip
    return {"from": who, "to": pool, "data": call._encode_transaction_data()}


SWAP_BUDGET = 10**13  # USDC (6 dp) the trader may spend buying WETH on a V3 pool


def _fund_swap(chain: Devnet) -> None:
    ctx = chain.context()
    ctx.fund("USDC", ctx.accounts["trader"], SWAP_BUDGET)
    ctx.approve("USDC", ctx.accounts["trader"], chain.manifest["uniswap_v3"]["router"])


def _swap_tx(chain: Devnet, pool: str, pct: float) -> dict[str, Any]:
    """A swap buying WETH with USDC on the V3 WETH/USDC `pool` until WETH's price there is up
    `pct` percent (scenarios.dislocate's, _fund_swap beforehand)."""
    ctx, ref, who = chain.context(), find_pool(chain.manifest, pool), chain.account("trader")
    assert (ref.kind, ref.symbol0, ref.symbol1) == ("uniswap_v3", "WETH", "USDC"), ref
    sqrt_price = int(ctx.d.at(load_artifact(V3_POOL), ref.address).functions.slot0().call()[0])
    limit = math.isqrt(sqrt_price * sqrt_price * (BPS + pct_to_bps(pct)) // BPS)
    params = (ctx.tokens["USDC"].address, ctx.tokens["WETH"].address, ref.fee, who, 2**63,
              SWAP_BUDGET, 0, limit)  # fmt: skip
    call = ctx.d.at(load_artifact(V3_ROUTER), ref.router).functions.exactInputSingle(params)
    return {"from": who, "to": ref.router, "data": call._encode_transaction_data()}


# -- the engine ---------------------------------------------------------------------------------
@dataclass
class Stepped:
    """The runner's engine over the devnet, stepped one collector step at a time."""

    running: Running
    armed: dict[str, dict[str, Armed]] = field(default_factory=dict)  # after the last early pass

    @property
    def strategies(self) -> dict[str, MonitoredLiquidation]:
        return {s.name: s for s in self.running.engine.strategies
                if isinstance(s, MonitoredLiquidation)}  # fmt: skip

    def arming(self, name: str) -> dict[str, Armed]:
        arming = self.strategies[name].arming
        assert arming is not None, f"{name} has no price targets to arm on"
        return arming.armed

    async def step(self) -> int:
        """The blocks mined since the last step, as the collector gives them; `armed` as the
        last block's early pass left it (before the idle step after it arms again); then
        every submission and the idle step are waited for. The last block's number."""
        events = await self.running.collector.step()
        assert events, "no new block"
        for event in events:
            await self.running.engine.handle(event)
        self.armed = {name: dict(self.arming(name)) for name in LIQUIDATIONS}
        await self.running.engine.drain()
        assert self.running.engine.block is not None
        return self.running.engine.block.block

    def results(self, user: str) -> list[tuple[Opportunity, Any]]:
        return [(o, r) for o, r in self.running.engine.stats.results
                if o.detail.get("borrower") == user]  # fmt: skip

    def best(self, name: str, user: str) -> Candidate | None:
        """The strategy's own full search for `user` on the engine's state."""
        block = self.running.engine.block
        assert block is not None
        strategy: Any = self.strategies[name].strategy
        found: Candidate | None = strategy.best(user, self.running.engine.state.view, block)
        return found


async def _engine(chain: Devnet) -> Stepped:
    manifest = {**chain.manifest, "tally_executor": _executor(chain)}
    options = EngineOptions(live=True, strategies=LIQUIDATIONS, poll_interval=0.02)
    return Stepped(await build_devnet_engine(manifest, options))


async def _armed(chain: Devnet, prepare: Callable[[], None] = lambda: None) -> Stepped:
    """The engine after `prepare` (mined before its snapshot) and one empty block: the idle
    step after that block armed the watched accounts."""
    prepare()
    e = await _engine(chain)
    chain.d.mine(1)
    await e.step()
    users = _users(chain)
    for name, user in users.items():
        assert user in e.arming(name), (name, list(e.arming(name)))
    return e


def _early(results: list[tuple[Opportunity, Any]]) -> list[tuple[Opportunity, Any]]:
    return [(o, r) for o, r in results if o.presimulated is not None]


def _included(result: Any) -> Submission:
    assert isinstance(result, Submission) and result.status is Status.INCLUDED, result
    return result


# -- arming, firing, landing: one engine run ----------------------------------------------------
@dataclass
class Fired:
    watched: dict[str, dict[str, tuple[float, float]]]  # strategy -> user -> (HF, WETH move)
    weth: int  # WETH's feed answer while armed
    armed: dict[str, Armed]  # strategy -> its user's armed plan
    armed_block: int
    override_profit: dict[str, int]  # strategy -> fork profit of the armed calldata, overridden
    event_block: int
    results: dict[str, list[tuple[Opportunity, Any]]]  # strategy -> its user's results
    fork: dict[str, tuple[bool, int]]  # strategy -> (success, profit) of the early plan alone
    best: dict[str, Candidate | None]  # strategy -> full search on the post-event state
    order: list[str]  # strategies in the order their plans were submitted
    kept: dict[str, int]  # strategy -> the executor's profit-token change over its tx's block


def _alone(
    fork: ForkSimulator, running: Running, plan: Plan, block: int,
    overrides: tuple[FeedOverride, ...] = (),
) -> tuple[bool, int]:  # fmt: skip
    """(success, profit) of `plan`'s calldata alone as the next transaction after `block`."""
    executor = running.executor_address
    tx = SimTx(running.pipeline.owner, executor, encode_plan(plan))
    out = fork.simulate_sequence([tx], plan.profit_token, executor, block, overrides=overrides)
    return out.success, out.profit


def _kept(chain: Devnet, executor: str, token: str, result: Any) -> int:
    """The executor's `token` balance change over the block `result` landed in, on chain."""
    block = getattr(result, "block", None)
    if block is None:
        return 0
    data = "0x70a08231" + executor[2:].lower().rjust(64, "0")  # balanceOf(executor)

    def at(n: int) -> int:
        return int(chain.d.rpc("eth_call", {"to": token, "data": data}, hex(n)), 16)

    return at(block) - at(block - 1)


async def _fire(chain: Devnet) -> Fired:
    users = _users(chain)
    e = await _engine(chain)
    try:
        watched = {name: {w.account: (w.health_factor, w.price_move)
                          for w in e.strategies[name].watch_list()}
                   for name in LIQUIDATIONS}  # fmt: skip
        chain.d.mine(1)
        armed_block = await e.step()
        weth = int(chain.context().feeds["WETH"].functions.latestAnswer().call())
        armed = {name: e.arming(name)[user] for name, user in users.items()}
        run = partial(_alone, ForkSimulator(chain.rpc_url), e.running)
        override = {}
        for name, a in armed.items():
            c = a.contingent
            answer = FeedOverride(c.feed, c.answer, c.decimals)
            success, profit = run(c.opportunity.plan, armed_block, (answer,))
            override[name] = profit if success else -1
        _mine(chain, _answer_tx(chain.context(), FIRES))
        event_block = await e.step()
        results = {name: e.results(user) for name, user in users.items()}
        run = partial(_alone, ForkSimulator(chain.rpc_url), e.running)  # the post-event block
        fork = {name: run(o.plan, event_block) for name, found in results.items()
                for o, _ in _early(found)}  # fmt: skip
        best = {name: e.best(name, user) for name, user in users.items()}
        order = [o.strategy for o, _ in e.running.engine.stats.results]
        kept = {name: _kept(chain, e.running.executor_address, o.plan.profit_token, r)
                for name, found in results.items() for o, r in found}  # fmt: skip
    finally:
        await e.running.close()
    return Fired(watched, weth, armed, armed_block, override, event_block, results, fork, best,
                 order, kept)  # fmt: skip


@pytest.fixture(scope="module")
def fired(devnet: Devnet) -> Iterator[Fired]:
    """One run: armed, WETH's answer past both triggers, both plans acted on early and landed
    (the chain reverted before the tests look at what was recorded)."""
    snap = devnet.snapshot()
    try:
        found = asyncio.run(_fire(devnet))
    finally:
        devnet.revert(snap)
    yield found


def test_idle_arms_the_watched_borrowers(fired: Fired) -> None:
    for name, a in fired.armed.items():
        hf, move = fired.watched[name][a.account]
        assert 1.0 <= hf < 1.1 and move < 0, (name, hf, move)
        assert a.outcome.success and a.outcome.profit > 0, (name, a.outcome)
        assert a.outcome.block == fired.armed_block
        assert a.contingent.opportunity.detail["borrower"] == a.account
        # the armed answer: WETH's, just past the move the watch list gives (PAST bps a try)
        assert a.contingent.feed == fired.armed[AAVE].contingent.feed
        trigger = fired.weth * (1 + move)
        assert trigger * (1 - TRIES * PAST / BPS) <= a.contingent.answer < trigger, name
        assert a.candidate.net > 0
        # the pre-simulation is the calldata's run at the armed answer: a fresh fork agrees
        assert fired.override_profit[name] == a.outcome.profit, name


def test_the_feed_answer_fires_the_armed_plans_priced_on_the_real_state(fired: Fired) -> None:
    for name, a in fired.armed.items():
        early = _early(fired.results[name])
        assert len(early) == 1, (name, fired.results[name])
        opp, _ = early[0]
        assert opp.presimulated is a.outcome
        assert opp.block == fired.event_block
        assert opp.detail["armed_answer"] == a.contingent.answer
        armed_plan = a.contingent.opportunity.plan
        assert replace(opp.plan, min_profit=armed_plan.min_profit) == armed_plan
        assert opp.plan.min_profit <= opp.expected_profit
        success, profit = fired.fork[name]
        assert success and profit == opp.expected_profit, (name, profit, opp.expected_profit)
        best = fired.best[name]
        assert best is not None and best.net > 0
        assert opp.detail["net_profit"] * 100 >= best.net * 99, (name, opp.detail, best.net)
        print(f"{name}: armed at {a.contingent.answer} (pre-simulated {a.outcome.profit}), "
              f"fired: expected {opp.expected_profit} = fork {profit}; net "
              f"{opp.detail['net_profit']} vs best() {best.net} (repay {a.candidate.amount} "
              f"vs {best.amount})")  # fmt: skip
        assert len(fired.results[name]) == 1, "the full pass left the fired account alone"


def test_the_armed_plans_land_with_their_expected_profit(fired: Fired) -> None:
    first, second = fired.order[:2]
    assert {first, second} == set(LIQUIDATIONS)
    (opp, result), (opp2, result2) = fired.results[first][0], fired.results[second][0]
    assert opp.touches & opp2.touches, "one conflict group: the WETH/USDC sale pool, the lender"
    landed, landed2 = _included(result), _included(result2)
    # first in its group: its pre-simulation stood in for a simulation, its profit re-priced
    assert landed.outcome is not None and landed.outcome.steps == opp.presimulated.steps
    assert landed.realised_profit == landed.outcome.profit == opp.expected_profit
    assert fired.kept[first] == opp.expected_profit  # the chain agrees, to the wei
    # second: simulated behind the first (what it adds after it), and it keeps that
    assert landed2.outcome is not None and landed2.outcome.steps != opp2.presimulated.steps
    assert landed2.realised_profit == landed2.outcome.profit == fired.kept[second] > 0
    assert landed2.block is not None and landed.block is not None
    assert landed2.block >= landed.block
    print(f"{first}: kept {fired.kept[first]} of {opp.expected_profit} expected; {second} "
          f"behind it: kept {fired.kept[second]}, simulated {landed2.outcome.profit}, "
          f"expected alone {opp2.expected_profit}")  # fmt: skip


# -- what an armed plan must not do -------------------------------------------------------------
async def _stale(
    chain: Devnet, prepare: Callable[[], None], make: Callable[[Stepped], dict[str, Any]]
) -> Stepped:
    """Armed (after `prepare`), then `make`'s transaction and WETH's answer past the triggers
    in one block."""
    e = await _armed(chain, prepare)
    try:
        _in_one_block(chain, [make(e), _answer_tx(chain.context(), FIRES)])
        await e.step()
    finally:
        await e.running.close()
    return e


def test_a_deposit_by_the_borrower_drops_its_armed_plan(chain: Devnet) -> None:
    users = _users(chain)
    amount = 10**16  # 0.01 WETH more collateral: still liquidatable after the move

    e = asyncio.run(_stale(chain, lambda: _fund_supply(chain, users[AAVE], amount),
                           lambda e: _supply_tx(chain, users[AAVE], amount)))  # fmt: skip
    assert users[AAVE] not in e.armed[AAVE], "its account moved: dropped"
    aave = e.results(users[AAVE])
    assert aave and not _early(aave), aave
    _included(aave[0][1])  # the full path still liquidates it
    venus = e.results(users[VENUS])
    assert _early(venus), "nothing the Venus plan depends on moved: it fires"


def test_a_swap_on_the_sale_pool_drops_the_armed_plans(chain: Devnet) -> None:
    users = _users(chain)

    def swap(e: Stepped) -> dict[str, Any]:
        sale = e.arming(AAVE)[users[AAVE]].candidate.sale
        assert sale is not None and sale.hops
        pool = sale.hops[0].pool
        assert pool in e.arming(VENUS)[users[VENUS]].contingent.opportunity.touches
        return _swap_tx(chain, pool, 0.5)  # WETH 0.5% dearer there: still worth selling

    e = asyncio.run(_stale(chain, lambda: _fund_swap(chain), swap))
    for name, user in users.items():
        assert user not in e.armed[name], (name, "its sale's pool moved: dropped")
        found = e.results(user)
        assert found and not _early(found), (name, found)
        _included(found[0][1])


def test_a_price_far_past_the_trigger_is_sized_afresh(chain: Devnet) -> None:
    user = _users(chain)[AAVE]

    async def run() -> tuple[Stepped, Armed, Candidate | None, Candidate | None, int]:
        e = await _armed(chain)
        try:
            armed = e.arming(AAVE)[user]
            _mine(chain, _answer_tx(chain.context(), FAR))
            await e.step()
            strategy: Any = e.strategies[AAVE].strategy
            block = e.running.engine.block
            repriced = strategy.reprice(user, armed.candidate, e.running.engine.state.view, block)
            hf = dict(e.strategies[AAVE].liquidatable)[user]
            return e, armed, repriced, e.best(AAVE, user), hf
        finally:
            await e.running.close()

    e, armed, repriced, best, hf = asyncio.run(run())
    assert hf < 95 * 10**16, hf  # Aave's close factor is 100% below HF 0.95
    assert repriced is None, "the 50% plan is not the best once the close factor is 100%"
    assert best is not None and best.amount > armed.candidate.amount
    found = e.results(user)
    assert found and not _early(found), found
    opp, result = found[0]
    assert opp.detail["amount"] > armed.candidate.amount
    assert opp.detail["debt_asset"] == armed.candidate.debt_asset
    _included(result)


def test_an_answer_short_of_the_trigger_keeps_the_plans_armed(chain: Devnet) -> None:
    users = _users(chain)

    async def run() -> tuple[Stepped, dict[str, Armed], int]:
        e = await _armed(chain)
        try:
            before = {name: e.arming(name)[user] for name, user in users.items()}
            _mine(chain, _answer_tx(chain.context(), SHORT))
            await e.step()
            short = e.running.engine.stats.opportunities
            for name, user in users.items():
                assert e.armed[name][user] is before[name], (name, "kept as it was")
                assert e.arming(name)[user] is before[name], (name, "and after the idle step")
            _mine(chain, _answer_tx(chain.context(), FIRES - SHORT))
            await e.step()
            return e, before, short
        finally:
            await e.running.close()

    e, before, short = asyncio.run(run())
    assert short == 0, "nothing is liquidatable short of the trigger"
    for name, user in users.items():
        early = _early(e.results(user))
        assert len(early) == 1, (name, e.results(user))
        assert early[0][0].presimulated is before[name].outcome  # the plan armed before
