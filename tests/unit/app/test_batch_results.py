"""A batch's one result as one per part: the transaction counted once, failed parts named by
the executor's GuardedFailed logs (the pure mapping; tests/integration/
test_liquidation_batching.py runs it on the devnet)."""

from __future__ import annotations

import pytest

from tallyio.app.batch_results import GUARDED_FAILED, failed_parts, per_part, sim_logs
from tallyio.execution.pipeline import Status, Submission
from tallyio.sim.outcome import Outcome, SimLog

EXECUTOR, OTHER = "0x" + "c0" * 20, "0x" + "d0" * 20
TX = "0x" + "ab" * 32


def _log(index: int, emitter: str = EXECUTOR) -> tuple[str, list[str], str]:
    return (emitter, [GUARDED_FAILED], "0x" + index.to_bytes(32, "big").hex())


def _landed(status: Status = Status.INCLUDED, reason: str = "") -> Submission:
    return Submission("batch1", "public", status, reason, 10, 11, tx_hash=TX, block=11,
                      gas_used=312_964, realised_profit=5 * 10**17, net_profit=4 * 10**17,
                      gas_limit=400_000)  # fmt: skip


def _sums(results: list[Submission]) -> tuple[int, int, int]:
    return (sum(r.gas_used or 0 for r in results), sum(r.realised_profit or 0 for r in results),
            sum(r.net_profit or 0 for r in results))  # fmt: skip


def test_guarded_failed_names_an_action_and_only_the_executors_count() -> None:
    logs = [_log(2), _log(0, OTHER), ("0x" + "01" * 20, ["0x" + "00" * 32], "0x")]
    assert failed_parts(logs, [0, 2], EXECUTOR) == {1}  # action 2 is the second part
    assert failed_parts(logs, [0, 2]) == {0, 1}  # no emitter given: every such log
    assert failed_parts([], [0, 1], EXECUTOR) == frozenset()


def test_a_failure_of_no_guarded_part_is_a_broken_invariant() -> None:
    with pytest.raises(ValueError, match="no Guarded part"):
        failed_parts([_log(3)], [0, 1], EXECUTOR)


def test_every_part_landed_the_first_carries_the_batch() -> None:
    batch = _landed()
    parts = per_part(batch, 3, frozenset())
    assert [p.status for p in parts] == [Status.INCLUDED] * 3
    assert {p.tx_hash for p in parts} == {TX}
    assert _sums(parts) == (batch.gas_used, batch.realised_profit, batch.net_profit)
    assert (parts[0].gas_used, parts[0].realised_profit) == (batch.gas_used, batch.realised_profit)
    assert all(p.gas_used == 0 and p.realised_profit == 0 for p in parts[1:])
    assert all("batched into part 0" in p.reason for p in parts[1:])


def test_a_failed_part_has_no_profit_and_the_first_survivor_carries() -> None:
    batch = _landed()
    parts = per_part(batch, 2, frozenset({0}))
    assert [p.status for p in parts] == [Status.REVERTED, Status.INCLUDED]
    assert (parts[0].gas_used, parts[0].realised_profit, parts[0].net_profit) == (0, 0, 0)
    assert "GuardedFailed" in parts[0].reason
    assert _sums(parts) == (batch.gas_used, batch.realised_profit, batch.net_profit)


def test_no_part_succeeded_the_first_still_carries_the_gas() -> None:
    batch = _landed()
    parts = per_part(batch, 2, frozenset({0, 1}))
    assert [p.status for p in parts] == [Status.REVERTED] * 2
    assert parts[0].gas_used == batch.gas_used and parts[1].gas_used == 0


def test_a_reverted_transaction_fails_every_part_and_is_counted_once() -> None:
    batch = _landed(Status.REVERTED, "min profit")
    parts = per_part(batch, 2, frozenset())
    assert [p.status for p in parts] == [Status.REVERTED] * 2
    assert _sums(parts) == (batch.gas_used, batch.realised_profit, batch.net_profit)
    assert "min profit" in parts[0].reason


def test_paper_a_part_that_fails_in_the_simulation_is_rejected() -> None:
    outcome = Outcome(True, 300_000, None, b"", 10**17, 10,
                      logs=(SimLog(EXECUTOR, (bytes.fromhex(GUARDED_FAILED[2:]),),
                                   (1).to_bytes(32, "big")),))  # fmt: skip
    batch = Submission("batch1", "paper", Status.SIMULATED, outcome=outcome, net_profit=9)
    failed = failed_parts(sim_logs(batch.outcome), [0, 1])
    assert failed == {1}
    parts = per_part(batch, 2, failed)
    assert [p.status for p in parts] == [Status.SIMULATED, Status.REJECTED]
    assert (parts[0].net_profit, parts[1].net_profit) == (9, 0)
    assert parts[0].outcome is outcome and parts[1].outcome is None


@pytest.mark.parametrize("status", [Status.NOT_INCLUDED, Status.FAILED, Status.REJECTED])
def test_nothing_landed_every_part_gets_the_batchs_result(status: Status) -> None:
    batch = Submission("batch1", "public", status, "no")
    assert per_part(batch, 2, frozenset()) == [batch, batch]


def test_a_single_is_its_own_result() -> None:
    batch = _landed()
    assert per_part(batch, 1, frozenset()) == [batch]
