"""The columnar days on AWS: which raw days a run must convert (S3 listing + Glue partitions), and the Glue
partitions that make a finished conversion visible.

dataprep.columnar decides (raw_digest, days_to_convert); this module only reads and writes AWS:
- `plan` lists each raw table once with ListObjectsV2 (from the first day the run reads), fingerprints each day,
  reads the `<table>_parsed` partitions (GetPartitions, paginated) and returns the days to convert with the
  digests they were planned from;
- `commit` points the `<table>_files` partitions, then the `<table>_parsed` ones, at a conversion folder
  (BatchCreatePartition for a new day, BatchUpdatePartition for a converted one). The parsed partition's
  parameters are what `plan` reads back, so it is written last: a step stopped between the two writes
  leaves the day looking unconverted and the next plan converts it again.

The digests recorded are those planned, not read again at commit: if a day is re-delivered while its
conversion runs, the partition records the older digest and the next run converts the day again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from common.aws_errors import transient_errors_named
from dataprep import columnar
from dataprep.headers import reads_partition
from dataprep.queries import EVENT_TABLES, RAW_TABLES, PrepareParams

# Glue's BatchCreatePartition and BatchUpdatePartition take at most 100 entries per request (their API
# reference: PartitionInputList / Entries, "Array Members: Minimum number of 0 items. Maximum number of 100 items").
MAX_PARTITIONS_PER_REQUEST = 100
_DAY_FOLDER = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


class ColumnarCatalogError(RuntimeError):
    """Glue refused a partition write; the message names the table, the day and Glue's reason."""


@dataclass(frozen=True)
class TablePlan:
    """One raw table's days as a run finds them: the fingerprint of every day it reads that has raw objects,
    what the catalogue recorded per converted day, and the days to convert now (sorted)."""

    table: str
    digests: dict[date, str]
    converted: dict[date, columnar.DayState]
    to_convert: list[date]


def first_day(table: str, params: PrepareParams) -> date | None:
    """The first partition a run reads of `table`: the window's start for events, none (every day) for upserts."""
    return params.window_start if table in EVENT_TABLES else None


def raw_day_digests(s3: Any, bucket: str, table: str, params: PrepareParams) -> dict[date, str]:
    """`columnar.raw_digest` of each day of `table` the run reads, from one listing of `<table>/`."""
    start = first_day(table, params)
    arguments = {"Bucket": bucket, "Prefix": f"{table}/dt="}
    if start is not None:
        # Keys sort by day (dt=YYYY-MM-DD); every key of the first day sorts after its folder name without "/".
        arguments["StartAfter"] = f"{table}/dt={start.isoformat()}"
    objects: dict[date, list[columnar.RawObject]] = defaultdict(list)
    with transient_errors_named():
        for page in s3.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", []):
                parts = item["Key"].split("/")
                day = _DAY_FOLDER.match(parts[1]) if len(parts) > 2 else None
                if item["Size"] == 0 or not day:
                    continue  # a folder marker or an empty object: no rows (as dataprep.headers)
                if reads_partition(table, day.group(1), params):
                    objects[date.fromisoformat(day.group(1))].append(
                        columnar.RawObject(key=item["Key"], etag=item["ETag"], size=item["Size"])
                    )
    return {day: columnar.raw_digest(items) for day, items in sorted(objects.items())}


def _day_state(parameters: Mapping[str, str]) -> columnar.DayState | None:
    """The state a partition's parameters record; None for a partition this module did not write completely (it
    is converted again rather than trusted)."""
    try:
        return columnar.DayState(
            raw_digest=parameters[columnar.RAW_DIGEST],
            layout_version=parameters[columnar.LAYOUT],
            converted_at=datetime.fromisoformat(parameters[columnar.CONVERTED_AT]),
            conversion=parameters[columnar.CONVERSION],
        )
    except (KeyError, ValueError):
        return None


def converted_days(glue: Any, database: str, table_name: str) -> dict[date, columnar.DayState]:
    """The recorded state of every partition of `table_name` (a parsed table), paginated."""
    states: dict[date, columnar.DayState] = {}
    with transient_errors_named():
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table_name)
        for page in pages:
            for partition in page.get("Partitions", []):
                state = _day_state(partition.get("Parameters", {}))
                (value,) = partition["Values"]
                if state is not None:
                    states[date.fromisoformat(value)] = state
    return states


