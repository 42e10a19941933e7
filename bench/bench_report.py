"""The report at the trial's size: the heavy part on the query engine, the Lambda on small results.

Figures:
- report_athena_seconds_1m / _30m: the report SQL (evaluation/sql) on DuckDB, standing in for Athena, over
  1 M and 30 M generated interactions (reported; Athena runs the same statements distributed).
- report_lambda_input_mb_1m / _30m: the bytes of the queries' outputs, all the report step's Lambda reads.
- report_lambda_seconds_1m / _30m: the Lambda-side part only: parse those outputs, build the report, render
  report.html and report.json. Goal: 30 M within 1.5x of 1 M.
- report_lambda_users_1m / _30m: users in the outputs (the evaluated sample plus the heavy users).
- curation_all_users_seconds_30m: the served curation's SQL (evaluation/sql/curation_lists.sql) for every user of
  the 30 M interactions (a full-batch day) on DuckDB, written as JSON lines as its UNLOAD writes them (reported);
  curation_all_users_30m: the users it listed.
- prepare_athena_scan_gb_per_run: bytes the prepare step's queries scan per run at the trial's size (~2.4 M
  users, six months of purchases and views of 15-26 GB raw; midpoint 20.5 GB), estimated from the tables and
  partitions each rendered statement reads (CSV: Athena reads whole files, no column pruning).
- report_athena_scan_gb_per_run: the report's queries at the trial's size (bench/scan_model.py): the run window
  is Parquet, so each statement pays for the columns it references (user_id, item_id, ts), at bytes per row
  measured by writing the bench's 30 M generated interactions as Parquet (ZSTD) with DuckDB, times the trial's
  rows (its 1.9 GB of prepared interactions CSV / the same data's measured CSV bytes per row); the prepared
  users and items and the batch output are text, read whole. Goal: no more than the CSV model's 11.8 GB.

Data: generated in DuckDB itself (taste blocks, Zipf-like popularity, heavy-tailed users; 20,000 items; 1 M
interactions from 60,000 users, 30 M from 1.8 M users, over 183 days; Personalize-shaped lists of 25 items for
every user) and cached as Parquet under `.bench/` (REPO/.bench, git-ignored), so a second run skips generation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import duckdb

from bench.scan_model import csv_bytes_per_row, parquet_column_bytes, scanned_gb
from bench.trial import TRIAL_BATCH_GB, TRIAL_PREPARED_GB
from common.event_kinds import EventKind
from dataprep.columnar import WINDOW_COLUMNS, WINDOW_PART, WINDOW_RUN_PARTITIONS, WINDOW_TABLE
from dataprep.local import to_duckdb
from dataprep.queries import LINE_COLUMN
from evaluation.local_sql import run_report_queries, window_from_interactions
from evaluation.page import render as render_page
from evaluation.queries import (
    BATCH_OUTPUT_PARTITIONS,
    BATCH_OUTPUT_TABLE,
    PERSONALIZE_RECIPE,
    PREPARED_PARTITIONS,
    PREPARED_TABLES,
    CurationUsers,
    ReportOutput,
    ReportQueryParams,
    render_curation,
)
from evaluation.queries import render as render_report
from evaluation.report_model import ReportOptions
from evaluation.sql_report import build_report_from_outputs, read_output_folder

CACHE = Path(__file__).resolve().parent.parent / ".bench"
GENERATOR_VERSION = 4
RUN_DATE = date(2026, 11, 1)
DAYS = 183
ITEMS = 20_000
TASTES = 40
PARAMS = ReportQueryParams(country="KR", run_date=RUN_DATE, execution="bench", attempt="a1", with_personalize=True)
SIZES = {"1m": (1_000_000, 60_000), "30m": (30_000_000, 1_800_000)}

# The report's scan when it read the prepared interactions CSV whole in every statement: its goal's ceiling.
CSV_MODEL_REPORT_SCAN_GB = 11.8
# Every column of the tables the report reads, partition columns included (bench/scan_model.py checks them).
REPORT_SCHEMA: dict[str, tuple[str, ...]] = {
    WINDOW_TABLE: (*(c for c, _ in WINDOW_COLUMNS), *WINDOW_RUN_PARTITIONS, WINDOW_PART),
    **{table: (*columns, *PREPARED_PARTITIONS) for table, columns in PREPARED_TABLES.items()},
    BATCH_OUTPUT_TABLE: (LINE_COLUMN, *BATCH_OUTPUT_PARTITIONS),
}
# The size whose generated interactions measure the window's bytes per row (the nearest to the trial's rows).
MEASURED_SIZE = "30m"


def _generate(con: duckdb.DuckDBPyConnection, rows: int, users: int) -> None:
    """Deterministic (hash-based, no RNG state) synthetic prepared data: the tables the report SQL reads."""
    end = (RUN_DATE - date(1970, 1, 1)).days * 86_400
    per_taste = ITEMS // TASTES
    part = "'KR' AS country, '2026-11-01' AS run_date, 'bench' AS execution, 'a1' AS attempt"
    con.execute(
        f"""
        CREATE TABLE prepared_interactions AS
        WITH r AS (
            SELECT
                n,
                -- heavy-tailed activity: a user index skewed towards small numbers
                CAST(floor({users} * pow((hash(n * 3 + 1) % 1000003) / 1000003.0, 1.3)) AS BIGINT) AS u,
                (hash(n * 3 + 2) % 1000003) / 1000003.0 AS pick,
                (hash(n * 3 + 3) % 1000003) / 1000003.0 AS when_
            FROM range({rows}) AS t(n)
        )
        SELECT
            'u' || lpad(CAST(u AS VARCHAR), 7, '0') AS user_id,
            'i' || lpad(CAST(CASE
                WHEN pick < 0.8
                    THEN (u % {TASTES}) * {per_taste} + CAST(floor({per_taste} * pow(pick / 0.8, 3)) AS BIGINT)
                ELSE CAST(floor({ITEMS} * pow((pick - 0.8) / 0.2, 2)) AS BIGINT)
            END AS VARCHAR), 6, '0') AS item_id,
            CAST({end} - 1 - CAST(floor(when_ * {DAYS} * 86400) AS BIGINT) AS VARCHAR) AS "timestamp",
            '{EventKind.VIEW.value}' AS event_type, '1' AS event_value, {part}
        FROM r
        """
    )
    con.execute(
        f"""CREATE TABLE prepared_users AS
        SELECT 'u' || lpad(CAST(n AS VARCHAR), 7, '0') AS user_id, 'ko_KR' AS locale, '25-34' AS age_group,
            'none' AS gender, 'basic' AS membership, {part}
        FROM range({users}) AS t(n)"""
    )
    con.execute(
        f"""CREATE TABLE prepared_items AS
        SELECT 'i' || lpad(CAST(n AS VARCHAR), 6, '0') AS item_id, 'drama|comedy' AS genres,
            CAST({end} - CASE WHEN n % 20 = 0 THEN (hash(n) % (29 * 86400)) + 1 ELSE 400 * 86400 END AS VARCHAR)
                AS creation_timestamp,
            'Title ' || n AS title, {part}
        FROM range({ITEMS}) AS t(n)"""
    )
    # Personalize-shaped lists for every user (the full-training day's all-users batch).
    con.execute(
        f"""CREATE TABLE batch_output AS
        SELECT 'KR' AS country, '2026-11-01' AS run_date, '{PERSONALIZE_RECIPE}' AS recipe,
            CAST(to_json({{
                'input': {{'userId': 'u' || lpad(CAST(n AS VARCHAR), 7, '0')}},
                'output': {{'recommendedItems': list_transform(range(25),
                    lambda j: 'i' || lpad(CAST((n * 7 + j * 13) % {ITEMS} AS VARCHAR), 6, '0'))}},
                'error': NULL
            }}) AS VARCHAR) AS line
        FROM range({users}) AS t(n)"""
    )


def _connection(size: str) -> duckdb.DuckDBPyConnection:
    rows, users = SIZES[size]
    folder = CACHE / f"report-v{GENERATOR_VERSION}-{size}"
    tables = ("prepared_interactions", "prepared_users", "prepared_items", "batch_output")
    con = duckdb.connect(config={"threads": os.cpu_count() or 2})
    con.execute("SET enable_progress_bar = false")
    if all((folder / f"{t}.parquet").is_file() for t in tables):
        for table in tables:
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{folder / f'{table}.parquet'}')")
    else:
        _generate(con, rows, users)
        folder.mkdir(parents=True, exist_ok=True)
        for table in tables:
            con.execute(f"COPY {table} TO '{folder / f'{table}.parquet'}' (FORMAT parquet)")
    # The report reads the run window: the generated interactions, as a preparation's window holds them.
    con.execute(f"CREATE TABLE {WINDOW_TABLE} AS {window_from_interactions('prepared_interactions', PARAMS)}")
    con.execute("DROP TABLE prepared_interactions")
    return con


def _lambda_side(out: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    inputs = read_output_folder(out)
    report = build_report_from_outputs(inputs, "KR", RUN_DATE, with_personalize=True, options=ReportOptions())
    render_page(report)
    report.model_dump_json(indent=1)
    return time.perf_counter() - start, inputs.input_bytes, len(inputs.users)


def curation_all_users(con: duckdb.DuckDBPyConnection, out: Path) -> tuple[float, int]:
    """Seconds of the served curation's SQL for every user (a full-batch day) and the users it listed."""
    target = out / "curation_lists.json"
    sql = to_duckdb(render_curation(PARAMS.model_copy(update={"curation_users": CurationUsers.ALL})))
    start = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{target}' (FORMAT json)")
    seconds = time.perf_counter() - start
    with target.open("rb") as lines:
        return seconds, sum(1 for _ in lines)


