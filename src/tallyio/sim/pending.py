"""A pending transaction run on a fork of the latest block: what it would do if mined next.

Backruns start here (at the edge, not in the strategy): the user's transaction is executed
as the next block's first, and its logs come back as Log events, which the state handlers turn
into the post-transaction view (`MarketState.preview`), never touching the real state.
The fee is not charged (gas price 0): what a swap does to a pool does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tallyio.core.events import Log, PendingTx
from tallyio.sim.fork import ForkSimulator, SimTx
from tallyio.sim.outcome import Outcome

__all__ = ["PendingOutcome", "pending_sim_tx", "simulate_pending"]


@dataclass(frozen=True, slots=True)
class PendingOutcome:
    tx: PendingTx
    block: int  # the fork's block: the state the transaction ran on
    outcome: Outcome
    logs: tuple[Log, ...]  # as Log events of block `block` (only for previews of the state)

    @property
    def success(self) -> bool:
        return self.outcome.success


def pending_sim_tx(tx: PendingTx) -> SimTx:
    if tx.to is None:
        raise ValueError(f"pending transaction {tx.hash} creates a contract: nothing to backrun")
    data = bytes.fromhex(tx.input.removeprefix("0x"))
    return SimTx(tx.sender, tx.to, data, tx.value, tx.gas)


def simulate_pending(sim: ForkSimulator, tx: PendingTx, block: int) -> PendingOutcome:
    """Run `tx` after block `block` (blocking: call it from a worker thread)."""
    outcome = sim.simulate(pending_sim_tx(tx), None, tx.sender, block)
    logs = tuple(
        Log(tx.chain_id, block, "", tx.hash, i, log.address.lower(),
            tuple("0x" + t.hex() for t in log.topics), "0x" + log.data.hex())
        for i, log in enumerate(outcome.logs)
    )  # fmt: skip
    return PendingOutcome(tx, block, outcome, logs if outcome.success else ())
