from __future__ import annotations

import dataclasses

import pytest

from tallyio.core.clock import FixedClock
from tallyio.core.events import Block


def test_events_are_frozen() -> None:
    block = Block(31337, 1, "0xa", "0x0", 1_700_000_000, 10**9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.number = 2  # type: ignore[misc]


def test_fixed_clock_moves_only_forward() -> None:
    clock = FixedClock(10.0)
    clock.advance(2.5)
    assert clock.now() == 12.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
