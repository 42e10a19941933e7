"""Run the online outcome SQL on DuckDB (the tests and the bench; the report step runs it on Athena).

The exposure log and the columnar days' event tables become DuckDB tables with the Glue tables' names and
columns (dataprep.columnar.PARSED_COLUMNS), so the same statement runs, translated by sqlglot.
"""

from __future__ import annotations

from typing import Any

import duckdb

from common.experiments import EXPOSURES_TABLE
from dataprep.columnar import DAY_PARTITION, PARSED_COLUMNS
from dataprep.duckdb_dialect import to_duckdb
from evaluation.online import UserOutcome, rows_from_json
from evaluation.online_sql import EVENT_TABLES, OnlineQueryParams, render

_TYPES = {"string": "VARCHAR", "bigint": "BIGINT"}


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty exposure and event tables, ready for INSERTs."""
    con.execute(f"CREATE OR REPLACE TABLE {EXPOSURES_TABLE} (line VARCHAR, {DAY_PARTITION} VARCHAR)")
    for table in EVENT_TABLES:
        columns = ", ".join(f"{c} {_TYPES[t]}" for c, t in PARSED_COLUMNS[table.removesuffix("_parsed")])
        con.execute(f"CREATE OR REPLACE TABLE {table} ({columns}, {DAY_PARTITION} VARCHAR)")


def outcome_rows(con: duckdb.DuckDBPyConnection, params: OnlineQueryParams) -> list[UserOutcome]:
    cursor = con.execute(to_duckdb(render(params)))
    names = [d[0] for d in cursor.description]
    rows: list[dict[str, Any]] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return rows_from_json(rows)
