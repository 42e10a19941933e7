"""The report step's online-outcome UNLOAD for FakeAthena: the statement really runs, on DuckDB, over the tables it
names, as their Glue tables (stacks/constructs/report_catalog.py) would read them:
- `exposures`: every object under the results bucket's exposures/ prefix (GZIP, as Firehose writes them), one row per
  line, the line whole, `dt` from the object's `dt=YYYY-MM-DD/` folder;
- views_parsed / purchases_parsed: the columnar days' rows. The fake's conversion writes placeholder Parquet, so
  these come from the rows a test gives (FakeAthena.parsed_events), `dt` the day of `ts` unless a row names it.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from common.experiments import EXPOSURE_DAY, EXPOSURES_PREFIX, EXPOSURES_TABLE
from dataprep.columnar import DAY_PARTITION, PARSED_COLUMNS
from dataprep.duckdb_dialect import to_duckdb
from evaluation.online_local import create_tables
from evaluation.online_sql import EVENT_TABLES

_UNLOAD = re.compile(r"^UNLOAD \(\n(.*)\n\)\nTO '", re.DOTALL)
_DAY_FOLDER = re.compile(rf"(?:^|/){EXPOSURE_DAY}=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/")


def _exposure_lines(s3: Any, results_bucket: str) -> list[tuple[str, str]]:
    """(line, dt) of every line under the exposure log's prefix; an object outside a dt= folder is not a partition
    the table's projection reads."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=results_bucket, Prefix=EXPOSURES_PREFIX):
        for item in page.get("Contents", []):
            day = _DAY_FOLDER.search(item["Key"].removeprefix(EXPOSURES_PREFIX))
            if day is None:
                continue
            body = s3.get_object(Bucket=results_bucket, Key=item["Key"])["Body"].read()
            text = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode("utf-8")
            rows += [(line, day.group(1)) for line in text.split("\n")[: -1 if text.endswith("\n") else None]]
    return rows


def _event_row(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    columns = [name for name, _ in PARSED_COLUMNS[table.removesuffix("_parsed")]]
    unknown = set(row) - set(columns) - {DAY_PARTITION}
    if unknown:
        raise ValueError(f"{table} has no column {sorted(unknown)}: its columns are {columns}")
    day = row.get(DAY_PARTITION) or datetime.fromtimestamp(int(row["ts"]), UTC).date().isoformat()
    return (*(row.get(c) for c in columns), day)


def online_unload(
    s3: Any, sql: str, results_bucket: str, parsed_events: Mapping[str, Sequence[Mapping[str, Any]]]
) -> bytes:
    """The UNLOAD's JSON lines: the inner statement, translated to DuckDB, over the tables above."""
    inner = _UNLOAD.search(sql)
    if inner is None:
        raise ValueError(f"not an online outcome UNLOAD: {sql[:200]}")
    con = duckdb.connect()
    try:
        create_tables(con)
        lines = _exposure_lines(s3, results_bucket)
        if lines:
            con.executemany(f"INSERT INTO {EXPOSURES_TABLE} VALUES (?, ?)", lines)
        for table in EVENT_TABLES:
            rows = [_event_row(table, row) for row in parsed_events.get(table, ())]
            if rows:
                con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        cursor = con.execute(to_duckdb(inner.group(1)))
        names = [d[0] for d in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in found).encode()