def plan(
    s3: Any, glue: Any, *, raw_bucket: str, database: str, params: PrepareParams, now: datetime
) -> list[TablePlan]:
    """Per raw table, the days the run reads and the ones to convert before its window is built."""
    plans = []
    for table in RAW_TABLES:
        digests = raw_day_digests(s3, raw_bucket, table, params)
        converted = converted_days(glue, database, columnar.parsed_table(table))
        to_convert = columnar.days_to_convert(digests, converted, now=now, window_days=params.window_days)
        plans.append(TablePlan(table, digests, converted, to_convert))
    return plans


def _partition_input(table: dict[str, Any], location: str, day: date, state: columnar.DayState) -> dict[str, Any]:
    descriptor = table["StorageDescriptor"]
    return {
        "Values": [day.isoformat()],
        "Parameters": {
            columnar.RAW_DIGEST: state.raw_digest,
            columnar.LAYOUT: state.layout_version,
            columnar.CONVERTED_AT: state.converted_at.isoformat(),
            columnar.CONVERSION: state.conversion,
        },
        "StorageDescriptor": {
            "Columns": descriptor["Columns"],
            "Location": f"{location.rstrip('/')}/{columnar.DAY_PARTITION}={day.isoformat()}/",
            "InputFormat": descriptor["InputFormat"],
            "OutputFormat": descriptor["OutputFormat"],
            "SerdeInfo": descriptor["SerdeInfo"],
        },
    }


def _batches(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), MAX_PARTITIONS_PER_REQUEST):
        yield items[i : i + MAX_PARTITIONS_PER_REQUEST]


def write_partitions(
    glue: Any, database: str, table_name: str, location: str, states: Mapping[date, columnar.DayState]
) -> None:
    """Point `table_name`'s partition of each day at `<location>dt=<day>/` with the day's state: created when
    absent, updated when present. Raises ColumnarCatalogError naming the first day Glue refused."""
    if not states:
        return
    with transient_errors_named():
        table = glue.get_table(DatabaseName=database, Name=table_name)["Table"]
        existing = set()
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table_name):
            existing |= {date.fromisoformat(p["Values"][0]) for p in page.get("Partitions", [])}
        inputs = {day: _partition_input(table, location, day, state) for day, state in sorted(states.items())}
        new = [inputs[day] for day in inputs if day not in existing]
        for batch in _batches(new):
            errors = glue.batch_create_partition(
                DatabaseName=database, TableName=table_name, PartitionInputList=batch
            ).get("Errors", [])
            _raise_first(table_name, errors)
        present = [
            {"PartitionValueList": inputs[day]["Values"], "PartitionInput": inputs[day]}
            for day in inputs
            if day in existing
        ]
        for batch in _batches(present):
            errors = glue.batch_update_partition(DatabaseName=database, TableName=table_name, Entries=batch).get(
                "Errors", []
            )
            _raise_first(table_name, errors)


def _raise_first(table_name: str, errors: list[dict[str, Any]]) -> None:
    if errors:
        first = errors[0]
        values = first.get("PartitionValues") or first.get("PartitionValueList") or ["?"]
        detail = first.get("ErrorDetail", {})
        raise ColumnarCatalogError(
            f"{table_name} partition dt={values[0]} not written: {detail.get('ErrorCode', 'error')}: "
            f"{detail.get('ErrorMessage', '')} ({len(errors)} refused)"
        )


def commit(
    glue: Any,
    *,
    database: str,
    table: str,
    parsed_location: str,
    files_location: str,
    digests: Mapping[date, str],
    conversion: str,
    now: datetime,
) -> None:
    """Make one finished conversion of `table`'s days (`digests`: day -> the digest it was planned from)
    visible: the files partitions first, the parsed ones (the state `plan` reads) last."""
    states = {
        day: columnar.DayState(
            raw_digest=digest, layout_version=columnar.LAYOUT_VERSION, converted_at=now, conversion=conversion
        )
        for day, digest in digests.items()
    }
    write_partitions(glue, database, columnar.files_table(table), files_location, states)
    write_partitions(glue, database, columnar.parsed_table(table), parsed_location, states)
