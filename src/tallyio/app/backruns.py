"""Backruns in the runner: the strategy, the pending-transaction preview and the bundle path.

    MempoolCollector (merged with the node's)  ->  preview (the pending tx on a fork: its logs)
    ->  PricedBackrun (BackrunStrategy over its own copy of the arbitrage's pool graph)
    ->  Submitter: BundleExecutor.execute_backrun [user's tx, ours] (live; relays) or
        PaperExecutor.execute_backrun (paper: simulated behind the user's tx, journaled)

The relay requests are signed by a reputation key that holds no funds: on the devnet the
manifest's `relay_signer` account, elsewhere one from a keystore or a fresh one per run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tallyio.app.arbitrage import PricedArbitrage, arbitrage_config
from tallyio.app.devnet_market import DevnetMarket
from tallyio.app.routing import BackrunPath
from tallyio.chain import ChainClient
from tallyio.collectors.mempool import MempoolCollector
from tallyio.core.engine import Preview
from tallyio.core.events import Log, PendingTx
from tallyio.core.opportunity import BlockContext, Opportunity
from tallyio.execution.executors import BundleExecutor, PaperExecutor, PublicMempoolExecutor
from tallyio.execution.pipeline import Pipeline
from tallyio.execution.relays import RelayClient, RelayEndpoint
from tallyio.execution.signer import SecretKey, Signer
from tallyio.sim import ForkSimulator
from tallyio.sim.pending import simulate_pending
from tallyio.state.store import Delta, MarketState, StateView
from tallyio.strategies.arbitrage import ArbitrageStrategy
from tallyio.strategies.backrun import BackrunStrategy

__all__ = ["BackrunParts", "PricedBackrun", "backrun_parts", "pending_preview", "relay_client"]


class PricedBackrun:
    """The engine's backrun strategy: `BackrunStrategy` with the USD sizes the risk gate reads
    (priced at the market's oracle, as the arbitrage's are)."""

    name = "backrun"

    def __init__(self, inner: BackrunStrategy, market: DevnetMarket) -> None:
        self.inner = inner
        self.pricer = PricedArbitrage(inner.search, market)  # its `usd` only

    @classmethod
    def build(
        cls, market: DevnetMarket, state: MarketState, keep_share_bps: int, own: Iterable[str]
    ) -> PricedBackrun:
        """Over its own pool graph (pending changes are laid into it for one search), with the
        arbitrage strategy's config; `own`: our accounts, never backrun."""
        config = arbitrage_config(market, keep_share_bps)
        search = ArbitrageStrategy.from_entries(config, state.items())
        return cls(BackrunStrategy(search, own=own), market)

    def sync(self, view: StateView) -> None:
        self.inner.sync(view)

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return self.inner.process(deltas, view, block)

    def process_pending(
        self, tx: PendingTx, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        found = self.inner.process_pending(tx, deltas, view, block)
        return [self._priced(o, view) for o in found]

    def _priced(self, opp: Opportunity, view: StateView) -> Opportunity:
        loan, market = opp.plan.loan, self.pricer.market
        usd = self.pricer.usd(view, loan.token, loan.amount)
        route = [market.symbol(getattr(a, "token_in", "?")) for a in opp.plan.actions]
        detail = {**opp.detail, "route": ">".join([*route, route[0]])}  # for the live report
        return replace(opp, notional_usd=usd, flash_loan_usd=usd, detail=detail)


def pending_preview(rpc_url: str, own: Iterable[str], lock: asyncio.Lock) -> Preview:
    """The engine's preview hook: a pending transaction run on a fork of the latest block, its
    logs (none if it reverts). Our own transactions are not simulated (never backrun). `lock`
    is the executors' simulation lock: pyrevm forks are run one at a time in the process (two
    at once in worker threads were seen to hang `make demo`)."""
    sim = ForkSimulator(rpc_url)
    skip = frozenset(a.lower() for a in own)

    async def preview(tx: PendingTx) -> Sequence[Log]:
        if tx.sender.lower() in skip or tx.to is None:
            return ()

        def run() -> Sequence[Log]:
            return simulate_pending(sim, tx, sim.latest_block()).logs

        async with lock:
            return await asyncio.to_thread(run)

    return preview


def relay_client(urls: Sequence[str], reputation: Signer | None) -> RelayClient:
    """Every relay endpoint, its requests signed by `reputation` (a fresh key if None)."""
    key = reputation or Signer(SecretKey.generate())
    endpoints = [RelayEndpoint(u, f"relay{i}") for i, u in enumerate(urls)]
    return RelayClient(endpoints, key)


@dataclass(slots=True)
class BackrunParts:
    """What the runner plugs in for backruns, and what it must close after the run."""

    strategy: PricedBackrun
    preview: Preview
    path: BackrunPath
    mempool: MempoolCollector
    closers: list[Callable[[], Any]] = field(default_factory=list)


def backrun_parts(
    market: DevnetMarket, state: MarketState, client: ChainClient, pipeline: Pipeline, *,
    relay_urls: Sequence[str], relay_signer: Signer | None, signer: Signer | None,
    keep_share_bps: int, poll_interval: float, common: dict[str, Any],
) -> BackrunParts:  # fmt: skip
    """Paper (`pipeline` is a PaperExecutor): backruns are simulated behind the user's tx by it.
    Live (`pipeline` sends publicly from `signer`): a BundleExecutor from the same key and
    nonce counter, to `relay_urls`; the public pipeline never sees a backrun (app/routing.py)."""
    rpc_url = str(market.manifest["rpc_url"])
    own = [pipeline.owner] + ([signer.address] if signer is not None else [])
    strategy = PricedBackrun.build(market, state, keep_share_bps, own)
    mempool = MempoolCollector(client, market.chain_id, poll_interval=poll_interval)
    preview = pending_preview(rpc_url, own, pipeline._sim_lock)
    if isinstance(pipeline, PaperExecutor):
        return BackrunParts(strategy, preview, pipeline, mempool)
    if not isinstance(pipeline, PublicMempoolExecutor) or signer is None:
        raise ValueError("live backruns need the public pipeline's signer and nonce counter")
    if not relay_urls:
        raise ValueError("live backruns need at least one bundle relay")
    relays = relay_client(relay_urls, relay_signer)
    path = BundleExecutor(client, ForkSimulator(rpc_url), pipeline.nonces, signer, relays,
                          **common)  # fmt: skip
    path._sim_lock = pipeline._sim_lock  # one pyrevm simulation at a time (see pending_preview)
    return BackrunParts(strategy, preview, path, mempool, [relays.close])
