"""The executed pipeline with a raw file Athena could not fully read: Prepare fails naming the file, the reason
and the count; the run's data quality is in the Prepare output; a redrive after the fix runs a new attempt."""

from __future__ import annotations

import json

from testkit.pipeline_harness import ACCOUNT, REGION

SUNDAY = "2026-11-15"
BAD_FILE = "s3://personalize-dev-raw/views/dt=2026-11-14/part-00000.csv"
RAW_BUCKET = f"personalize-dev-raw-{ACCOUNT}-{REGION}"


def _bad_views_file(lines: int = 134) -> dict:
    return {
        "row_kind": "file",
        "source_table": "views",
        "file": BAD_FILE,
        "files": 1,
        "lines": lines,
        "rows_read": lines,
        "malformed_lines": 1,
        "kept": lines - 1,
        "kept_country": lines - 1,
        "dropped_missing_ids": 1,
        "dropped_unknown_country": 0,
        "dropped_unparsable_timestamp": 0,
        "dropped_duplicate": 0,
        "unknown_item": 0,
        "dropped_malformed_csv": 1,
        "not_fully_read": 1,
    }


def test_a_file_not_fully_read_fails_prepare_naming_it(harness):
    views = next(row for row in harness.athena.quality_rows if row["source_table"] == "views")
    views.update(malformed_lines=1, dropped_malformed_csv=1, not_fully_read=1)
    harness.athena.quality_rows.append(_bad_views_file())

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED"
    assert execution.error == "DataQualityFailed"
    detail = execution.cause_detail
    assert detail["step"] == "prepare"
    assert detail["failure_reason"] == (
        f"data quality: views file {BAD_FILE} not fully read: 134 lines, 134 rows parsed, 1 malformed (1 rows lost)"
    )
    assert (detail["file"], detail["problem"], detail["count"]) == (BAD_FILE, "file_not_fully_read", 1)
    record = harness.ledger_run("KR", SUNDAY)
    assert record["failure"]["step"] == "prepare" and BAD_FILE in record["failure"]["reason"]
    # Nothing was imported from data known to be incomplete.
    assert not [c for c in harness.personalize.calls if c.operation == "create_dataset_import_job"]

    # The export is fixed; a redrive prepares again (a new attempt) instead of failing on the old result.
    harness.athena.quality_rows = [
        {**row, "malformed_lines": 0, "dropped_malformed_csv": 0, "not_fully_read": 0}
        for row in harness.athena.quality_rows
        if row["row_kind"] == "table"
    ]
    resumed = harness.redrive(execution)
    assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)


def test_the_prepare_output_carries_the_data_quality(harness):
    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    quality = execution.output["data_quality"]
    assert set(quality["tables"]) == {"contents", "purchases", "users", "views"}
    assert quality["tables"]["views"]["lines"] == 260_000 and quality["problems"] == []
    assert quality["files_not_fully_read"] == 0


def test_dropped_rows_reach_the_run_record_and_the_notification(harness):
    """Drops below the threshold do not fail the run, but nobody has to open counts.json to see them."""
    views = next(row for row in harness.athena.quality_rows if row["source_table"] == "views")
    views.update(kept=views["lines"] - 40, dropped_unparsable_timestamp=40)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    record = harness.ledger_run("KR", SUNDAY)
    assert record["data_quality"]["tables"]["views"]["dropped"]["unparsable_timestamp"] == 40
    (notification,) = [n for n in harness.notifications() if "SUCCEEDED" in n["subject"]]
    assert "Data views: 259960 of 260000 rows kept; dropped: unparsable_timestamp 40" in notification["message"]
    # ... and the comparison page, next to the exploration settings behind its freshness figure
    report = json.loads(
        harness.s3.get_object(Bucket="personalize-dev-results-123456789012-us-east-1", Key=f"KR/{SUNDAY}/report.json")[
            "Body"
        ].read()
    )
    assert "Data views: 259960 of 260000 rows kept; dropped: unparsable_timestamp 40" in report["notes"]
    assert any(
        n.startswith("Freshness reflects exploration of new titles: user-personalization") for n in report["notes"]
    )


def test_a_raw_file_with_swapped_columns_fails_prepare_before_any_query(harness):
    """Columns are read by position: a views export with user_id and item_id swapped would drop every row as
    unknown_country. Prepare reads each raw file's header first and names the file and both column lists."""
    key = "views/dt=2026-11-14/part-00000.csv"
    harness.s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=b"item_id,user_id,item_view_count,timestamp\n")

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED"
    assert execution.error == "DataQualityFailed"
    detail = execution.cause_detail
    assert detail["failure_reason"] == (
        f"data quality: views file s3://{RAW_BUCKET}/{key} has the header "
        "item_id,user_id,item_view_count,timestamp; expected user_id,item_id,item_view_count,timestamp "
        "(raw columns are read by position: fix the export's column order)"
    )
    assert (detail["file"], detail["problem"], detail["count"]) == (f"s3://{RAW_BUCKET}/{key}", "header_mismatch", 1)
    assert harness.athena.started_queries() == 0

    # The export is fixed: a redrive prepares the data.
    harness.s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=b"user_id,item_id,item_view_count,timestamp\n")
    resumed = harness.redrive(execution)
    assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)
