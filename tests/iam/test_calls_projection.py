"""tests/iam/calls.py reads a projected Glue table where Athena would: the partitions of an enum projection the
query names (partition pruning), every value when it names none; injected and date keys stand for one partition."""

from __future__ import annotations

from tests.iam.calls import projected_locations

TEMPLATE = "s3://b/athena/runs/${country}/${run_date}/window/part=${part}/"
ENUMS = {"part": ("new", "changed", "old", "other")}


def test_a_query_reads_the_enum_partitions_it_names_and_stands_one_value_for_the_others():
    sql = "SELECT * FROM run_window WHERE country = 'KR' AND part IN ('new', 'old')"
    assert projected_locations(TEMPLATE, ENUMS, sql) == [
        "s3://b/athena/runs/x/x/window/part=new/",
        "s3://b/athena/runs/x/x/window/part=old/",
    ]


def test_a_query_naming_no_enum_value_reads_every_partition_of_it():
    locations = projected_locations(TEMPLATE, ENUMS, "SELECT * FROM run_window")
    assert locations == [f"s3://b/athena/runs/x/x/window/part={v}/" for v in ENUMS["part"]]


def test_a_date_projection_stands_one_day_for_all():
    assert projected_locations("s3://b/raw/views/dt=${dt}", {}, "SELECT 1") == ["s3://b/raw/views/dt=2026-11-14/"]
