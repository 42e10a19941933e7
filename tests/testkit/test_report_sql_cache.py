"""The fake Athena keeps report results by report_inputs: that key must hold everything a result depends on, so
a kept result is what running the statement again would give (and a changed input is a miss)."""

from __future__ import annotations

from datetime import date

import boto3
import duckdb
from moto import mock_aws

from dataprep.columnar import WINDOW_COLUMNS, WINDOW_FOLDER, WINDOW_PART, Part
from evaluation.queries import ReportOutput, ReportQueryParams, athena_statements
from testkit.fakes.athena import _lines
from testkit.fakes.report_sql import report_inputs, report_unload

PREPARED, RESULTS = "personalize-dev-prepared-1-r", "personalize-dev-results-1-r"
NOW = 1_751_328_000.0  # 2025-07-01


def _prepare(s3, execution: str, interactions: bytes, window: dict[str, bytes] | None = None) -> list[str]:
    """A prepared run attempt: interactions, users and items CSV parts, and the run window's Parquet parts (key
    under the attempt's folder -> body) if given."""
    prefix = f"athena/runs/KR/2025-07-01/{execution}/a1"
    for output, body in (
        ("interactions", interactions),
        ("users", _lines("users", NOW)),
        ("items", _lines("items", NOW)),
    ):
        s3.put_object(Bucket=PREPARED, Key=f"{prefix}/{output}/part-00000", Body=body)
    for key, body in (window or {}).items():
        s3.put_object(Bucket=PREPARED, Key=f"{prefix}/{key}", Body=body)
    params = ReportQueryParams(country="KR", run_date=date(2025, 7, 1), execution=execution, attempt="a1")
    statements = athena_statements(params, f"s3://{PREPARED}/athena/reports/KR/2025-07-01/{execution}/r1")
    return [statements[o].sql for o in (ReportOutput.SUMMARY, ReportOutput.USERS)]


@mock_aws
def test_two_executions_over_the_same_data_share_a_key_and_a_result_and_other_data_does_not(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (PREPARED, RESULTS):
        s3.create_bucket(Bucket=bucket)
    interactions = _lines("interactions", NOW)
    window = _window_parts(interactions, tmp_path / "same")
    other_window = _window_parts(interactions + b"u5,i7,1751241600,view,1.0\n", tmp_path / "other")
    first, second = _prepare(s3, "exec-1", interactions, window), _prepare(s3, "exec-2", interactions, window)
    other = _prepare(s3, "exec-3", interactions, other_window)
    for a, b, c in zip(first, second, other, strict=True):
        assert report_inputs(a, PREPARED) == report_inputs(b, PREPARED)
        assert report_unload(s3, a, PREPARED) == report_unload(s3, b, PREPARED)
        assert report_inputs(c, PREPARED) != report_inputs(a, PREPARED)


def _window_parts(interactions: bytes, tmp_path) -> dict[str, bytes]:
    """The interactions as the prepare step's window UNLOAD writes them: Parquet files under part=<part>/, spread
    over the country's parts, plus another country's rows the report must not read."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "interactions.csv"
    csv.write_bytes(b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n" + interactions)
    others = ", ".join(
        f"CAST(NULL AS {'BIGINT' if t == 'bigint' else 'VARCHAR'}) AS {c}"
        for c, t in WINDOW_COLUMNS
        if c not in ("user_id", "item_id", "ts")
    )
    con = duckdb.connect()
    con.execute(
        f"""COPY (
            SELECT USER_ID AS user_id, ITEM_ID AS item_id, CAST("TIMESTAMP" AS BIGINT) AS ts, {others},
                ['{Part.NEW}', '{Part.OLD}'][CAST(1 + hash(USER_ID || ITEM_ID) % 2 AS BIGINT)] AS part
            FROM read_csv('{csv}', header = true, all_varchar = true)
            UNION ALL
            SELECT USER_ID, ITEM_ID, CAST("TIMESTAMP" AS BIGINT) + 60, {others}, '{Part.OTHER}'
            FROM read_csv('{csv}', header = true, all_varchar = true)
        ) TO '{tmp_path / "window"}' (FORMAT parquet, PARTITION_BY (part))"""
    )
    con.close()
    return {
        f"{WINDOW_FOLDER}/{path.parent.name}/{path.name}": path.read_bytes()
        for path in sorted((tmp_path / "window").glob("*/*.parquet"))
    }


@mock_aws
def test_the_report_reads_the_window_parts_the_prepare_step_wrote_and_never_its_interactions_csv_parts(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (PREPARED, RESULTS):
        s3.create_bucket(Bucket=bucket)
    interactions = _lines("interactions", NOW)
    parts = _window_parts(interactions, tmp_path)
    assert {key.split("/")[1] for key in parts} == {f"{WINDOW_PART}={p}" for p in (Part.NEW, Part.OLD, Part.OTHER)}
    from_window = _prepare(s3, "exec-1", b"", parts)  # an empty interactions output: only the window holds them
    csv_only = _prepare(s3, "exec-2", interactions)  # no window: run_window is empty, as in Athena
    nothing = _prepare(s3, "exec-3", b"")
    for a, b, c in zip(from_window, csv_only, nothing, strict=True):
        assert report_unload(s3, b, PREPARED) == report_unload(s3, c, PREPARED) != report_unload(s3, a, PREPARED)
