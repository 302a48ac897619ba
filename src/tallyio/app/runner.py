"""Build the engine for a devnet and run it: the same engine live, paper and in tests.

    collector (NodeCollector)  ->  Engine(state, strategies, submit, context)  ->  executor

Paper mode (the default) simulates and journals, signs nothing. Live mode on the devnet sends
from the devnet's funded `searcher` account (its key is in the devnet's own manifest); on any
other chain live mode needs an unlocked keystore, which this devnet runner refuses to fake.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tallyio.app.backruns import BackrunParts, backrun_parts
from tallyio.app.devnet_market import DevnetMarket
from tallyio.app.routing import Submitter
from tallyio.app.strategies import MIN_PROFIT_BPS, build_strategies
from tallyio.chain import ChainClient, build_client
from tallyio.chain.reorg import block_from_rpc
from tallyio.collectors.mempool import MempoolCollector, merge
from tallyio.collectors.node import NodeCollector
from tallyio.core.clock import SystemClock
from tallyio.core.engine import Engine, Listener
from tallyio.core.events import Event
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import Deployer, load_forge_artifact
from tallyio.execution.executors import PaperExecutor, PublicMempoolExecutor
from tallyio.execution.fees import FeeCaps, FeePolicy, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.pipeline import Pipeline
from tallyio.execution.signer import SecretKey, Signer
from tallyio.journal import JournalStore
from tallyio.risk import CircuitBreaker, Exposure, RiskGate, RiskStore, load_risk_config
from tallyio.sim.node import NodeSimulator, simulator_for

GWEI = 10**9
DEVNET_CAPS = FeeCaps(max_fee_per_gas=1_000 * GWEI, max_priority_fee_per_gas=200 * GWEI)


@dataclass(slots=True)
class EngineOptions:
    live: bool = False
    priority_fee: int = GWEI
    journal_path: Path | None = None
    poll_interval: float = 0.05
    listeners: Sequence[Listener] = ()
    gate: Any = None
    metrics: Any = None
    strategies: Sequence[str] | None = None  # names to run; None: all that the market supports
    risk_config: Path | None = None  # config/risk/*.toml; None: no gate (tests of the engine)
    state_dir: Path = Path(".tallyio")  # the breaker's state file lives here
    fee_chain: str = "devnet"  # execution.fees.FEE_PARAMS entry: how the chain prices gas
    block_time: float | None = None  # seconds; set, a head older than the clock trips the breaker
    # bundle relays: set, the engine backruns pending swaps, in bundles only (app/backruns.py);
    # "devnet": a DevnetRelay started for the run (live on a devnet)
    relay_urls: Sequence[str] = ()
    backrun_priority_fee: int = 0  # a bundle's order is its own: no tip needed to keep it
    simulator: str | None = None  # "node" | "fork"; None: the fork (sim/node.py simulator_for)


@dataclass(slots=True)
class Running:
    """An engine ready to run over a devnet, and everything it holds open."""

    engine: Engine
    collector: NodeCollector
    market: DevnetMarket
    client: ChainClient
    executor_address: str
    journal: JournalStore | None
    pipeline: Pipeline
    closers: list[Callable[[], Any]] = field(default_factory=list)  # sync or async, last first
    mempool: MempoolCollector | None = None  # backruns: pending transactions beside the blocks
    merged: list[AsyncGenerator[Any, None]] = field(default_factory=list)

    def events(self) -> AsyncIterator[Event]:
        """The node's blocks and logs, and its pending transactions when backrunning."""
        if self.mempool is None:
            return self.collector.events()
        stream = merge(self.collector.events(), self.mempool.events())
        self.merged.append(stream)  # closed with the run: its pumps poll until then
        return stream

    async def close(self) -> None:
        await self.engine.drain()
        for stream in self.merged:
            await stream.aclose()
        for close in reversed(self.closers):
            done = close()
            if asyncio.iscoroutine(done):
                await done
        await self.client.close()
        if self.journal is not None:
            self.journal.close()
        gc.unfreeze()  # what freeze_heap kept out of collections may go now


