"""Run CrossChainArbitrage over two devnets: follow both, trade both legs, journal the imbalance.

    NodeCollector (chain A) -> MarketState A --+
                                               +-> CrossChainArbitrage -> leg A -> executor A
    NodeCollector (chain B) -> MarketState B --+                        -> leg B -> executor B

Each chain keeps its own pool state, moved only by its own events; the strategy runs whenever
either chain's head moves (and once at start). The two legs go out concurrently, each through
its chain's own pipeline (simulate, fees, nonce, sign, send; paper by default). They are not
atomic: one may land while the other is refused or reverts. The journal says what happened:
each leg's opportunity, simulation, submission and inclusion (plan id = the leg's plan key),
then one decision row for the pair at stage "cross_chain" (the plan) and one at stage
"rebalance" (what the legs actually did: the imbalance per chain and token, the transfers
that restore each chain's inventory, the net; `approved` only when both legs landed, else
the reason: paper, nothing landed, or one leg alone and an unhedged position). Inventory is
read back from the chain after each trade, so the exposure budget follows what is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tallyio.app.runner import EngineOptions, deploy_executor, make_pipeline
from tallyio.chain import ChainClient, build_client
from tallyio.chain.reorg import block_from_rpc
from tallyio.collectors.node import NodeCollector
from tallyio.core.engine import plan_key
from tallyio.core.events import Block, BlockEnd, Log, Reorg
from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.execution.executors import Approved
from tallyio.execution.fees import FeePolicy
from tallyio.execution.pipeline import Pipeline, Status, Submission
from tallyio.execution.signer import SecretKey, Signer
from tallyio.execution.submit import head, token_balances
from tallyio.journal import JournalStore
from tallyio.risk.config import ExposureLimit
from tallyio.risk.exposure import Exposure, ExposureError, Reservation
from tallyio.state.pool_loader import load_pools, sources_from_manifest
from tallyio.state.pools import pool_handlers
from tallyio.state.store import MarketState
from tallyio.strategies.cross_chain import (
    ChainSide,
    CrossChainArbitrage,
    CrossTrade,
    Rebalance,
    leg_changes,
    rebalance,
)

log = logging.getLogger(__name__)
GWEI = 10**9


@dataclass(slots=True)
class CrossChainOptions:
    live: bool = False  # paper (simulate and journal only) unless asked
    priority_fee: int = GWEI
    journal_path: Path | None = None
    poll_interval: float = 0.05
    limits: Sequence[ExposureLimit] = ()  # a token without a limit funds nothing


@dataclass(slots=True)
class Chain:
    """One chain's plugs and its state."""

    chain_id: int
    client: ChainClient
    state: MarketState
    collector: NodeCollector
    executor: str
    pipeline: Pipeline
    block: BlockContext
    tokens: tuple[str, ...]  # lowercase tokens the strategy spends here


@dataclass(frozen=True, slots=True)
class CrossResult:
    trade: CrossTrade
    buy: Submission | BaseException
    sell: Submission | BaseException
    done: Rebalance  # what the legs actually did


