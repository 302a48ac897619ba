"""MarketState: values change only through apply(event) and rewind exactly on a reorg."""

from __future__ import annotations

from typing import Any

import pytest

from tallyio.core.events import Block, Log, Reorg
from tallyio.state.store import MarketState, StateInvariantError, StateView

SET = "0x" + "11" * 32  # topic0 of a toy "Set(key, value)" event
ADD = "0x" + "22" * 32


def _set(log: Log, view: StateView) -> list[tuple[Any, Any]]:
    return [(log.topics[1], int(log.data, 16))]


def _add(log: Log, view: StateView) -> list[tuple[Any, Any]]:
    key = log.topics[1]
    return [(key, view.get(key, 0) + int(log.data, 16))]


def _log(block: int, topic: str, key: str, value: int, index: int = 0) -> Log:
    return Log(1, block, f"0xb{block}", "0xt", index, "0xpool", (topic, key), hex(value))


def _block(n: int) -> Block:
    return Block(1, n, f"0xb{n}", f"0xb{n - 1}", n * 12, 1)


def _state() -> MarketState:
    return MarketState({"a": 1}, {SET: _set, ADD: _add}, block=10)


def test_logs_change_values_and_report_deltas() -> None:
    s = _state()
    s.apply(_block(11))
    deltas = s.apply(_log(11, ADD, "a", 5))
    assert s.get("a") == 6
    assert [(d.key, d.before, d.after) for d in deltas] == [("a", 1, 6)]
    assert s.apply(_log(11, "0x" + "33" * 32, "a", 9)) == []  # unknown events change nothing


def test_reorg_rewinds_to_the_common_ancestor() -> None:
    s = _state()
    for n in (11, 12, 13):
        s.apply(_block(n))
        s.apply(_log(n, ADD, "a", n))
        s.apply(_log(n, SET, f"new{n}", n, 1))
    assert s.get("a") == 1 + 11 + 12 + 13
    deltas = s.apply(Reorg(1, 11, ("0xb12", "0xb13")))
    assert s.get("a") == 1 + 11
    assert s.get("new12") is None and s.get("new13") is None and s.get("new11") == 11
    assert {d.key for d in deltas} == {"a", "new12", "new13"}
    s.apply(_block(12))  # the new canonical block 12 applies cleanly
    s.apply(_log(12, ADD, "a", 100))
    assert s.get("a") == 112


def test_reorg_deeper_than_memory_is_an_error() -> None:
    s = MarketState({}, {ADD: _add}, block=10, depth=3)
    for n in range(11, 16):
        s.apply(_block(n))
    with pytest.raises(StateInvariantError, match="deeper"):
        s.apply(Reorg(1, 11, ()))


def test_blocks_must_move_forward() -> None:
    s = _state()
    s.apply(_block(11))
    with pytest.raises(StateInvariantError, match="Reorg event first"):
        s.apply(_block(11))
