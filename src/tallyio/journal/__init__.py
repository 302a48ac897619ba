"""The journal: an append-only record of event batches, opportunities, decisions, simulations,
submissions and inclusions, in SQLite (a path) or PostgreSQL (a URL) — schema.py and
pg_schema.py: tables and migrations; backends.py: the two databases; store.py: JournalStore;
queries.py: paged listings and PnL; export.py: Parquet."""

from tallyio.journal.backends import JournalError
from tallyio.journal.queries import PnlRow
from tallyio.journal.schema import SCHEMA_VERSION, SchemaError
from tallyio.journal.store import JournalStore, Row, open_journal

__all__ = [
    "SCHEMA_VERSION",
    "JournalError",
    "JournalStore",
    "PnlRow",
    "Row",
    "SchemaError",
    "open_journal",
]
