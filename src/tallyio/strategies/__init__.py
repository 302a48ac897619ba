"""Strategies: pure functions of state deltas to opportunities (no I/O, no clock)."""
