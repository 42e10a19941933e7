"""Raw file headers: every file a run reads must name its table's columns in the table's order.

Athena's raw tables and the local runner read the columns by position and skip the header line
(`skip.header.line.count`), so a file whose columns are swapped would load one column as another: views with
`item_id,user_id,...` drop every row as `unknown_country`, contents with `genre` and `title` swapped import wrong
metadata. Nothing in a query can see which line of a file was its first (Athena's hidden columns name the file,
not a line's position), so the header is read from each file's first bytes before any query runs: from S3 by
the Prepare step (one ranged GET per file), from disk by the local runner. A mismatch refuses the run with one
line naming the file, the columns found and the columns expected. No third-party imports (runs in the Lambda).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep.quality import DataQualityError
from dataprep.queries import EVENT_TABLES, RAW_TABLES, PrepareParams

HEADER_MISMATCH = "header_mismatch"
# A header of a few short names fits easily; a first line longer than this is not a header.
MAX_HEADER_BYTES = 4096
S3_READERS = 16  # concurrent ranged GETs: thousands of small reads take seconds, not minutes
_PARTITION = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawFile:
    table: str
    file: str  # the name a quality line shows: s3://bucket/key or the local path
    first_line: bytes


def reads_partition(table: str, dt: str, params: PrepareParams) -> bool:
    """Whether a run reads partition `dt` of `table` (the SQL's own ranges): event exports for the window's
    partitions only; users and contents (upserts) for every partition before the run date (_base.sql,
    raw_events / latest_users / latest_contents)."""
    if table in EVENT_TABLES:
        return params.window_start.isoformat() <= dt < params.run_date.isoformat()
    return dt < params.run_date.isoformat()


def header_columns(first_line: bytes) -> tuple[str, ...]:
    """The column names of a header line: CSV fields, trimmed, in lower case (a UTF-8 BOM and CR are ignored)."""
    text = first_line.removeprefix(_BOM).rstrip(b"\r\n").decode("utf-8", errors="replace")
    return tuple(name.strip().lower() for name in next(csv.reader([text]), []))


def mismatches(files: Iterable[RawFile]) -> list[tuple[RawFile, tuple[str, ...]]]:
    """(file, columns found) for every file whose header differs from its table's columns."""
    found = []
    for raw in files:
        columns = header_columns(raw.first_line)
        if columns != RAW_TABLES[raw.table]:
            found.append((raw, columns))
    return sorted(found, key=lambda item: (item[0].table, item[0].file))


def check_headers(files: Iterable[RawFile]) -> None:
    """Raise DataQualityError (one line: file, columns found and expected) when any header is wrong."""
    wrong = mismatches(files)
    if not wrong:
        return
    problems = [
        f"data quality: {raw.table} file {raw.file} has the header {','.join(columns) or '(empty)'}; expected "
        f"{','.join(RAW_TABLES[raw.table])} (raw columns are read by position: fix the export's column order)"
        for raw, columns in wrong
    ]
    raise DataQualityError(problems, {"file": wrong[0][0].file, "problem": HEADER_MISMATCH, "count": len(wrong)})


def _first_line(chunk: bytes) -> bytes:
    return chunk.split(b"\n", 1)[0]


def local_files(raw_dir: Path, params: PrepareParams) -> Iterator[RawFile]:
    """The first line of every local raw file the run reads (`<table>/dt=YYYY-MM-DD/*.csv`); empty files have
    no header and no rows, so nothing to misread."""
    for table in RAW_TABLES:
        for path in sorted((raw_dir / table).glob("dt=*/*.csv")):
            partition = _PARTITION.match(path.parent.name)
            if not partition or not reads_partition(table, partition.group(1), params):
                continue
            with path.open("rb") as f:
                chunk = f.read(MAX_HEADER_BYTES)
            if chunk:
                yield RawFile(table, str(path), _first_line(chunk))


def _s3_keys(s3: Any, bucket: str, params: PrepareParams) -> list[tuple[str, str]]:
    keys = []
    for table in RAW_TABLES:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{table}/dt="):
            for item in page.get("Contents", []):
                parts = item["Key"].split("/")
                partition = _PARTITION.match(parts[1]) if len(parts) > 2 else None
                if item["Size"] == 0 or not partition:
                    continue  # a folder marker or an empty object: no header, no rows
                if reads_partition(table, partition.group(1), params):
                    keys.append((table, item["Key"]))
    return keys


def s3_files(s3: Any, bucket: str, params: PrepareParams) -> list[RawFile]:
    """The first line of every raw object the run's queries read (the tables' partition locations)."""

    def read(entry: tuple[str, str]) -> RawFile:
        table, key = entry
        chunk = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_HEADER_BYTES - 1}")["Body"].read()
        return RawFile(table, f"s3://{bucket}/{key}", _first_line(chunk))

    keys = _s3_keys(s3, bucket, params)
    with ThreadPoolExecutor(max_workers=S3_READERS) as pool:
        return list(pool.map(read, keys))