@dataclass(slots=True)
class CrossChainRunner:
    strategy: CrossChainArbitrage
    chains: dict[int, Chain]
    exposure: Exposure
    journal: JournalStore | None = None
    priority_fee: int = GWEI
    results: list[CrossResult] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _followers: list[asyncio.Task[None]] = field(default_factory=list)

    # -- following both chains --------------------------------------------------------------
    async def _follow(self, chain: Chain) -> None:
        async for event in chain.collector.events():
            if isinstance(event, Block):
                chain.state.apply(event)
                chain.block = _context(event, self.priority_fee)
            elif isinstance(event, Log | Reorg):
                chain.state.apply(event)
            elif isinstance(event, BlockEnd) and event.head:
                self._changed.set()

    async def run(
        self, *, max_trades: int | None = None, stop: asyncio.Event | None = None
    ) -> list[CrossResult]:
        """Follow both chains and trade until `max_trades` trades or `stop` (bound the wall
        time with `asyncio.timeout` around it)."""
        self._followers = [asyncio.create_task(self._follow(c)) for c in self.chains.values()]
        try:
            await self._loop(max_trades, stop)
        finally:
            for task in self._followers:
                task.cancel()
            await asyncio.gather(*self._followers, return_exceptions=True)
        return self.results

    def _check_followers(self) -> None:
        """A chain we no longer follow means a stale state: stop, loudly."""
        for task in self._followers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError("cross-chain runner: a chain follower failed") from (
                    task.exception()
                )

    async def _loop(self, max_trades: int | None, stop: asyncio.Event | None) -> None:
        await self.refresh_inventory()
        self._changed.set()
        while (max_trades is None or len(self.results) < max_trades) and not (
            stop is not None and stop.is_set()
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.25)
            self._check_followers()
            if not self._changed.is_set():
                continue
            self._changed.clear()
            for trade in self.strategy.process(self.sides())[
                :1
            ]:  # one in flight: inventory is shared
                self.results.append(await self.trade(trade))
                await self._caught_up()

    def sides(self) -> dict[int, ChainSide]:
        """What the strategy sees now: each chain's state, block and spendable budget."""
        return {cid: self._side(c) for cid, c in self.chains.items()}

    def _side(self, chain: Chain) -> ChainSide:
        budget = {}
        for token in chain.tokens:
            held = self.exposure.inventory(chain.chain_id, token) or 0
            limit = self.exposure.limit(chain.chain_id, token) or 0
            budget[token] = max(
                0, min(held, limit) - self.exposure.in_flight(chain.chain_id, token)
            )
        return ChainSide(chain.state.view, chain.block, budget)

    async def refresh_inventory(self) -> None:
        """Each executor's balance of every token it may spend, read from its chain."""
        for chain in self.chains.values():
            number = await head(chain.client)
            for token in chain.tokens:
                (held,) = await token_balances(chain.client, token, chain.executor, [number])
                self.exposure.set_inventory(chain.chain_id, token, held)

    async def _caught_up(self) -> None:
        """Wait until each chain's state has reached the head it had after the trade, so the
        next evaluation sees the legs' own effect on the pools."""
        for chain in self.chains.values():
            target = await head(chain.client)
            while chain.state.block < target:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.25)
                self._check_followers()
        self._changed.set()

    # -- one trade, both legs ---------------------------------------------------------------
    async def trade(self, trade: CrossTrade) -> CrossResult:
        legs = (trade.buy, trade.sell)
        pair_id = _pair_id(trade)
        self._record_plan(trade, pair_id)
        reservations: list[Reservation | None] = []
        for opp in legs:
            try:
                reservations.append(self._reserve(opp))
            except ExposureError as exc:  # the budget moved since sizing: send neither leg
                for r in reservations:
                    if r is not None:
                        self.exposure.release(r)
                refused = rebalance(trade.pair, {})
                self._journal("record_decision", pair_id, stage="rebalance", approved=False,
                              reason=f"not sent: {exc}", payload=refused.as_dict())  # fmt: skip
                return CrossResult(trade, exc, exc, refused)
        sent = await asyncio.gather(*(self._send(o) for o in legs), return_exceptions=True)
        outcomes = [_realised(s) for s in sent]
        for reservation, realised in zip(reservations, outcomes, strict=True):
            if reservation is not None:
                if realised is None:
                    self.exposure.release(reservation)
                else:
                    self.exposure.settle(reservation, 0)
        done = rebalance(trade.pair, leg_changes(trade, list(zip(legs, outcomes, strict=True))))
        self._record_done(trade, pair_id, sent, done)
        await self.refresh_inventory()
        return CrossResult(trade, sent[0], sent[1], done)

    def _reserve(self, opp: Opportunity) -> Reservation:
        return self.exposure.reserve(opp.chain_id, str(opp.detail["token_in"]),
                                     int(opp.detail["amount_in"]))  # fmt: skip

    async def _send(self, opp: Opportunity) -> Submission:
        chain = self.chains[opp.chain_id]
        approved = Approved(opp.plan, chain.executor, opp.expected_profit, opp.gas_estimate,
                            opp.block + 1, fee_policy=FeePolicy(priority_fee=self.priority_fee),
                            eth_price=opp.eth_price, strategy=opp.strategy,
                            plan_id=plan_key(opp))  # fmt: skip
        return await chain.pipeline.execute(approved)

    # -- journal ----------------------------------------------------------------------------
    def _journal(self, method: str, key: str, **kw: Any) -> None:
        if self.journal is not None:
            getattr(self.journal, method)(key, **kw)

    def _record_plan(self, trade: CrossTrade, pair_id: str) -> None:
        for opp in (trade.buy, trade.sell):
            self._journal("record_opportunity", plan_key(opp), block=opp.block,
                          strategy=opp.strategy, expected_profit=opp.expected_profit,
                          kind=opp.kind.name.lower(), chain_id=opp.chain_id,
                          gas_estimate=opp.gas_estimate, profit_token=opp.profit_token,
                          touches=opp.touches,
                          payload={**{k: str(v) for k, v in opp.detail.items()},
                                   "pair_id": pair_id})  # fmt: skip
        self._journal("record_decision", pair_id, stage="cross_chain", approved=True, payload={
            "pair": trade.pair, "buy": plan_key(trade.buy), "sell": plan_key(trade.sell),
            "quote_in": str(trade.quote_in), "base_out": str(trade.base_out),
            "quote_out": str(trade.quote_out), "profit": str(trade.profit),
            "gas_cost": str(trade.gas_cost), "planned": trade.planned.as_dict(),
        })  # fmt: skip

    def _record_done(
        self, trade: CrossTrade, pair_id: str, sent: Sequence[Any], done: Rebalance
    ) -> None:
        legs = {name: {"plan_id": plan_key(opp), "chain_id": opp.chain_id, **_status(s)}
                for name, opp, s in zip(("buy", "sell"), (trade.buy, trade.sell), sent,
                                        strict=True)}  # fmt: skip
        approved, reason = _verdict(done, sent)
        self._journal("record_decision", pair_id, stage="rebalance", approved=approved,
                      reason=reason, payload={**done.as_dict(), "legs": legs,
                                              "planned": trade.planned.as_dict()})  # fmt: skip