def build_gate(options: EngineOptions, chain_id: int, metrics: Any = None) -> RiskGate | None:
    """The risk gate from `options.risk_config`, its breaker state in `options.state_dir`."""
    if options.risk_config is None:
        return None
    config = load_risk_config(options.risk_config)
    clock = SystemClock()
    breaker = CircuitBreaker(config.breaker, RiskStore(options.state_dir), clock)
    if metrics is not None and hasattr(metrics, "breaker_open"):
        breaker.publish(metrics.breaker_open)
    return RiskGate(config, breaker, Exposure(config.exposure), clock)


def deploy_executor(manifest: dict[str, Any]) -> str:
    """TallyExecutor owned by the devnet's searcher (deployed once per devnet, then reused while
    its code is still there: a devnet reverted to an earlier snapshot has lost it)."""
    searcher = manifest["accounts"]["searcher"]["address"]
    d = Deployer(manifest["rpc_url"], searcher)
    known = manifest.get("tally_executor")
    if known and d.rpc("eth_getCode", known, "latest") not in ("0x", "0x0", None):
        return str(known)
    forge_build()
    contract = d.deploy(load_forge_artifact("TallyExecutor"), searcher, manifest["tokens"]["WETH"],
                        sender=searcher)  # fmt: skip
    manifest["tally_executor"] = contract.address
    return str(contract.address)


def fee_caps(options: EngineOptions, chain_id: int) -> FeeCaps:
    """The risk config's max gas price for this chain caps every fee we bid (tip included);
    without a risk config, the devnet's wide caps."""
    if options.risk_config is None:
        return DEVNET_CAPS
    top = load_risk_config(options.risk_config).limits_for("", chain_id).max_gas_price
    return FeeCaps(max_fee_per_gas=top, max_priority_fee_per_gas=top)


def pipeline_kwargs(
    options: EngineOptions, chain_id: int, journal: JournalStore | None
) -> dict[str, Any]:
    """What every executor of a run shares: the fee model, the caps, the journal, metrics."""
    common: dict[str, Any] = {"fee_params": fee_params(options.fee_chain),
                              "caps": fee_caps(options, chain_id),
                              "journal": journal, "poll_interval": 0.02}  # fmt: skip
    metrics = options.metrics
    if metrics is not None and hasattr(metrics, "execution"):
        common["metrics"] = metrics.execution
    return common


def _sim_closers(pipeline: Pipeline) -> list[Callable[[], Any]]:
    """The node simulator holds an HTTP session open; the fork holds nothing to close."""
    sim = pipeline.simulator
    return [sim.aclose] if isinstance(sim, NodeSimulator) else []


def make_pipeline(
    rpc_url: str, chain_id: int, client: ChainClient, journal: JournalStore | None,
    options: EngineOptions, signer: Signer | None, owner: str,
) -> Pipeline:  # fmt: skip
    """Paper (simulate, journal, sign nothing) unless `options.live`: then the public mempool
    executor signing with `signer`."""
    common = pipeline_kwargs(options, chain_id, journal)
    sim = simulator_for(rpc_url, options.simulator)
    if not options.live:
        return PaperExecutor(client, sim, owner=owner, **common)
    if signer is None:
        raise ValueError("live mode needs a signer")

    async def send_raw(raw: bytes) -> str:
        return str(await client.request("eth_sendRawTransaction", ["0x" + raw.hex()]))

    nonces = NonceManager(client, chain_id=chain_id, address=signer.address,
                          sign=signer.sign_transaction, send_raw=send_raw)  # fmt: skip
    return PublicMempoolExecutor(client, sim, nonces, **common)


def freeze_heap() -> None:
    """Move what is alive now (the snapshot's state, the books, the strategies: alive for the
    whole run) out of the cyclic collector's generations: its full collections would otherwise
    walk them all and pause the event path for milliseconds (at 100k borrowers the bench's
    worst event took 14.7 ms without this, 7.1 ms with it). Freed values still go by refcount."""
    gc.collect()
    gc.freeze()


