"""One message per alert key per window; what a storm held back is counted into the next."""

from __future__ import annotations

from dataclasses import dataclass

from tallyio.core.clock import Clock


@dataclass(slots=True)
class _Slot:
    sent_at: float
    held: int = 0


class AlertLimiter:
    """`admit(key)` -> the number suppressed since the last admitted one, or None to drop."""

    def __init__(self, window_seconds: float, clock: Clock) -> None:
        if window_seconds < 0:
            raise ValueError(f"window_seconds must be >= 0, got {window_seconds}")
        self.window = window_seconds
        self._clock = clock
        self._slots: dict[str, _Slot] = {}

    def admit(self, key: str) -> int | None:
        now = self._clock.monotonic()
        slot = self._slots.get(key)
        if slot is None:
            self._slots[key] = _Slot(now)
            return 0
        if now - slot.sent_at < self.window:
            slot.held += 1
            return None
        held, slot.sent_at, slot.held = slot.held, now, 0
        return held

    def pending(self, key: str) -> int:
        """Alerts held back under `key` that no message has reported yet."""
        slot = self._slots.get(key)
        return 0 if slot is None else slot.held
