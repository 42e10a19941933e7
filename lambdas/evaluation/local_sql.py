"""Run the report SQL on DuckDB: `make report`, the bench and the tests use it; the pipeline runs it on Athena.

A prepared folder (and Personalize batch output files) becomes DuckDB tables with the Glue tables' names and
columns, their partition columns set to the run's values, so the SAME statements run, translated by sqlglot
(dataprep.local.to_duckdb): run_window from the window's Parquet parts the local preparation writes beside the
CSVs (`window/part=<part>/*.parquet`), prepared_users/_items from the CSVs (evaluation.queries.PREPARED_TABLES),
batch_output from the batch files. Each output is written as JSON lines into `<out>/<output>/part-0.json`, the
layout UNLOAD gives, and evaluation.sql_report reads it back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from dataprep.columnar import WINDOW_COLUMNS, WINDOW_FOLDER, WINDOW_PART, WINDOW_TABLE, Part
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
    "prepared_users": "users.csv",
    "prepared_items": "items.csv",
}
# The prepared interactions (header + schema-order CSV): a folder without a window gets its run_window from it.
INTERACTIONS_FILE = "interactions.csv"
_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT"}


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _partitions(params: ReportQueryParams) -> str:
    return (
        f"{_text(params.country)} AS country, {_text(params.run_date.isoformat())} AS run_date, "
        f"{_text(params.execution)} AS execution, {_text(params.attempt)} AS attempt"
    )


def _window_select(source: str, params: ReportQueryParams, given: dict[str, str]) -> str:
    """run_window's columns (WINDOW_COLUMNS, the run's partitions, `part`) from `source`: `given` maps a column
    to its expression there; the others are NULL."""
    columns = ", ".join(f'CAST({given.get(c, "NULL")} AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in WINDOW_COLUMNS)
    return (
        f"SELECT {columns}, {_partitions(params)}, CAST({given[WINDOW_PART]} AS VARCHAR) AS {WINDOW_PART} FROM {source}"
    )


def window_from_interactions(source: str, params: ReportQueryParams) -> str:
    """A SELECT of run_window rows from prepared interactions (`source`: a table or table function with the
    interactions dataset's columns, as text), every row in part OLD (the report reads the country's parts alike):
    what a prepared folder without a window (a test's, an older preparation's) and the bench's data read."""
    given = {
        "user_id": '"USER_ID"',
        "item_id": '"ITEM_ID"',
        "ts": 'CAST("TIMESTAMP" AS BIGINT)',
        "event_type": '"EVENT_TYPE"',
        "event_value": 'CAST(TRY_CAST("EVENT_VALUE" AS DOUBLE) AS BIGINT)',
        WINDOW_PART: _text(Part.OLD.value),
    }
    return _window_select(source, params, given)


def _interactions_csv(path: Path) -> str:
    return f"read_csv({_text(str(path))}, header = true, all_varchar = true, quote = '\"', escape = '\"')"


def load_run_window(con: duckdb.DuckDBPyConnection, prepared_dir: Path | str, params: ReportQueryParams) -> None:
    """run_window from `<prepared>/window/part=<part>/*.parquet` (Hive folders, as the local preparation writes
    them), else from the folder's interactions.csv, else empty."""
    folder = Path(prepared_dir)
    window = folder / WINDOW_FOLDER
    if any(window.glob(f"{WINDOW_PART}=*/*.parquet")):
        pattern = _text(str(window / f"{WINDOW_PART}=*" / "*.parquet"))
        source = f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true)"
        given = {c: f'"{c}"' for c, _ in WINDOW_COLUMNS} | {WINDOW_PART: WINDOW_PART}
        select = _window_select(source, params, given)
    elif (folder / INTERACTIONS_FILE).is_file():
        select = window_from_interactions(_interactions_csv(folder / INTERACTIONS_FILE), params)
    else:
        select = _window_select("(SELECT 1) AS nothing", params, {WINDOW_PART: "NULL"}) + " WHERE false"
    con.execute(f"CREATE OR REPLACE TABLE {WINDOW_TABLE} AS {select}")


def load_prepared_tables(con: duckdb.DuckDBPyConnection, prepared_dir: Path | str, params: ReportQueryParams) -> None:
    """The tables the report reads from a prepared folder, as `make prepare` writes it: run_window
    (load_run_window) and the prepared_* tables (header + schema-order CSV)."""
    load_run_window(con, prepared_dir, params)
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
