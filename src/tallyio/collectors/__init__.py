"""Collectors: where events come from (a node's head and logs, pending transactions, replay)."""
