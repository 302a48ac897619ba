"""Market state: loaded once, then changed only by apply(event)."""
