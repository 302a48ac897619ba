"""Fixtures: real local HTTP and SMTP receivers (alert_receivers.py)."""

from alert_receivers import receiver, smtp_receiver

__all__ = ["receiver", "smtp_receiver"]