def _verdict(done: Rebalance, sent: Sequence[Any]) -> tuple[bool, str]:
    """Approved: both legs landed and the suggested transfers settle the books."""
    if all(_status(x)["status"] == Status.SIMULATED.value for x in sent):
        return False, "paper: nothing sent (the planned rebalance is in the payload)"
    if not done.imbalance:
        return False, "neither leg landed: nothing moved"
    if not done.hedged:
        return False, "a leg did not land: the books hold an unhedged position"
    return True, ""


def _pair_id(trade: CrossTrade) -> str:
    seed = f"{plan_key(trade.buy)}|{plan_key(trade.sell)}".encode()
    return "xc-" + hashlib.sha256(seed).hexdigest()[:13]


def _realised(sent: Submission | BaseException) -> int | None:
    """The leg's output token gained, when it was mined and succeeded; else None."""
    if isinstance(sent, Submission) and sent.status is Status.INCLUDED:
        return sent.realised_profit
    return None


def _status(sent: Submission | BaseException) -> dict[str, Any]:
    if isinstance(sent, BaseException):
        return {"status": "error", "reason": str(sent)}
    return {"status": sent.status.value, "reason": sent.reason, "tx_hash": sent.tx_hash,
            "block": sent.block, "realised": None if sent.realised_profit is None
            else str(sent.realised_profit)}  # fmt: skip


def _context(block: Block, priority_fee: int) -> BlockContext:
    return BlockContext(block.chain_id, block.number, block.timestamp, block.base_fee or 0,
                        priority_fee)  # fmt: skip


# -- assembly -----------------------------------------------------------------------------------
async def build_cross_chain(
    manifests: Sequence[dict[str, Any]], strategy: CrossChainArbitrage, options: CrossChainOptions
) -> CrossChainRunner:
    """A runner over the devnets the manifests describe (TallyExecutor deployed on each, owned
    by the devnet's searcher). Close it with `close_cross_chain`."""
    journal = JournalStore(options.journal_path) if options.journal_path else None
    chains: dict[int, Chain] = {}
    try:
        for manifest in manifests:
            chain = await _chain(manifest, strategy, options, journal)
            chains[chain.chain_id] = chain
    except BaseException:
        await close_cross_chain(CrossChainRunner(strategy, chains, Exposure(), journal))
        raise
    return CrossChainRunner(strategy, chains, Exposure(options.limits), journal,
                            options.priority_fee)  # fmt: skip


async def _chain(
    manifest: dict[str, Any], strategy: CrossChainArbitrage, options: CrossChainOptions,
    journal: JournalStore | None,
) -> Chain:  # fmt: skip
    chain_id = int(manifest["chain_id"])
    client = build_client(manifest["rpc_url"])
    try:
        executor = await asyncio.to_thread(deploy_executor, manifest)
        latest = block_from_rpc(chain_id, await client.request("eth_getBlockByNumber",
                                                               ["latest", False]))  # fmt: skip
        sources = sources_from_manifest(manifest)
        snapshot = await load_pools(client, str(manifest["multicall"]), sources,
                                    block=latest.number)  # fmt: skip
        state = MarketState(snapshot.entries, pool_handlers(), block=latest.number,
                            block_hash=latest.hash)  # fmt: skip
        collector = NodeCollector(client, chain_id, start=latest,
                                  poll_interval=options.poll_interval)  # fmt: skip
        searcher = manifest["accounts"]["searcher"]
        signer = Signer(SecretKey.from_hex(searcher["private_key"])) if options.live else None
        pipeline = make_pipeline(str(manifest["rpc_url"]), chain_id, client, journal,
                                 EngineOptions(live=options.live), signer,
                                 searcher["address"])  # fmt: skip
    except BaseException:
        await client.close()
        raise
    venues = [v for p in strategy.config.pairs for v in p.venues if v.chain_id == chain_id]
    tokens = tuple(sorted({t for v in venues for t in (v.base, v.quote)}))
    return Chain(chain_id, client, state, collector, executor, pipeline,
                 _context(latest, options.priority_fee), tokens)  # fmt: skip


async def close_cross_chain(runner: CrossChainRunner) -> None:
    for chain in runner.chains.values():
        await chain.client.close()
    if runner.journal is not None:
        runner.journal.close()
