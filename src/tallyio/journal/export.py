"""Parquet export: one file per journal table, for analysis in pandas, DuckDB, Spark.

Columns keep the database's types: integers int64, times float64 (epoch seconds, UTC), text as
strings. Amounts that can pass 2**63 (expected_profit, profit, realised_profit) stay exact
decimal strings, as stored; so do JSON columns (payload, counts, touches). Rows are read in
pages by id and each file is written beside its final name and renamed when complete, so a
reader never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tallyio.journal.schema import ALL_TABLES
from tallyio.journal.store import JournalStore

PAGE = 10_000


@dataclass(frozen=True, slots=True)
class Exported:
    table: str
    path: Path
    rows: int


def arrow_type(declared: str) -> pa.DataType:
    """The Arrow type for a column's declared SQL type (SQLite's or PostgreSQL's)."""
    declared = declared.upper()
    if "INT" in declared:
        return pa.int64()
    if declared in ("REAL", "DOUBLE PRECISION", "FLOAT"):
        return pa.float64()
    return pa.string()


def table_schema(store: JournalStore, table: str) -> pa.Schema:
    columns = store.backend.columns(table)
    meta = {"tallyio.table": table, "tallyio.schema_version": str(store.version)}
    return pa.schema([(name, arrow_type(kind)) for name, kind in columns], metadata=meta)


def export_table(store: JournalStore, table: str, out_dir: Path, page: int = PAGE) -> Exported:
    schema = table_schema(store, table)
    final = out_dir / f"{table}.parquet"
    partial = out_dir / f".{table}.parquet.partial"
    written, after = 0, 0
    with pq.ParquetWriter(partial, schema) as writer:
        while rows := store.scan(table, after_id=after, limit=page):
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            written, after = written + len(rows), int(rows[-1]["id"])
        if written == 0:
            writer.write_table(schema.empty_table())
    os.replace(partial, final)
    return Exported(table, final, written)


def export_parquet(store: JournalStore, out_dir: str | Path, page: int = PAGE) -> list[Exported]:
    """Every journal table to `out_dir`/<table>.parquet (the directory is created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [export_table(store, table, out, page) for table in ALL_TABLES]