@cache
def window_bytes(size: str = MEASURED_SIZE) -> tuple[dict[str, float], float]:
    """The run window's Parquet bytes per row per stored column, and the CSV bytes per row of the same
    interactions (the prepare step's UNLOAD layout), measured on the bench's generated data of `size`."""
    path = CACHE / f"report-v{GENERATOR_VERSION}-{size}" / "prepared_interactions.parquet"
    if not path.is_file():
        _connection(size).close()  # generates and caches the data
    con = duckdb.connect(config={"threads": os.cpu_count() or 2})
    try:
        window = window_from_interactions(f"read_parquet('{path}')", PARAMS)
        con.execute(f"CREATE TABLE {WINDOW_TABLE} AS {window}")
        stored = ", ".join(f'"{c}"' for c, _ in WINDOW_COLUMNS)
        column_bytes = parquet_column_bytes(con, f"SELECT {stored} FROM {WINDOW_TABLE}")
        csv = csv_bytes_per_row(
            con, f"SELECT user_id, item_id, CAST(ts AS VARCHAR), event_type, event_value FROM {WINDOW_TABLE}"
        )
    finally:
        con.close()
    return column_bytes, csv


def report_scan_gb(column_bytes: dict[str, dict[str, float]], csv_bytes_per_row: float) -> float:
    """The report's statements at the trial's size: the window's country rows are the trial's prepared
    interactions (TRIAL_PREPARED_GB of CSV at `csv_bytes_per_row`), read by the columns each statement names."""
    rows = {WINDOW_TABLE: TRIAL_PREPARED_GB["prepared_interactions"] * 1e9 / csv_bytes_per_row}
    text = {table: TRIAL_PREPARED_GB[table] for table in PREPARED_TABLES} | {BATCH_OUTPUT_TABLE: TRIAL_BATCH_GB}
    return sum(
        scanned_gb(render_report(output, PARAMS), rows, column_bytes, schema=REPORT_SCHEMA, text_gb=text)
        for output in ReportOutput
    )


