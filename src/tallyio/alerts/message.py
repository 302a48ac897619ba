"""The alert value every notifier renders, and the notifier role."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

EVENTS = ("breaker_tripped", "large_win", "large_loss", "node_lag")
SEVERITIES = ("info", "warning", "critical")


class NotifyError(RuntimeError):
    """A notifier could not deliver; the message never carries a token, key or secret URL."""


@dataclass(frozen=True, slots=True)
class Alert:
    event: str  # one of EVENTS
    key: str  # what makes two alerts "the same" (dedup and PagerDuty dedup_key)
    title: str
    text: str
    severity: str = "warning"
    resolved: bool = False  # PagerDuty resolves; others say "resolved"
    fields: tuple[tuple[str, str], ...] = ()
    suppressed: int = field(default=0)  # similar alerts held back since the last one sent

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown alert event {self.event!r}; expected one of {EVENTS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {SEVERITIES}")

    @property
    def dedup_key(self) -> str:
        return f"tallyio/{self.event}/{self.key}"

    def with_suppressed(self, count: int) -> Alert:
        return replace(self, suppressed=count)

    def render(self) -> str:
        """Plain text for chat and email: title, body, fields, the suppressed count."""
        head = f"[{'RESOLVED' if self.resolved else self.severity.upper()}] {self.title}"
        lines = [head, self.text, *(f"{name}: {value}" for name, value in self.fields)]
        if self.suppressed:
            lines.append(f"({self.suppressed} similar alerts suppressed since the last message)")
        return "\n".join(line for line in lines if line)


class Notifier(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, alert: Alert) -> None: ...
