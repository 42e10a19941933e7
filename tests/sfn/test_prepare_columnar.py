"""The Prepare step's columnar days on the executed pipeline (moto S3 and Glue, FakeAthena): a run converts the
raw days of its window once, a redrive or a rerun of the same date converts nothing twice, and a re-delivered
day is converted again by the next run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dataprep import columnar
from dataprep.queries import RAW_TABLES
from testkit.pipeline_harness import ACCOUNT, REGION

RAW = f"personalize-dev-raw-{ACCOUNT}-{REGION}"
DATABASE = "personalize_dev_raw"
SUNDAY, MONDAY = "2026-11-15", "2026-11-16"
DAYS = [date(2026, 11, 15) - timedelta(days=n) for n in (3, 2, 1)]


def _deliver(harness, table: str, day: date, rows: str = "") -> None:
    body = ",".join(RAW_TABLES[table]) + "\n" + rows
    harness.s3.put_object(Bucket=RAW, Key=f"{table}/dt={day.isoformat()}/part-0.csv", Body=body.encode())


def _exports(harness) -> None:
    for day in DAYS:
        _deliver(harness, "purchases", day, rows="u1,i1,2026-11-10T00:00:00\n")
        _deliver(harness, "views", day, rows="u1,i1,1,2026-11-10T00:00:00\n")
    _deliver(harness, "users", DAYS[0])


def _conversions(harness) -> list[str]:
    """The conversion UNLOADs started so far (their targets)."""
    return [
        params["QueryString"]
        for operation, params in harness.athena.calls
        if operation == "StartQueryExecution" and f"/{columnar.COLUMNAR_PREFIX}" in params["QueryString"]
    ]


def _partitions(harness, table_name: str) -> dict[str, dict]:
    partitions = harness.glue.get_partitions(DatabaseName=DATABASE, TableName=table_name)["Partitions"]
    return {p["Values"][0]: p for p in partitions}


def test_a_run_converts_its_raw_days_once_and_records_the_progress(harness):
    _exports(harness)
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    # purchases, views and users: a parsed and a files UNLOAD each, one chunk
    assert len(_conversions(harness)) == 6
    for table in ("purchases", "views"):
        for name in (columnar.parsed_table(table), columnar.files_table(table)):
            partitions = _partitions(harness, name)
            assert sorted(partitions) == [d.isoformat() for d in DAYS]
            location = partitions[DAYS[0].isoformat()]["StorageDescriptor"]["Location"]
            # the partition points at a folder the conversion wrote
            bucket, _, prefix = location.removeprefix("s3://").partition("/")
            assert harness.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] > 0
    assert sorted(_partitions(harness, columnar.parsed_table("users"))) == [DAYS[0].isoformat()]
    note = harness.ledger_run("KR", SUNDAY)["steps"]["prepare"]["note"]
    assert "days converted 7/7" in note


def test_a_rerun_of_the_same_date_converts_nothing(harness):
    _exports(harness)
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    converted = len(_conversions(harness))
    harness.clock.advance_to(datetime(2026, 11, 15, 6, 0, tzinfo=UTC))
    assert harness.run("KR", run_date=SUNDAY, force=True).status == "SUCCEEDED"
    assert len(_conversions(harness)) == converted


def test_a_redrive_after_a_failure_past_the_conversions_converts_nothing_twice(harness):
    _exports(harness)
    reason = harness.fail_at("prepare")  # an output query fails after the days were converted
    failed = harness.run("KR", run_date=SUNDAY)
    assert failed.status == "FAILED" and reason in (failed.cause or "")
    converted = len(_conversions(harness))
    assert converted == 6
    assert harness.redrive(failed).status == "SUCCEEDED"
    assert len(_conversions(harness)) == converted


def test_a_redelivered_day_is_converted_again_by_the_next_run(harness):
    _exports(harness)
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    before = _partitions(harness, columnar.parsed_table("views"))[DAYS[1].isoformat()]
    converted = len(_conversions(harness))
    _deliver(harness, "views", DAYS[1], rows="u1,i1,1,2026-11-10T00:00:00\nu2,i2,1,2026-11-10T00:00:00\n")
    harness.clock.advance_to(datetime(2026, 11, 15, 18, 0, tzinfo=UTC))
    assert harness.run("KR", run_date=MONDAY).status == "SUCCEEDED"
    started = _conversions(harness)[converted:]
    # the re-delivered views day, and the new day of the window (Sunday has no exports: nothing else)
    assert len(started) == 2 and all(f"'{DAYS[1].isoformat()}'" in sql for sql in started)
    after = _partitions(harness, columnar.parsed_table("views"))[DAYS[1].isoformat()]
    assert after["Parameters"][columnar.RAW_DIGEST] != before["Parameters"][columnar.RAW_DIGEST]
    assert after["StorageDescriptor"]["Location"] != before["StorageDescriptor"]["Location"]
    unchanged = _partitions(harness, columnar.parsed_table("views"))[DAYS[0].isoformat()]
    assert unchanged["Parameters"][columnar.CONVERSION] == before["Parameters"][columnar.CONVERSION]
