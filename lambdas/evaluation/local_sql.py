"""Run the report SQL on DuckDB: `make report`, the bench and the tests use it; the pipeline runs it on Athena.

The prepared CSVs (and Personalize batch output files) become DuckDB tables with the Glue tables' names and
columns (evaluation.queries.PREPARED_TABLES, batch_output), their partition columns set to the run's values, so
the SAME statements run, translated by sqlglot (dataprep.local.to_duckdb). Each output is written as JSON lines
into `<out>/<output>/part-0.json`, the layout UNLOAD gives, and evaluation.sql_report reads it back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from dataprep.local import to_duckdb
from evaluation.queries import (
    BATCH_OUTPUT_TABLE,
    PERSONALIZE_RECIPE,
    PREPARED_TABLES,
    ReportOutput,
    ReportQueryParams,
    render,
)

PREPARED_FILES = {
    "prepared_interactions": "interactions.csv",
    "prepared_users": "users.csv",
    "prepared_items": "items.csv",
}
def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _partitions(params: ReportQueryParams) -> str:
    return (
        f"{_text(params.country)} AS country, {_text(params.run_date.isoformat())} AS run_date, "
        f"{_text(params.execution)} AS execution, {_text(params.attempt)} AS attempt"
    )


def load_prepared_tables(con: duckdb.DuckDBPyConnection, prepared_dir: Path | str, params: ReportQueryParams) -> None:
    """prepared_* tables from a prepared folder (header + schema-order CSV, as `make prepare` writes)."""
    folder = Path(prepared_dir)
    for table, columns in PREPARED_TABLES.items():
        path = folder / PREPARED_FILES[table]
        names = ", ".join(f'"{c}"' for c in columns)
        if not path.is_file():
            nulls = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in columns)
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {nulls}, {_partitions(params)} WHERE false")
            continue
        types = "{" + ", ".join(f"{_text(c)}: 'VARCHAR'" for c in columns) + "}"
        con.execute(
            f"""CREATE OR REPLACE TABLE {table} AS SELECT {names}, {_partitions(params)}
            FROM read_csv({_text(str(path))}, header = true, auto_detect = false, columns = {types},
                quote = '"', escape = '"')"""
        )


def load_batch_output(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path | str] | None, params: ReportQueryParams
) -> None:
    """batch_output as the Glue table reads it: one row per line of Personalize's output files, the text as is
    (the report SQL parses it)."""
    values = {"country": params.country, "run_date": params.run_date.isoformat(), "recipe": PERSONALIZE_RECIPE}
    partition = ", ".join(f"{_text(value)} AS {column}" for column, value in values.items())
    paths = [str(p) for p in files or ()]
    if not paths:
        con.execute(f"CREATE OR REPLACE TABLE {BATCH_OUTPUT_TABLE} AS SELECT {partition}, '' AS line WHERE false")
        return
    # \x01 as the delimiter and no quoting: each line whole, as LazySimpleSerDe reads it (JSON text never holds
    # a raw \x01; a line that did would keep its first field, as in Athena).
    con.execute(
        f"""CREATE OR REPLACE TABLE {BATCH_OUTPUT_TABLE} AS SELECT {partition}, line
        FROM read_csv([{", ".join(_text(p) for p in paths)}], delim = chr(1), quote = '', escape = '',
            header = false, columns = {{'line': 'VARCHAR'}}, auto_detect = false, strict_mode = false,
            null_padding = true)"""
    )


def run_report_queries(
    con: duckdb.DuckDBPyConnection, params: ReportQueryParams, out_dir: Path | str
) -> dict[ReportOutput, float]:
    """Every report output as JSON lines under out_dir/<output>/; returns the seconds each query took."""
    out = Path(out_dir)
    seconds = {}
    for output in ReportOutput:
        folder = out / output.value
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        con.execute(f"COPY ({to_duckdb(render(output, params))}) TO {_text(str(folder / 'part-0.json'))} (FORMAT json)")
        seconds[output] = time.perf_counter() - start
    return seconds


def report_outputs(
    prepared_dir: Path | str,
    params: ReportQueryParams,
    out_dir: Path | str,
    batch_files: Sequence[Path | str] | None = None,
    threads: int | None = None,
) -> dict[ReportOutput, float]:
    """Load a prepared folder (and batch output) into a fresh DuckDB and run the report queries."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        load_prepared_tables(con, prepared_dir, params)
        load_batch_output(con, batch_files, params)
        return run_report_queries(con, params, out_dir)
    finally:
        con.close()
