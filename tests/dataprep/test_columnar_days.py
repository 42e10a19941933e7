"""pipeline.columnar_days on moto's S3 and Glue: which days a run converts, and partitions written only for a
finished conversion; every Glue and S3 call it makes is one the synthesised Prepare role allows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from dataprep import columnar
from dataprep.queries import RAW_TABLES, PrepareParams
from pipeline import columnar_days, step_names
from testkit.pipeline_harness import ACCOUNT, PIPELINE_STACK, REGION

RAW = f"personalize-dev-raw-{ACCOUNT}-{REGION}"
PREPARED = f"personalize-dev-prepared-{ACCOUNT}-{REGION}"
DATABASE = "personalize_dev_raw"
RUN_DATE = date(2026, 11, 15)
WINDOW_DAYS = 10
NOW = datetime(2026, 11, 15, 3, tzinfo=UTC)
PARAMS = PrepareParams(country="KR", run_date=RUN_DATE, window_days=WINDOW_DAYS, recipes=("user-personalization",))
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        glue = boto3.client("glue", region_name=REGION)
        s3.create_bucket(Bucket=RAW)
        glue.create_database(DatabaseInput={"Name": DATABASE})
        for table in RAW_TABLES:
            for name, columns in (
                (columnar.parsed_table(table), columnar.PARSED_COLUMNS[table]),
                (columnar.files_table(table), columnar.FILES_COLUMNS),
            ):
                glue.create_table(
                    DatabaseName=DATABASE,
                    TableInput={
                        "Name": name,
                        "TableType": "EXTERNAL_TABLE",
                        "PartitionKeys": [{"Name": columnar.DAY_PARTITION, "Type": "string"}],
                        "StorageDescriptor": {
                            "Columns": [{"Name": c, "Type": t} for c, t in columns],
                            "Location": f"s3://{PREPARED}/{columnar.COLUMNAR_PREFIX}{name}/",
                            **PARQUET,
                        },
                    },
                )
        yield s3, glue


def _deliver(s3, table: str, day: date, body: bytes = b"h\n1\n", name: str = "part-0.csv") -> None:
    s3.put_object(Bucket=RAW, Key=f"{table}/dt={day.isoformat()}/{name}", Body=body)


def _window_days() -> list[date]:
    return [RUN_DATE - timedelta(days=n) for n in range(WINDOW_DAYS, 0, -1)]


def _plan(s3, glue, now: datetime = NOW) -> dict[str, columnar_days.TablePlan]:
    plans = columnar_days.plan(s3, glue, raw_bucket=RAW, database=DATABASE, params=PARAMS, now=now)
    return {p.table: p for p in plans}


def _commit_all(glue, plans, conversion: str, now: datetime = NOW) -> None:
    for plan in plans.values():
        days = {day: plan.digests[day] for day in plan.to_convert}
        columnar_days.commit(
            glue,
            database=DATABASE,
            table=plan.table,
            parsed_location=columnar.conversion_folder(PREPARED, columnar.parsed_table(plan.table), conversion),
            files_location=columnar.conversion_folder(PREPARED, columnar.files_table(plan.table), conversion),
            digests=days,
            conversion=conversion,
            now=now,
        )


def _partition(glue, table_name: str, day: date) -> dict:
    return glue.get_partition(DatabaseName=DATABASE, TableName=table_name, PartitionValues=[day.isoformat()])[
        "Partition"
    ]


def test_a_run_reads_the_window_of_events_and_every_earlier_day_of_upserts(aws):
    s3, glue = aws
    for day in (RUN_DATE - timedelta(days=WINDOW_DAYS + 1), *_window_days(), RUN_DATE):
        _deliver(s3, "purchases", day)
    old_user_day = RUN_DATE - timedelta(days=400)
    _deliver(s3, "users", old_user_day)
    _deliver(s3, "users", RUN_DATE)
    _deliver(s3, "views", _window_days()[0], body=b"")  # an empty object holds no rows
    plans = _plan(s3, glue)
    assert plans["purchases"].to_convert == _window_days()
    assert plans["users"].to_convert == [old_user_day]
    assert plans["views"].to_convert == [] and plans["contents"].to_convert == []


def test_days_converted_once_are_not_converted_again(aws):
    s3, glue = aws
    for day in _window_days():
        _deliver(s3, "views", day)
    first = _plan(s3, glue)
    assert first["views"].to_convert == _window_days()
    _commit_all(glue, first, "KR-2026-11-15-run-a1")
    assert all(not p.to_convert for p in _plan(s3, glue).values())
    # the next day's run converts its one new day only
    _deliver(s3, "views", RUN_DATE)
    params = PARAMS.model_copy(update={"run_date": RUN_DATE + timedelta(days=1)})
    plans = columnar_days.plan(s3, glue, raw_bucket=RAW, database=DATABASE, params=params, now=NOW)
    assert {p.table: p.to_convert for p in plans}["views"] == [RUN_DATE]


def test_a_redelivered_day_is_converted_again_and_its_partitions_move_to_the_new_conversion(aws):
    s3, glue = aws
    for day in _window_days():
        _deliver(s3, "purchases", day)
    _commit_all(glue, _plan(s3, glue), "KR-2026-11-15-run-a1")
    redelivered = _window_days()[3]
    _deliver(s3, "purchases", redelivered, body=b"h\n1\n2\n")  # same key, other bytes: another ETag
    plans = _plan(s3, glue)
    assert plans["purchases"].to_convert == [redelivered]
    later = NOW + timedelta(hours=1)
    _commit_all(glue, plans, "KR-2026-11-16-run-a1", now=later)
    for name in (columnar.parsed_table("purchases"), columnar.files_table("purchases")):
        moved = _partition(glue, name, redelivered)
        assert moved["StorageDescriptor"]["Location"] == columnar.day_location(
            PREPARED, name, "KR-2026-11-16-run-a1", redelivered
        )
        assert moved["Parameters"][columnar.CONVERSION] == "KR-2026-11-16-run-a1"
        assert moved["Parameters"][columnar.CONVERTED_AT] == later.isoformat()
        assert moved["StorageDescriptor"]["InputFormat"] == PARQUET["InputFormat"]
        kept = _partition(glue, name, _window_days()[0])
        assert kept["Parameters"][columnar.CONVERSION] == "KR-2026-11-15-run-a1"
    assert not _plan(s3, glue)["purchases"].to_convert


def test_a_late_file_in_a_converted_day_changes_its_digest(aws):
    s3, glue = aws
    day = _window_days()[0]
    _deliver(s3, "views", day)
    _commit_all(glue, _plan(s3, glue), "c1")
    _deliver(s3, "views", day, name="part-1.csv")
    assert _plan(s3, glue)["views"].to_convert == [day]


def test_a_new_layout_converts_every_day_again(aws, monkeypatch):
    s3, glue = aws
    for day in _window_days():
        _deliver(s3, "purchases", day)
    _deliver(s3, "contents", _window_days()[0])
    _commit_all(glue, _plan(s3, glue), "c1")
    monkeypatch.setattr(columnar, "LAYOUT_VERSION", "next")
    plans = _plan(s3, glue)
    assert plans["purchases"].to_convert == _window_days()
    assert plans["contents"].to_convert == [_window_days()[0]]


def test_nothing_is_visible_until_a_conversion_is_committed(aws):
    s3, glue = aws
    for day in _window_days():
        _deliver(s3, "purchases", day)
    _plan(s3, glue)  # a conversion started and failed: no commit
    for name in (columnar.parsed_table("purchases"), columnar.files_table("purchases")):
        assert glue.get_partitions(DatabaseName=DATABASE, TableName=name)["Partitions"] == []
    assert _plan(s3, glue)["purchases"].to_convert == _window_days()


def test_a_partition_without_its_recorded_state_is_converted_again(aws):
    s3, glue = aws
    day = _window_days()[0]
    _deliver(s3, "purchases", day)
    _commit_all(glue, _plan(s3, glue), "c1")
    name = columnar.parsed_table("purchases")
    partition = _partition(glue, name, day)
    glue.update_partition(
        DatabaseName=DATABASE,
        TableName=name,
        PartitionValueList=[day.isoformat()],
        PartitionInput={"Values": partition["Values"], "StorageDescriptor": partition["StorageDescriptor"]},
    )
    assert _plan(s3, glue)["purchases"].to_convert == [day]


def test_more_days_than_one_glue_request_takes_are_written_in_batches(aws):
    s3, glue = aws
    days = [RUN_DATE - timedelta(days=n) for n in range(1, 151)]
    for day in days:
        _deliver(s3, "users", day)
    plans = _plan(s3, glue)
    assert len(plans["users"].to_convert) == 150
    _commit_all(glue, plans, "c1")
    assert not _plan(s3, glue)["users"].to_convert


def test_a_refused_partition_write_names_the_table_and_day(aws):
    s3, glue = aws
    day = _window_days()[0]
    with pytest.raises(columnar_days.ColumnarCatalogError, match=r"purchases_files partition dt=\d{4}-\d{2}-\d{2}"):
        columnar_days._raise_first(
            "purchases_files",
            [{"PartitionValues": [day.isoformat()], "ErrorDetail": {"ErrorCode": "AccessDenied", "ErrorMessage": "x"}}],
        )


def test_every_call_of_a_plan_and_a_commit_is_allowed_to_the_prepare_role(aws, dev_app, monkeypatch):
    from tests.iam.calls import Caller, CallMap, CallRecorder, check, function_by_handler
    from tests.iam.policy import Assembly

    s3, glue = aws
    for day in _window_days():
        _deliver(s3, "purchases", day)
    _deliver(s3, "users", _window_days()[0])
    assembly = Assembly(dev_app.outdir)
    function_id, _, caller = function_by_handler(assembly, PIPELINE_STACK, step_names.PREPARE.entry_point)
    recorder = CallRecorder()
    recorder.install(monkeypatch)
    with recorder.acting_as(Caller(function_id, caller.principal)):
        _commit_all(glue, _plan(s3, glue), "c1")
        with recorder.suspended():  # the exporter re-delivers a day, not the step
            _deliver(s3, "users", _window_days()[0], body=b"h\n2\n")
        _commit_all(glue, _plan(s3, glue), "c2")  # an update of a present partition
    operations = {(c.service, c.operation) for c in recorder.calls}
    assert {("glue", "GetPartitions"), ("glue", "BatchCreatePartition"), ("glue", "BatchUpdatePartition")} <= operations
    assert ("s3", "ListObjectsV2") in operations
    refused, checked = check(assembly, CallMap(assembly), recorder.calls)
    assert checked > 0
    assert not refused, "\n".join(r.line() for r in refused)
