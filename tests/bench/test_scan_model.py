"""The bench's Parquet scan model (bench/scan_model.py): a statement pays for the columns it references of each
table it reads, measured per row from a real Parquet file; text tables are read whole."""

from __future__ import annotations

import duckdb
import pytest

from bench.bench_report import PARAMS
from bench.scan_model import columns_read, csv_bytes_per_row, parquet_column_bytes, scanned_gb
from dataprep.columnar import WINDOW_PART, WINDOW_RUN_PARTITIONS, WINDOW_TABLE
from evaluation.queries import ReportOutput, render

SQL = """
WITH recent AS (SELECT user_id, max(ts) AS last_ts FROM run_window WHERE part = 'old' GROUP BY user_id),
named AS (SELECT u.user_id, u.locale FROM prepared_users AS u)
SELECT r.user_id, n.locale FROM recent AS r JOIN named AS n ON n.user_id = r.user_id
"""
BYTES = {WINDOW_TABLE: {"user_id": 3.0, "item_id": 2.0, "ts": 4.0, "event_type": 0.5}}
SCHEMA = {
    WINDOW_TABLE: (*BYTES[WINDOW_TABLE], *WINDOW_RUN_PARTITIONS, WINDOW_PART),
    "prepared_users": ("user_id", "locale"),
}


def test_a_statement_pays_for_the_columns_it_references_through_ctes_and_text_tables_whole():
    assert columns_read(SQL, SCHEMA) == {
        WINDOW_TABLE: {"user_id", "ts", WINDOW_PART},
        "prepared_users": {"user_id", "locale"},
    }
    got = scanned_gb(SQL, {WINDOW_TABLE: 1e9}, BYTES, schema=SCHEMA, text_gb={"prepared_users": 0.25})
    assert got == pytest.approx((3.0 + 4.0) + 0.25)


def test_a_table_or_column_the_model_does_not_know_is_refused_not_counted_as_free():
    with pytest.raises(KeyError, match="prepared_users"):
        scanned_gb(SQL, {WINDOW_TABLE: 1.0}, BYTES, schema=SCHEMA)
    with pytest.raises(KeyError, match="locale"):
        columns_read(SQL, {**SCHEMA, "prepared_users": ("user_id", "age")})
    with pytest.raises(KeyError, match="prepared_users"):
        columns_read(SQL, {WINDOW_TABLE: SCHEMA[WINDOW_TABLE]})


def test_the_report_reads_only_ids_and_time_of_the_window_and_less_than_the_csv_model():
    from bench.bench_report import CSV_MODEL_REPORT_SCAN_GB, REPORT_SCHEMA, report_scan_gb

    reads = {output: columns_read(render(output, PARAMS), REPORT_SCHEMA)[WINDOW_TABLE] for output in ReportOutput}
    assert reads[ReportOutput.USERS] == {"user_id", "item_id", "ts", *WINDOW_RUN_PARTITIONS, WINDOW_PART}
    assert reads[ReportOutput.ITEMS] == {"item_id", *WINDOW_RUN_PARTITIONS, WINDOW_PART}
    column_bytes = {WINDOW_TABLE: {"user_id": 3.0, "item_id": 2.5, "ts": 4.0, "event_type": 0.1, "file": 1.0}}
    gb = report_scan_gb(column_bytes, csv_bytes_per_row=40.0)
    assert 0 < gb <= CSV_MODEL_REPORT_SCAN_GB
    # the other columns of the window cost nothing: only ids and time are paid for
    heavier = {WINDOW_TABLE: {**column_bytes[WINDOW_TABLE], "file": 100.0, "event_type": 100.0}}
    assert report_scan_gb(heavier, csv_bytes_per_row=40.0) == pytest.approx(gb)


def test_bytes_per_row_are_measured_from_a_parquet_file_and_a_csv():
    con = duckdb.connect()
    select = "SELECT 'u' || (n % 1000) AS user_id, n AS ts, 'view' AS event_type FROM range(50000) AS t(n)"
    sizes = parquet_column_bytes(con, select)
    assert set(sizes) == {"user_id", "ts", "event_type"}
    # a constant column compresses to almost nothing, distinct longs do not
    assert sizes["event_type"] < 0.1 < sizes["ts"] < 8.5
    # 'u123,12345,view' and a newline: about 16 bytes a row
    assert 14 < csv_bytes_per_row(con, select) < 18
    assert sum(sizes.values()) < csv_bytes_per_row(con, select)
