"""The engine: one consumer loop from events to submissions (after artemis' engine).

    events -> state.apply -> (at BlockEnd) strategies -> priority queue -> risk gate
           -> submit (simulate, fees, nonce, sign, send: the executor pipeline) -> journal

Strategies run once per block on that block's deltas, and are pure. The queue orders by kind
(liquidation > arbitrage > backrun > latency), then by expected profit in wei. Two
opportunities that touch the same pool, account or flash-loan lender are never both sent unless
simulated together:
they are simulated together in sequence (best first) and sent in that order, and one that
shares keys with a submission still in flight from an earlier block waits for it to land and
is then simulated on the state it left.
Submissions run as tasks so the loop keeps reading blocks while a transaction is mined.
A pending transaction goes to the strategies that take one (`process_pending`: backruns)
with a view of the state after it: `preview` (the edge) simulates it and gives its logs,
applied to an overlay of the state, never to the state itself.
After acting on a block, strategies that have one get idle time (`prepare(view, block)`:
pre-sizing from a watch list) once that block's submissions are done or `IDLE_WAIT` passed.
Then, with a `presimulate` plug, strategies that have them give `contingencies(view, block)`:
plans sized for a feed answer that has not come; each is simulated ahead with that answer in
place and handed back (`arm(contingent, outcome)`). At a block's end a strategy's `early`
(armed plans the block's answers made good, each carrying its pre-simulated outcome) is acted
on first, before every strategy's `process`, so those sign without a simulation on the way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from tallyio.core.clock import Clock
from tallyio.core.describe import StageTimer, describe, jsonable, result_dict
from tallyio.core.events import Block, BlockEnd, Event, Log, PendingTx, Reorg
from tallyio.core.opportunity import BlockContext, Contingent, Opportunity
from tallyio.core.queue import OpportunityQueue, conflict_groups, plan_key
from tallyio.state.prices import clock_log
from tallyio.state.store import Delta, MarketState, StateView

log = logging.getLogger(__name__)

Submit = Callable[[Sequence[Opportunity], BlockContext], Awaitable[Sequence[Any]]]
ContextFn = Callable[[Block, StateView], BlockContext]
Listener = Callable[[str, dict[str, Any]], None]
Preview = Callable[[PendingTx], Awaitable[Sequence[Log]]]  # a pending tx's logs, if mined next
Presimulate = Callable[[Contingent, BlockContext], Awaitable[Any]]  # its plan's outcome, ahead
IDLE_WAIT = 0.05  # seconds a block's submissions get before idle work may take the GIL
# Loop turns the early submissions get before the full pass: one reaches the pipeline's send
# task, the next signs and starts the send (a journal write on the way takes a thread, longer).
EARLY_YIELDS = 3
ARM_FAILURES = 3  # pre-simulations failing in a row before arming is switched off


class EngineStrategy(Protocol):
    name: str

    def sync(self, view: StateView) -> None: ...

    def process(
        self, delta: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]: ...


class Decision(Protocol):
    approved: bool
    reason: str


class Gate(Protocol):
    def check(self, opp: Opportunity, *, gas_price_wei: int, head_lag_blocks: int = 0) -> Any: ...

    def record_result(
        self,
        strategy: str,
        chain_id: int,
        *,
        success: bool,
        net_profit_wei: int,
        gas_spent_wei: int,
    ) -> Any: ...


@dataclass(slots=True)
class EngineStats:
    blocks: int = 0
    events: int = 0
    reorgs: int = 0
    opportunities: int = 0
    approved: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    results: list[tuple[Opportunity, Any]] = field(default_factory=list)


class Engine:
    def __init__(
        self, state: MarketState, strategies: Sequence[EngineStrategy], submit: Submit,
        context: ContextFn, *, gate: Gate | None = None, journal: Any = None,
        metrics: Any = None, listeners: Sequence[Listener] = (), preview: Preview | None = None,
        clock: Clock | None = None, block_time: float | None = None,
        presimulate: Presimulate | None = None,
    ) -> None:  # fmt: skip
        self.state, self.strategies, self.submit = state, list(strategies), submit
        self.context, self.gate, self.journal, self.metrics = context, gate, journal, metrics
        self.listeners = list(listeners)
        self.preview, self.presimulate = preview, presimulate
        self._arm_failures = 0
        self.stats = EngineStats()
        self.block: BlockContext | None = None
        self._header: Block | None = None
        self.head_lag = 0  # blocks the node's head is behind the clock (the breaker trips on it)
        self.clock, self.block_time = clock, block_time
        self._skew: float | None = None
        self.enabled = {s.name: True for s in self.strategies}
        self._deltas: list[Delta] = []
        self._counts: dict[str, int] = {}
        self._holders: dict[str, set[asyncio.Task[None]]] = {}  # key -> submissions holding it
        self._touches: dict[asyncio.Task[Any], frozenset[str]] = {}  # submission -> its keys
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_task: asyncio.Task[None] | None = None

    # -- the loop -------------------------------------------------------------------------------
    async def run(
        self, events: AsyncIterator[Event], *, stop: asyncio.Event | None = None,
        until_block: int | None = None,
    ) -> EngineStats:  # fmt: skip
        async for event in events:
            await self.handle(event)
            if stop is not None and stop.is_set():
                break
            last = isinstance(event, BlockEnd) and event.number >= (until_block or 1 << 62)
            if last:
                break
        await self.drain()
        return self.stats

    async def handle(self, event: Event) -> None:
        self.stats.events += 1
        kind = type(event).__name__.lower()
        self._counts[kind] = self._counts.get(kind, 0) + 1
        self._count("events_total", str(event.chain_id), kind)
        if isinstance(event, Log):
            with self._timed("state"):
                self._deltas += self.state.apply(event)
        elif isinstance(event, Block):
            self._begin(event)
        elif isinstance(event, BlockEnd):
            self._journal_block(event)
            if self._header is not None:  # prices as the block's own logs left them
                self.block = replace(self.context(self._header, self.state.view),
                                     head=self._header)  # fmt: skip
                self._measure_lag(self._header)
            if event.head:
                early = self._act(self._early())
                for _ in range(EARLY_YIELDS if early else 0):
                    await asyncio.sleep(0)  # they sign before the full pass holds the loop
                self._idle([*early, *self._act(self._strategize())])
        elif isinstance(event, Reorg):
            self.stats.reorgs += 1
            self._deltas += self.state.apply(event)
            for s in self.strategies:
                s.sync(self.state.view)
            self._emit("reorg", {"common_ancestor": event.common_ancestor})
        elif isinstance(event, PendingTx):
            await self._pending(event)

    def _measure_lag(self, head: Block) -> None:
        """How many block times the newest block is older than the clock, beyond the age the
        first head had (taken as the skew between the node's clock and ours: a devnet that
        travelled in time, a node whose clock is off): a node that stops following the chain
        delivers ever older heads, and the risk gate's breaker trips on it."""
        if self.clock is None or not self.block_time:
            return
        age = self.clock.now() - head.timestamp
        if self._skew is None:
            self._skew = max(age, 0.0)
        self.head_lag = max(0, int((age - self._skew) // self.block_time))
        gauge = getattr(self.metrics, "node_lag_blocks", None)
        if gauge is not None:
            gauge.labels(str(head.chain_id)).set(self.head_lag)

    def _journal_block(self, end: BlockEnd) -> None:
        counts, self._counts = self._counts, {}
        if self.journal is not None and hasattr(self.journal, "record_events"):
            self.journal.record_events(end.chain_id, end.number, end.hash, counts)

    def _begin(self, block: Block) -> None:
        head = getattr(self.metrics, "head_block", None)
        if head is not None:
            head.labels(str(block.chain_id)).set(block.number)
        self.state.apply(block)
        self._deltas += self.state.apply(clock_log(block))
        self._header = block
        self.stats.blocks += 1
        self._emit("block", {"number": block.number, "hash": block.hash})

    async def _pending(self, tx: PendingTx) -> None:
        takers = [s for s in self.strategies
                  if hasattr(s, "process_pending") and self.enabled.get(s.name, True)]  # fmt: skip
        if not takers or self.preview is None or self.block is None:
            return
        try:
            logs = await self.preview(tx)
        except Exception:  # one transaction we cannot simulate must not stop the engine
            log.exception("engine: pending transaction %s could not be simulated", tx.hash)
            return
        if not logs:
            return  # it reverts, or moves nothing we follow
        block = self.block
        with self._timed("strategy"):
            deltas, view = self.state.preview(logs)
            found = [o for s in takers for o in s.process_pending(tx, deltas, view, block)]
        self._act(self._found(found))

    def _early(self) -> list[Opportunity]:
        """Strategies' `early` opportunities on this block's deltas (the deltas stay for
        `_strategize`)."""
        if self.block is None:
            return []
        found: list[Opportunity] = []
        with self._timed("strategy"):
            for s in self.strategies:
                early = getattr(s, "early", None)
                if early is not None and self.enabled.get(s.name, True):
                    found += early(self._deltas, self.state.view, self.block)
        return self._found(found)

    def _strategize(self) -> list[Opportunity]:
        deltas, self._deltas = self._deltas, []
        if self.block is None:
            return []
        found: list[Opportunity] = []
        with self._timed("strategy"):
            for s in self.strategies:
                if self.enabled.get(s.name, True):
                    found += s.process(deltas, self.state.view, self.block)
        return self._found(found)

    def _found(self, found: list[Opportunity]) -> list[Opportunity]:
        """`found`, counted in the stats and the metrics."""
        self.stats.opportunities += len(found)
        for opp in found:
            self._count("opportunities_total", opp.strategy)
        return found

    # -- queue, conflicts, risk, submission ------------------------------------------------------
    def _act(self, found: list[Opportunity]) -> list[asyncio.Task[None]]:
        queue = OpportunityQueue()
        for opp in found:
            queue.push(opp)
        approved: list[Opportunity] = []
        while queue:
            opp = queue.pop()
            key = plan_key(opp)
            if self.journal is not None:
                self._journal("record_opportunity", key, block=opp.block, strategy=opp.strategy,
                              expected_profit=opp.expected_profit, kind=opp.kind.name.lower(),
                              chain_id=opp.chain_id, gas_estimate=opp.gas_estimate,
                              profit_token=opp.profit_token, touches=opp.touches,
                              payload=jsonable(opp.detail))  # fmt: skip
            if self.listeners:
                self._emit("opportunity", {**describe(opp), "plan_id": key})
            reason = self._refusal(opp)
            self._journal("record_decision", key, stage="risk", approved=not reason,
                          reason=reason)  # fmt: skip
            if reason:
                self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
                self._count("rejections_total", "risk", reason)
                self._emit("decision", {**describe(opp), "plan_id": key, "approved": False,
                                        "reason": reason})  # fmt: skip
                continue
            self.stats.approved += 1
            self._count("approvals_total", opp.strategy)
            approved.append(opp)
        started = []
        for group in conflict_groups(approved):
            touches = frozenset().union(*(o.touches for o in group))
            behind = {t for key in touches for t in self._holders.get(key, ())}
            task = asyncio.get_running_loop().create_task(self._submit(group, touches, behind))
            self._hold(touches, task)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    # -- idle time ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Idle work: each strategy's optional `prepare(view, block)` on the current state,
        run to the end (benchmarks and tests call it between blocks)."""
        for steps in self._preparations():
            for _ in steps:
                pass

    def _preparations(self) -> Iterator[Iterator[Any]]:
        """Each enabled strategy's idle work as steps: a strategy's `prepare` may return an
        iterator (one step a unit of work) or do it all and return None. A failure ends only
        that strategy's idle work: it is an optimisation and must not stop the engine."""
        for s in self.strategies:
            prepare = getattr(s, "prepare", None)
            if prepare is None or self.block is None or not self.enabled.get(s.name, True):
                continue
            yield _guarded(s.name, partial(prepare, self.state.view, self.block), self._timed)

    def _idle(self, acting: list[asyncio.Task[None]]) -> None:
        """Prepare after this block's submissions (pyrevm holds the GIL while it simulates:
        idle work must not delay them). A newer block's idle step replaces an older one."""
        if self._idle_task is not None and not self._idle_task.done():
            self._idle_task.cancel()
        self._idle_task = asyncio.get_running_loop().create_task(self._after(acting))

    async def _after(self, acting: list[asyncio.Task[None]]) -> None:
        """The idle steps, yielding to the loop between them, so a block, a log or a pending
        transaction arriving meanwhile waits for one step, not for all the idle work; a new
        block ends this step (its own idle step starts after it is acted on)."""
        if acting:
            await asyncio.wait(acting, timeout=IDLE_WAIT)
        await self.idle()

    async def idle(self) -> None:
        """The idle work on the current state: each strategy's `prepare` steps, then arming
        (its contingencies simulated ahead), yielding between steps; a new block ends it."""
        header = self._header
        for steps in self._preparations():
            for _ in steps:
                await asyncio.sleep(0)
                if self._header is not header:
                    return
        for s in self.strategies:
            if self._header is not header:
                return
            if hasattr(s, "contingencies") and self.enabled.get(s.name, True):
                await self._arm(s, header)

    async def _arm(self, s: Any, header: Block | None) -> None:
        """Simulate `s`'s contingencies ahead (one at a time, the loop free between them) and
        hand each outcome back; a new block ends it."""
        if self.presimulate is None or self.block is None:
            return
        block = self.block
        for contingent in _guarded(s.name, partial(s.contingencies, self.state.view, block),
                                   self._timed):  # fmt: skip
            try:
                outcome = await self.presimulate(contingent, block)
            except Exception as exc:  # arming is an optimisation: its failure must not stop us
                self._arm_failed(s.name, exc)
                return
            self._arm_failures = 0
            if self._header is not header:
                return
            s.arm(contingent, outcome)

    def _arm_failed(self, name: str, exc: Exception) -> None:
        """A pre-simulation failed (a node without state overrides, a fork that broke): say
        so, and after ARM_FAILURES in a row stop arming (every plan then goes the usual way)."""
        self._arm_failures += 1
        log.warning("engine: %s: a plan could not be simulated ahead: %s", name, exc)
        if self._arm_failures >= ARM_FAILURES:
            self.presimulate = None
            log.error("engine: arming is off after %d failed pre-simulations in a row; "
                      "liquidations are sized and simulated when their event comes",
                      self._arm_failures)  # fmt: skip

    def _refusal(self, opp: Opportunity) -> str:
        """Why `opp` may not go now ("" if it may). One that touches nothing but what a
        submission still in flight touches is that submission again, found on a state that
        does not have it yet: "in_flight". One that shares only part of it waits behind it
        (its simulation then runs on the state the earlier one left)."""
        held = [self._touches[t] for t in self._held_by(opp.touches)]
        if any(opp.touches <= touches for touches in held):
            return "in_flight"
        if self.gate is None or self.block is None:
            return ""
        with self._timed("risk"):
            decision = self.gate.check(opp, gas_price_wei=self.block.gas_price,
                                       head_lag_blocks=self.head_lag)  # fmt: skip
        return "" if decision.approved else str(decision.reason or "risk")

    async def _submit(
        self, group: list[Opportunity], touches: frozenset[str], behind: set[asyncio.Task[None]]
    ) -> None:
        assert self.block is not None
        block = self.block
        try:
            if behind:  # in flight from an earlier block and sharing keys: go after it lands
                await asyncio.wait(behind)
                block = replace(self.block, head=None)  # the executor reads the head it landed in
            results: list[Any] = list(await self.submit(group, block))
        except Exception as exc:  # a failure of one submission must not stop the engine
            log.exception("engine: submission of %s failed", [o.strategy for o in group])
            results = [exc] * len(group)
        finally:
            self._release(asyncio.current_task())
        for opp, result in zip(group, results, strict=True):
            self.stats.results.append((opp, result))
            net_wei = self._record_result(opp, result)  # first: a trip it causes is news too
            self._emit("trade", {**describe(opp), "plan_id": plan_key(opp), "net_wei": net_wei,
                                 "result": result_dict(result)})  # fmt: skip

    def _record_result(self, opp: Opportunity, result: Any) -> int | None:
        """Feed a landed result to metrics and the gate; its net in wei (None: nothing landed)."""
        status = str(getattr(getattr(result, "status", None), "value", ""))
        if status not in ("included", "reverted"):
            return None  # nothing landed: nothing won or lost
        gas_wei = (getattr(result, "gas_used", 0) or 0) * (
            self.block.gas_price if self.block else 0
        )
        profit = getattr(result, "realised_profit", 0) or 0
        net_wei = profit * 10**18 // opp.eth_price - gas_wei
        self._count("inclusions_total", opp.strategy, status)
        if self.metrics is not None and hasattr(self.metrics, "realised"):
            self.metrics.realised(opp.strategy, net_wei, gas_wei)
        if self.gate is not None:
            self.gate.record_result(opp.strategy, opp.chain_id, success=status == "included",
                                    net_profit_wei=net_wei, gas_spent_wei=gas_wei)  # fmt: skip
        return net_wei

    def _hold(self, touches: frozenset[str], task: asyncio.Task[None]) -> None:
        self._touches[task] = touches
        for key in touches:
            self._holders.setdefault(key, set()).add(task)

    def _release(self, task: asyncio.Task[Any] | None) -> None:
        for key in self._touches.pop(task, frozenset()) if task is not None else ():
            holders = self._holders.get(key, set())
            holders.discard(task)
            if not holders:
                self._holders.pop(key, None)

    def _held_by(self, touches: frozenset[str]) -> set[asyncio.Task[None]]:
        return {t for key in touches for t in self._holders.get(key, ())}

    def busy(self) -> bool:
        """Submissions in flight (or strategies' deltas not yet acted on)."""
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for every submission in flight (and the idle step behind them)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._idle_task is not None:
            await asyncio.gather(self._idle_task, return_exceptions=True)

    # -- reporting ----------------------------------------------------------------------------
    def _journal(self, method: str, key: str, **kw: Any) -> None:
        if self.journal is not None:
            getattr(self.journal, method)(key, **kw)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, data)

    def _count(self, name: str, *labels: str) -> None:
        counter = getattr(self.metrics, name, None)
        if counter is not None:
            counter.labels(*labels).inc()

    def _timed(self, stage: str) -> Any:
        return StageTimer(self.metrics, stage)


def _guarded(name: str, start: Callable[[], Any], timed: Callable[[str], Any]) -> Iterator[Any]:
    """A strategy's idle work as steps, each timed as "idle", yielding what each step gives;
    an exception is logged and ends it."""
    try:
        with timed("idle"):
            steps = start()
        if steps is None:
            return
        done = object()
        while True:
            with timed("idle"):
                value = next(steps, done)
            if value is done:
                return
            yield value
    except Exception:  # idle work is an optimisation: its failure must not stop us
        log.exception("engine: %s.prepare failed", name)