def _report_scan_gb() -> float:
    column_bytes, csv = window_bytes()
    return report_scan_gb({WINDOW_TABLE: column_bytes}, csv)


def figures() -> Iterator[tuple[str, float, str]]:
    yield "report_machine_load_1min", os.getloadavg()[0], "load"
    for size in SIZES:
        con = _connection(size)
        out = CACHE / f"report-out-{size}"
        for old in out.rglob("*.json"):
            old.unlink()
        start = time.perf_counter()
        run_report_queries(con, PARAMS, out)
        athena_seconds = time.perf_counter() - start
        if size == "30m":
            curation_seconds, curated = curation_all_users(con, out)
            yield f"curation_all_users_seconds_{size}", curation_seconds, "s"
            yield f"curation_all_users_{size}", curated, "users"
        con.close()
        seconds, size_bytes, users = min((_lambda_side(out) for _ in range(3)), key=lambda r: r[0])
        yield f"report_athena_seconds_{size}", athena_seconds, "s"
        yield f"report_lambda_input_mb_{size}", size_bytes / 2**20, "MB"
        yield f"report_lambda_seconds_{size}", seconds, "s"
        yield f"report_lambda_users_{size}", users, "users"
    yield "report_athena_scan_gb_per_run", _report_scan_gb(), "GB"
    yield "report_machine_load_1min_end", os.getloadavg()[0], "load"


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value} {unit}", flush=True)
