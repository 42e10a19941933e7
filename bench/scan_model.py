"""How many bytes Athena scans for a statement: Parquet tables by the columns it references, text tables whole.

One idea: the scan estimate of a rendered statement, used by the bench's per-run figures. Athena reads a
Parquet table column by column, so a query pays for the columns it names of each table it reads (each table once
per statement, as Trino's planner reads a table once per reference to it; CTEs referenced many times are counted
once, like the text model before it); a text table (CSV, JSON lines) is read whole whenever a query names it.
Partition columns are read from the path, not the files: they cost nothing, and partition pruning is the
caller's `table_rows` (the rows of the partitions the statement selects). Athena's "Create databases and tables"
page: "To improve query performance and reduce costs, we recommend that you partition your data and use open
source columnar formats for storage in Amazon S3, such as Apache parquet or ORC."

Bytes per row per column are MEASURED, not guessed: `parquet_column_bytes` writes a table as Parquet with DuckDB
(ZSTD, as the UNLOADs here write it) and reads each column's compressed size from `parquet_metadata`;
`csv_bytes_per_row` writes the same rows as header-less CSV, the layout of the prepare step's UNLOAD parts, so a
CSV size at the trial's scale converts to rows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

GB = 1e9


def columns_read(sql: str, schema: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
    """The columns of each base table (a key of `schema`: table -> its columns, partition columns included) that
    the statement (Athena dialect) references anywhere, following CTEs and subqueries. Raises on a table not in
    `schema` and on a column of a table that it does not list, so nothing read is left out of an estimate."""
    tree = sqlglot.parse_one(sql, read="athena")
    typed: dict[str, object] = {t: dict.fromkeys(columns, "VARCHAR") for t, columns in schema.items() if columns}
    try:
        tree = qualify(tree, schema=typed, dialect="athena", validate_qualify_columns=False, quote_identifiers=False)
    except OptimizeError as error:  # a qualified column its table does not have
        raise KeyError(f"the statement names a column the scan model's schema has not: {error}") from None
    read: dict[str, set[str]] = {}
    for scope in traverse_scope(tree):
        tables = {alias: source.name for alias, source in scope.sources.items() if isinstance(source, exp.Table)}
        for name in tables.values():
            if name not in schema:
                raise KeyError(f"the statement reads table {name!r}, which the scan model has no columns for")
            read.setdefault(name, set())
        for column in scope.columns:
            if column.table in tables:
                read[tables[column.table]].add(column.name)
    for table, columns in read.items():
        unknown = columns - set(schema[table])
        if unknown:
            raise KeyError(f"columns {sorted(unknown)} of {table!r} are not in the scan model's schema")
    return read


def scanned_gb(
    sql: str,
    table_rows: Mapping[str, float],
    column_bytes: Mapping[str, Mapping[str, float]],
    *,
    schema: Mapping[str, Collection[str]],
    text_gb: Mapping[str, float] | None = None,
) -> float:
    """GB the statement scans. `schema`: every table's columns, partition columns included. A Parquet table (a key
    of `column_bytes`: stored column -> bytes per row) costs its rows (`table_rows`: of the partitions the statement
    selects) x the bytes per row of the stored columns it references; its other columns are partition columns,
    read from the path. A text table (a key of `text_gb`) costs its whole size. Any other table raises."""
    text = dict(text_gb or {})
    total = 0.0
    for table, columns in columns_read(sql, schema).items():
        if table in text:
            total += text[table] * GB
        elif table in column_bytes:
            total += table_rows[table] * sum(column_bytes[table].get(c, 0.0) for c in columns)
        else:
            raise KeyError(f"the scan model has no size for table {table!r}")
    return total / GB


def parquet_column_bytes(con: duckdb.DuckDBPyConnection, select: str) -> dict[str, float]:
    """Compressed bytes per row of each column of `select`'s rows, written as one Parquet file (ZSTD)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()
        sizes = con.execute(
            f"""SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata('{path}')
            GROUP BY path_in_schema"""
        ).fetchall()
    n = int(rows[0]) if rows else 0
    if not n:
        raise ValueError("cannot measure bytes per row of an empty table")
    return {str(column): float(size) / n for column, size in sizes}


def csv_bytes_per_row(con: duckdb.DuckDBPyConnection, select: str) -> float:
    """Bytes per row of `select`'s rows as header-less CSV (the prepare step's UNLOAD parts)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT csv, HEADER false)")
        rows = con.execute(f"SELECT count(*) FROM ({select})").fetchone()
        size = path.stat().st_size
    n = int(rows[0]) if rows else 0
    if not n:
        raise ValueError("cannot measure bytes per row of an empty table")
    return size / n
