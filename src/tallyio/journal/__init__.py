"""The journal: an append-only SQLite record of opportunities, decisions, simulations,
submissions and inclusions (schema.py: tables and migrations; store.py: JournalStore)."""

from tallyio.journal.schema import SCHEMA_VERSION, SchemaError
from tallyio.journal.store import JournalStore, Row

__all__ = ["SCHEMA_VERSION", "JournalStore", "Row", "SchemaError"]
