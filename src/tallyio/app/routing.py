"""The runner's submit: where each approved opportunity goes.

    liquidations, arbitrage  ->  the pipeline (paper, or the public mempool), batched
    backruns                 ->  the backrun path only: a bundle [user's tx, ours] (live), or a
                                 simulation behind the user's tx (paper)

A backrun must never reach the public mempool: there, with a tip above the user's, it could be
mined ahead of the user's transaction (a front-run of their swap, and ours would lose). So an
opportunity of Kind.BACKRUN, or one naming a transaction to follow, goes to `backruns` or
nowhere: with no backrun path, or no user transaction named, it is refused here, unsent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tallyio.app.batching import submit_batched
from tallyio.chain.reorg import rpc_header
from tallyio.core.engine import plan_key
from tallyio.core.opportunity import BlockContext, Contingent, Kind, Opportunity
from tallyio.execution.fees import FeePolicy
from tallyio.execution.pipeline import Approved, Pipeline, Status, Submission
from tallyio.sim.outcome import Outcome
from tallyio.sim.overrides import FeedOverride
from tallyio.strategies.backrun import leading_tx

__all__ = ["NO_BACKRUN_PATH", "NO_LEADING_TX", "BackrunPath", "Submitter", "is_backrun"]

NO_BACKRUN_PATH = "a backrun goes only in a bundle behind the user's transaction: no relay set"
NO_LEADING_TX = "a backrun that names no user transaction to follow"


class BackrunPath(Protocol):
    """BundleExecutor (live) or PaperExecutor (paper): the only ways a backrun goes."""

    async def execute_backrun(self, a: Approved, user_tx: str) -> Submission: ...


def is_backrun(opp: Opportunity) -> bool:
    return opp.kind is Kind.BACKRUN or leading_tx(opp) is not None


@dataclass(slots=True)
class Submitter:
    """The engine's `submit`: one result per opportunity of the group, in its order."""

    executor: str  # the TallyExecutor every plan runs on
    pipeline: Pipeline  # everything but backruns
    policy: FeePolicy
    backruns: BackrunPath | None = None
    backrun_policy: FeePolicy | None = None  # default: `policy`

    async def __call__(self, group: Sequence[Opportunity], block: BlockContext) -> list[Any]:
        out: dict[int, Any] = {}
        for opp in group:  # one bundle per user transaction: each on its own
            if is_backrun(opp):
                out[id(opp)] = await self._backrun(opp, block)
        rest = [o for o in group if not is_backrun(o)]
        if rest:

            async def send(units: Sequence[Opportunity]) -> list[Any]:
                approved = [self.approved(o, block, self.policy) for o in units]
                header = None if block.head is None else rpc_header(block.head)
                return await self.pipeline.execute_group(approved, header=header)

            async def receipt(tx_hash: str) -> Any:
                return await self.pipeline.node.request("eth_getTransactionReceipt", [tx_hash])

            # liquidations that batch go as one transaction when that saves gas
            sent = await submit_batched(rest, send, receipt, self.pipeline.journal)
            for opp, result in zip(rest, sent, strict=True):
                out[id(opp)] = result
        return [out[id(o)] for o in group]

    async def _backrun(self, opp: Opportunity, block: BlockContext) -> Submission:
        user = leading_tx(opp)
        reason = NO_BACKRUN_PATH if self.backruns is None else NO_LEADING_TX if not user else ""
        if self.backruns is None or user is None:
            return Submission(plan_key(opp), "none", Status.REJECTED, reason)
        approved = self.approved(opp, block, self.backrun_policy or self.policy)
        return await self.backruns.execute_backrun(approved, user)

    async def presimulate(self, c: Contingent, block: BlockContext) -> Outcome:
        """The engine's `presimulate`: `c`'s plan run ahead with its feed's answer in place."""
        approved = self.approved(c.opportunity, block, self.policy)
        header = None if block.head is None else rpc_header(block.head)
        overrides = [FeedOverride(c.feed, c.answer, c.decimals)]
        return await self.pipeline.presimulate(approved, overrides, header)

    def approved(self, opp: Opportunity, block: BlockContext, policy: FeePolicy) -> Approved:
        return Approved(opp.plan, self.executor, opp.expected_profit, opp.gas_estimate,
                        block.block + 1, fee_policy=policy, eth_price=opp.eth_price,
                        strategy=opp.strategy, plan_id=plan_key(opp),
                        presimulated=opp.presimulated)  # fmt: skip