async def build_devnet_engine(
    manifest: dict[str, Any], options: EngineOptions, *, relay_signer: Signer | None = None
) -> Running:
    """The engine over a devnet, through its searcher's TallyExecutor (deployed if missing);
    relay requests signed by `relay_signer`, default the manifest's `relay_signer` account."""
    market = DevnetMarket.from_manifest(manifest)
    client = build_client(manifest["rpc_url"])
    searcher = manifest["accounts"]["searcher"]
    signer = Signer(SecretKey.from_hex(searcher["private_key"])) if options.live else None
    relay_key = manifest["accounts"].get("relay_signer", {}).get("private_key")
    if relay_signer is None and relay_key:
        relay_signer = Signer(SecretKey.from_hex(relay_key))
    started: list[Callable[[], Any]] = []
    try:
        executor = await asyncio.to_thread(deploy_executor, manifest)
        if options.live and "devnet" in options.relay_urls:
            options.relay_urls = await _devnet_relay(manifest, options, started)
        running = await build_engine(market, client, options, executor, signer,
                                     owner=searcher["address"],
                                     relay_signer=relay_signer)  # fmt: skip
    except BaseException:
        for stop in started:
            await stop()
        await client.close()
        raise
    running.closers[:0] = started  # closed last: after the relay client
    return running


async def _devnet_relay(
    manifest: dict[str, Any], options: EngineOptions, started: list[Callable[[], Any]]
) -> list[str]:
    """A DevnetRelay on a free loopback port for this run, in place of "devnet"."""
    from tallyio.devnet.relay import DevnetRelay

    relay = DevnetRelay(str(manifest["rpc_url"]), poll_interval=min(options.poll_interval, 0.05))
    await relay.start()
    started.append(relay.stop)
    return [relay.url if u == "devnet" else u for u in options.relay_urls]


async def build_engine(
    market: DevnetMarket, client: ChainClient, options: EngineOptions, executor_address: str,
    signer: Signer | None, *, owner: str | None = None, relay_signer: Signer | None = None,
) -> Running:  # fmt: skip
    """The engine over `market` (a devnet's, or a chain config's ChainMarket), calling the
    TallyExecutor at `executor_address`: live it sends from `signer`; paper it simulates as
    `owner` (the executor's owner; default the signer). With `options.relay_urls` it backruns
    too (bundles signed for the relays by `relay_signer`, a fresh key if None). The caller
    closes `client` on failure."""
    executor = executor_address
    owner = owner or (signer.address if signer is not None else "")
    latest = await client.request("eth_getBlockByNumber", ["latest", False])
    head = block_from_rpc(market.chain_id, latest)
    state = await market.load_state(client, head)
    strategies = build_strategies(market, state, options.strategies)
    journal = JournalStore(options.journal_path) if options.journal_path else None
    rpc_url = str(market.manifest["rpc_url"])
    pipeline = make_pipeline(rpc_url, market.chain_id, client, journal, options, signer, owner)
    submit = Submitter(
        executor,
        pipeline,
        FeePolicy(priority_fee=options.priority_fee),
        backrun_policy=FeePolicy(priority_fee=options.backrun_priority_fee),
    )
    backruns: BackrunParts | None = None
    if options.relay_urls and "backrun" in (options.strategies or ("backrun",)):
        common = pipeline_kwargs(options, market.chain_id, journal)
        backruns = backrun_parts(market, state, client, pipeline, relay_urls=options.relay_urls,
                                 relay_signer=relay_signer, signer=signer, common=common,
                                 keep_share_bps=MIN_PROFIT_BPS,
                                 poll_interval=options.poll_interval)  # fmt: skip
        strategies.append(backruns.strategy)
        submit.backruns = backruns.path
    gate = options.gate or build_gate(options, market.chain_id, options.metrics)
    engine = Engine(state, strategies, submit, market.context(options.priority_fee),
                    gate=gate, journal=journal, metrics=options.metrics,
                    listeners=options.listeners,
                    preview=backruns.preview if backruns else None,
                    presimulate=submit.presimulate,
                    clock=SystemClock(), block_time=options.block_time)  # fmt: skip
    collector = NodeCollector(client, market.chain_id, start=head,
                              poll_interval=options.poll_interval)  # fmt: skip
    freeze_heap()
    return Running(engine, collector, market, client, executor, journal, pipeline,
                   closers=[*(backruns.closers if backruns else []), *_sim_closers(pipeline)],
                   mempool=backruns.mempool if backruns else None)  # fmt: skip
