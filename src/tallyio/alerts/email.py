"""Email over SMTP (stdlib smtplib in a worker thread: alerts are rare, a thread is enough)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from tallyio.alerts.http import HIDDEN
from tallyio.alerts.message import Alert, NotifyError


@dataclass(frozen=True, slots=True)
class EmailNotifier:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    timeout: float = 10.0
    name: str = "email"

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        state = "RESOLVED" if alert.resolved else alert.severity.upper()
        msg["Subject"] = f"[tallyio {state}] {alert.title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["X-Tallyio-Dedup-Key"] = alert.dedup_key
        msg.set_content(alert.render())
        return msg

    def _send_blocking(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send(self, alert: Alert) -> None:
        if not self.recipients:
            raise NotifyError(f"{self.name}: no recipients")
        try:
            await asyncio.to_thread(self._send_blocking, self.message(alert))
        except (smtplib.SMTPException, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self.password:
                reason = reason.replace(self.password, HIDDEN)
            raise NotifyError(f"{self.name}: {reason}") from None
