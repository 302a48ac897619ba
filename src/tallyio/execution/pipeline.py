"""The executor pipeline every executor shares, and the values it takes and gives.

    calldata (encode_plan's bytes, once, in Approved)
    -> simulate on a fork of the latest block    never sent unless it succeeds and its profit
    -> fees (next base fee from that header,     beats the gas it burns at the quoted fees
       the plan's FeePolicy, the risk caps)
    -> nonce -> sign -> send                      per executor (`Pipeline._send`, executors.py)
    -> journal                                    simulation, decision, every send, the end

`Approved` and `Submission` are frozen. Gas is paid in ETH and profit in the plan's profit token;
`Approved.eth_price` converts (10**18 when the profit token is WETH).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar

from eth_utils import to_checksum_address

from tallyio.core.plan import Plan, checksummed
from tallyio.execution.backrun import BackrunError, fetch_leading
from tallyio.execution.calldata import fast_encode_plan
from tallyio.execution.fees import FeeCaps, FeeParams, FeePolicy, Fees, ParentHeader
from tallyio.execution.fees import next_base_fee as next_base
from tallyio.execution.nonce import NodeClient, NonceManager
from tallyio.execution.relays import RelayResult
from tallyio.execution.signer import keccak256
from tallyio.execution.submit import (
    ETH,
    GAS_MARGIN_BPS,
    ExecutionMetrics,
    Landed,
    Verdict,
    default_execution_metrics,
    gas_limit_for,
    judge,
    realised_profit,
    token_to_wei,
    wei_to_token,
)
from tallyio.journal import JournalStore
from tallyio.sim.fork import SimTx, SimulationError
from tallyio.sim.node import NodeSimulator, Simulator
from tallyio.sim.outcome import Outcome
from tallyio.sim.overrides import FeedOverride

log = logging.getLogger(__name__)
DEFAULT_FEE_POLICY = FeePolicy()
_SeqKey = tuple[int, tuple[SimTx, ...], str | None, str]  # block, txs, profit token, owner


class Status(StrEnum):
    SIMULATED = "simulated"  # paper: simulated and journaled, nothing signed or sent
    REJECTED = "rejected"  # not sent: the simulation failed or did not pay for its gas
    INCLUDED = "included"  # mined and succeeded
    REVERTED = "reverted"  # mined and reverted: gas spent, nothing else
    NOT_INCLUDED = "not_included"  # not mined within the executor's blocks
    FAILED = "failed"  # could not be sent (the node or every relay refused it)


@dataclass(frozen=True, slots=True)
class Approved:
    """A plan risk has approved, with what the strategy expects of it."""

    plan: Plan
    executor: str  # the TallyExecutor the plan runs on; it keeps the profit
    expected_profit: int  # profit-token base units
    gas_estimate: int
    target_block: int  # the block the plan is aimed at (the first one tried)
    fee_policy: FeePolicy = DEFAULT_FEE_POLICY
    eth_price: int = ETH  # profit-token base units worth one ETH
    strategy: str = ""
    plan_id: str = ""  # derived from executor, calldata and target block when empty
    # The Outcome of this plan simulated ahead with one feed's answer overridden (strategies/
    # armed.py), its profit re-priced exactly on the real state as `expected_profit`: used in
    # place of a simulation on the event's path when the plan goes first in its group.
    presimulated: Outcome | None = field(default=None, repr=False, compare=False)
    calldata: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "executor", checksummed(self.executor))
        if self.gas_estimate <= 0 or self.eth_price <= 0 or self.target_block < 0:
            raise ValueError(f"Approved: bad gas estimate, price or target block: {self}")
        calldata = fast_encode_plan(self.plan)  # == encode_plan(plan), without eth_abi
        object.__setattr__(self, "calldata", calldata)
        if not self.plan_id:
            block = self.target_block.to_bytes(8, "big")
            seed = bytes.fromhex(self.executor[2:]) + calldata + block
            object.__setattr__(self, "plan_id", keccak256(seed)[:8].hex())


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of an approved plan."""

    plan_id: str
    mode: str  # "paper" | "public" | "bundle"
    status: Status
    reason: str = ""
    simulated_block: int | None = None
    target_block: int | None = None
    outcome: Outcome | None = None
    fees: Fees | None = None
    gas_limit: int | None = None
    net_profit: int | None = None  # simulated profit - gas at the quoted fees (profit token)
    tx_hash: str | None = None
    nonce: int | None = None
    block: int | None = None  # where it was mined
    gas_used: int | None = None
    realised_profit: int | None = None  # the executor contract's profit-token change there
    relays: tuple[RelayResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Quote:
    block: int
    target_block: int
    outcome: Outcome
    fees: Fees
    gas_limit: int
    verdict: Verdict


class Pipeline:
    """The shared pipeline; subclasses say only how a signed plan is sent (`_send`)."""

    mode: ClassVar[str] = ""

    def __init__(
        self, node: NodeClient, simulator: Simulator, *, owner: str, fee_params: FeeParams,
        caps: FeeCaps, journal: JournalStore | None = None,
        metrics: ExecutionMetrics | None = None, poll_interval: float = 0.25,
        gas_margin_bps: int = GAS_MARGIN_BPS,
    ) -> None:  # fmt: skip
        self.node, self.simulator, self.journal = node, simulator, journal
        self.owner = to_checksum_address(owner)
        self.fee_params, self.caps = fee_params, caps
        self.metrics = metrics or default_execution_metrics()
        self.poll_interval, self.gas_margin_bps = poll_interval, gas_margin_bps
        self._sim_lock = asyncio.Lock()  # one pyrevm EVM: one simulation at a time

    async def execute(self, approved: Approved) -> Submission:
        return (await self.execute_group([approved]))[0]

    async def execute_group(
        self, group: Sequence[Approved], header: dict[str, Any] | None = None
    ) -> list[Submission]:
        """Plans that touch the same pool, account or lender, simulated together in order:
        each is judged on what it adds after the ones before it that passed, and those that
        pass are sent in that order (consecutive nonces) and watched together. Each is sent as
        soon as it is judged: the later ones are simulated behind it meanwhile. `header` is the
        latest block's header as eth_getBlockByNumber gives it, when the caller has it."""
        prior: list[SimTx] = []
        known: dict[_SeqKey, Outcome] = {}  # sequences already simulated in this group
        pending: list[Submission | asyncio.Task[Submission]] = []
        for a in group:
            with self.metrics.timed(self.mode, "prepare"):
                if header is None:
                    header = await self.node.request("eth_getBlockByNumber", ["latest", False])
                quote = await self._prepare(a, header, tuple(prior), known)
            if isinstance(quote, Submission):
                pending.append(quote)
                continue
            if not prior:
                await self._before_send()
            prior.append(self._sim_tx(a))
            await self._record("record_decision", a.plan_id, stage="executor",
                               approved=True, payload={"mode": self.mode})  # fmt: skip
            pending.append(asyncio.create_task(self._timed_send(a, quote)))  # started in order
            await asyncio.sleep(0)  # it signs now, before the next simulation holds the GIL
        results = [p if isinstance(p, Submission) else await p for p in pending]
        for result in results:
            self.metrics.outcomes.labels(self.mode, result.status.value).inc()
        return results

    async def _timed_send(self, a: Approved, q: Quote) -> Submission:
        with self.metrics.timed(self.mode, "send"):
            return await self._send(a, q)

    async def _before_send(self) -> None:
        """Executors with a nonce counter sync it here, so grouped sends take it in order."""
        nonces: NonceManager | None = getattr(self, "nonces", None)
        if nonces is not None and nonces.next_nonce is None:
            await nonces.sync()

    async def execute_backrun(self, a: Approved, user_tx: str) -> Submission:
        """`a` right behind the user's pending transaction `user_tx`: simulated behind it
        (judged on what it adds) and handed to `_send_backrun`, which may only put it after
        the user's transaction (a bundle [theirs, ours]) or send nothing."""
        if type(self)._send_backrun is Pipeline._send_backrun:
            await self._send_backrun(a, None, b"")  # refuses before anything is simulated
        header = await self.node.request("eth_getBlockByNumber", ["latest", False])
        try:
            leading = await fetch_leading(self.node, user_tx)
        except BackrunError as exc:
            return await self._reject(a, str(exc), int(header["number"], 16), None)
        quote = await self._prepare(a, header, (leading.sim,))
        if isinstance(quote, Submission):
            return quote
        await self._before_send()
        await self._record("record_decision", a.plan_id, stage="executor", approved=True,
                           payload={"mode": self.mode, "backrun_of": leading.hash})  # fmt: skip
        with self.metrics.timed(self.mode, "send"):
            result = await self._send_backrun(a, quote, leading.raw)
        self.metrics.outcomes.labels(self.mode, result.status.value).inc()
        return result

    async def _send_backrun(self, a: Approved, q: Quote | None, leading: bytes) -> Submission:
        """No backruns here: only an executor that can keep the user's transaction first."""
        raise BackrunError(f"the {self.mode} executor cannot keep a user's transaction first")

    async def _send(self, a: Approved, q: Quote) -> Submission:
        raise NotImplementedError

    # -- simulate, price, judge -------------------------------------------------------------
    async def _prepare(
        self, a: Approved, header: dict[str, Any], prior: tuple[SimTx, ...] = (),
        known: dict[_SeqKey, Outcome] | None = None,
    ) -> Quote | Submission:  # fmt: skip
        block = int(header["number"], 16)
        ahead = a.presimulated if not prior else None
        try:
            with self.metrics.timed(self.mode, "simulate"):
                outcome = (
                    await self._simulate(a, block, prior, known, header)
                    if ahead is None
                    else Outcome.of(ahead.steps, a.expected_profit, block)  # re-priced exactly
                )
        except SimulationError as exc:
            return await self._reject(a, f"simulator failed: {exc}", block, None)
        base = next_base(ParentHeader.from_rpc(header), self.fee_params)
        profit_wei = token_to_wei(max(outcome.profit, 0), a.eth_price)
        fees = a.fee_policy.quote(base, params=self.fee_params, caps=self.caps,
                                  expected_profit=profit_wei, gas=outcome.gas_used)  # fmt: skip
        verdict = judge(outcome, fees, base, a.eth_price)
        limit = gas_limit_for(outcome.gas_used, int(header["gasLimit"], 16), self.gas_margin_bps)
        await self._record("record_simulation", a.plan_id, block=block, success=outcome.success,
                           profit=outcome.profit, gas_used=outcome.gas_used,
                           revert_reason=outcome.revert_reason, payload={
                               "mode": self.mode, "executor": a.executor,
                               "strategy": a.strategy, "target_block": a.target_block,
                               "expected_profit": a.expected_profit,
                               "gas_estimate": a.gas_estimate, "gas_cost": verdict.gas_cost,
                               "net_profit": verdict.net_profit, "calldata": a.calldata,
                               **({} if ahead is None else {"presimulated": {
                                   "block": ahead.block, "profit": ahead.profit}})})  # fmt: skip
        if fees is None or not verdict.go:
            return await self._reject(a, verdict.reason or "", block, outcome, verdict.net_profit)
        target = max(a.target_block, block + 1)
        return Quote(block, target, outcome, fees, limit, verdict)

    async def presimulate(
        self, a: Approved, overrides: Sequence[FeedOverride], header: dict[str, Any] | None = None
    ) -> Outcome:
        """`a` alone as the next transaction with `overrides` in place (idle time: a plan sized
        for a feed answer that has not come yet), on the fork or the node."""
        if header is None:
            header = await self.node.request("eth_getBlockByNumber", ["latest", False])
        block, tx, token, sim = int(header["number"], 16), self._sim_tx(a), a.plan.profit_token, \
            self.simulator  # fmt: skip
        if isinstance(sim, NodeSimulator):
            return await sim.simulate_sequence_async((tx,), token, a.executor, block, header,
                                                     overrides=overrides)  # fmt: skip
        async with self._sim_lock:
            return await asyncio.to_thread(partial(
                sim.simulate_sequence, (tx,), token, a.executor, block, header,
                overrides=overrides))  # fmt: skip

    def _sim_tx(self, a: Approved) -> SimTx:
        return SimTx(self.owner, a.executor, a.calldata)

    async def _simulate(
        self, a: Approved, block: int, prior: tuple[SimTx, ...] = (),
        known: dict[_SeqKey, Outcome] | None = None, header: dict[str, Any] | None = None,
    ) -> Outcome:  # fmt: skip
        """`a` as the next transaction after `block` or, behind `prior`, what it adds to them:
        its own step, and the profit the sequence makes beyond `prior` alone. `known` holds
        sequences simulated earlier at the same block (the same fork, so the same outcome):
        the group's earlier sequence is not run twice."""
        tx, token, sim = self._sim_tx(a), a.plan.profit_token, self.simulator
        known = {} if known is None else known

        def run(txs: tuple[SimTx, ...]) -> Outcome:
            key = (block, txs, token, a.executor)
            if key not in known:
                known[key] = sim.simulate_sequence(txs, token, a.executor, block, header)
            return known[key]

        def marginal() -> Outcome:
            base, both = run(prior), run((*prior, tx))
            return Outcome.of((both.steps[-1],), both.profit - base.profit, both.block)

        if isinstance(sim, NodeSimulator):
            return await self._simulate_on_node(sim, a, block, (*prior, tx), header, known)
        async with self._sim_lock:
            if not prior:
                return await asyncio.to_thread(run, (tx,))
            return await asyncio.to_thread(marginal)

    async def _simulate_on_node(
        self, sim: NodeSimulator, a: Approved, block: int, txs: tuple[SimTx, ...],
        header: dict[str, Any] | None, known: dict[_SeqKey, Outcome],
    ) -> Outcome:  # fmt: skip
        """The node runs the sequence natively, on the event loop: no thread, no lock. Behind
        `prior` the plan's own step and profit come from one request holding the prior
        sequence too (the prior-only profit is known from its own run in this group)."""
        token = a.plan.profit_token

        async def run(seq: tuple[SimTx, ...]) -> Outcome:
            key = (block, seq, token, a.executor)
            if key not in known:
                known[key] = await sim.simulate_sequence_async(seq, token, a.executor, block,
                                                               header)  # fmt: skip
            return known[key]

        if len(txs) == 1:
            return await run(txs)
        base, both = await run(txs[:-1]), await run(txs)
        return Outcome.of((both.steps[-1],), both.profit - base.profit, both.block)

    async def _reject(
        self, a: Approved, reason: str, block: int, outcome: Outcome | None, net: int | None = None
    ) -> Submission:
        log.info("%s executor: plan %s not sent: %s", self.mode, a.plan_id, reason)
        await self._record("record_decision", a.plan_id, stage="executor", approved=False,
                           reason=reason, payload={"mode": self.mode, "block": block})  # fmt: skip
        return Submission(a.plan_id, self.mode, Status.REJECTED, reason, block, a.target_block,
                          outcome, net_profit=net)  # fmt: skip

    # -- shared helpers for the executors ---------------------------------------------------
    def _tx(self, a: Approved, q: Quote) -> dict[str, Any]:
        return {"to": a.executor, "value": 0, "data": a.calldata, "gas": q.gas_limit,
                **q.fees.tx_fields()}  # fmt: skip

    def _result(self, a: Approved, q: Quote, status: Status, **kw: Any) -> Submission:
        return Submission(a.plan_id, self.mode, status, simulated_block=q.block,
                          target_block=q.target_block, outcome=q.outcome, fees=q.fees,
                          gas_limit=q.gas_limit, net_profit=q.verdict.net_profit, **kw)  # fmt: skip

    async def _record(self, method: str, plan_id: str, **kw: Any) -> None:
        """Journal off the event loop (each write waits for its fsync)."""
        if self.journal is not None:
            await asyncio.to_thread(getattr(self.journal, method), plan_id, **kw)

    async def _submitted(self, a: Approved, q: Quote, status: str, **kw: Any) -> None:
        payload = {"fees": q.fees.tx_fields(), "gas_limit": q.gas_limit,
                   "net_profit": q.verdict.net_profit, **kw.pop("payload", {})}  # fmt: skip
        await self._record("record_submission", a.plan_id, mode=self.mode, status=status,
                           payload=payload, **kw)  # fmt: skip

    async def _landed(self, a: Approved, q: Quote, landed: Landed, **kw: Any) -> Submission:
        realised = (
            landed.token_delta(a.plan.profit_token, a.executor)
            if landed.logs or not landed.success
            else await realised_profit(self.node, a.plan.profit_token, a.executor, landed.block)
        )
        status = Status.INCLUDED if landed.success else Status.REVERTED
        gas_cost = wei_to_token(landed.gas_cost_wei, a.eth_price)
        await self._record("record_inclusion", a.plan_id, status=status.value,
                           tx_hash=landed.tx_hash, block=landed.block, gas_used=landed.gas_used,
                           realised_profit=realised, payload={
                               "mode": self.mode, "gas_cost_wei": landed.gas_cost_wei,
                               "gas_cost": gas_cost, "net_profit": realised - gas_cost,
                               "simulated_profit": q.outcome.profit,
                               "effective_gas_price": landed.effective_gas_price})  # fmt: skip
        return self._result(a, q, status, tx_hash=landed.tx_hash, block=landed.block,
                            gas_used=landed.gas_used, realised_profit=realised, **kw)  # fmt: skip

    async def _ended(
        self, a: Approved, q: Quote, status: Status, reason: str, **kw: Any
    ) -> Submission:
        """Journal and return an end other than a mined transaction."""
        await self._record("record_inclusion", a.plan_id, status=status.value,
                           tx_hash=kw.get("tx_hash"), payload={"mode": self.mode,
                                                               "reason": reason})  # fmt: skip
        return self._result(a, q, status, reason=reason, **kw)
