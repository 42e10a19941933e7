"""The columnar days: each raw export day parsed once into Parquet, and the run window built from them.

One idea: what the data layer stores and where (docs/data-layout.md, "Columnar days"). The SQL that fills it
lives in `sql/convert_*.sql` and `sql/window.sql` (rendered by dataprep.queries); this module names the tables,
their columns and locations, fingerprints a day's raw objects, and decides which days a run must convert.

- `<table>_parsed` (Glue, Parquet, one explicit partition per `dt`): every row the CSV reader produced from the
  day's files, trimmed and parsed once (ids, epoch seconds, view count, byte problem, the raw file's name).
- `<table>_files` (same partitions): per raw file, the records after the header (`lines`), the malformed ones and
  the rows the reader produced: the line-based half of the data quality, counted once when the day is converted.
- `run_window` (one per run attempt, injected partitions + `part`): the window's interactions classified and
  deduplicated once per run, which every output and the report read instead of the window's days.

A day's partition points at the conversion that produced it (`columnar/<parsed|files table>/<conversion>/dt=D/`);
a new conversion writes a new folder and the partition moves only after both of its queries succeeded, so a
failed attempt leaves nothing visible. The partition's parameters record the raw objects' fingerprint
(`raw_digest`) and the `layout_version`: a re-delivered day (other objects or ETags) or a new layout is
converted again, anything else never twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# Bumped whenever the parsed columns or their meaning change: every day of the window is converted again.
LAYOUT_VERSION = "1"
# Top-level prefix of the prepared bucket holding the converted days (its own lifecycle: see stacks.data_stack).
COLUMNAR_PREFIX = "columnar/"
# A conversion older than this many days is converted again before a run reads it: the columnar prefix expires
# objects after window_days + COLUMNAR_EXPIRY_MARGIN_DAYS, so a day a late rerun still reads is never one whose
# files the lifecycle rule is about to delete.
COLUMNAR_EXPIRY_MARGIN_DAYS = 30
# Athena's UNLOAD page: "The maximum number of partitions that can be used with UNLOAD is 100." A backfill
# converts its days in chunks of this many (one partition per day).
MAX_DAYS_PER_CONVERSION = 100

# Partition parameters of a converted day (Glue partition Parameters; the local catalogue's JSON keys).
RAW_DIGEST = "raw_digest"
LAYOUT = "layout_version"
CONVERTED_AT = "converted_at"
CONVERSION = "conversion"

PARSED_SUFFIX = "_parsed"
FILES_SUFFIX = "_files"

# Columns of `<table>_parsed`, in order, with their Glue types (the partition column `dt` comes after them).
# Events are parsed (ids trimmed, NULL when empty; epoch seconds; the view count); users and contents keep the
# raw strings, because the newest version of an id is chosen on the raw values (dataprep/sql/_base.sql).
_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user_id", "string"),
    ("item_id", "string"),
    ("ts", "bigint"),
    ("event_value", "bigint"),
    ("file", "string"),
    ("byte_problem", "string"),
)
PARSED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "purchases": _EVENT_COLUMNS,
    "views": _EVENT_COLUMNS,
    "users": (
        ("user_id", "string"),
        ("age", "string"),
        ("gender", "string"),
        ("locale", "string"),
        ("membership", "string"),
        ("file", "string"),
        ("byte_problem", "string"),
    ),
    "contents": (
        ("item_id", "string"),
        ("title", "string"),
        ("genre", "string"),
        ("created_at", "string"),
        ("file", "string"),
        ("byte_problem", "string"),
    ),
}
FILES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "string"),
    ("lines", "bigint"),
    ("malformed_lines", "bigint"),
    ("rows_read", "bigint"),
)
DAY_PARTITION = "dt"
# Raw tables whose every day before the run date is read (upserts), not only the window's.
UPSERT_TABLES = ("users", "contents")

WINDOW_TABLE = "run_window"
# Injected partition columns of run_window: the run attempt whose window it is (as the report's prepared tables).
WINDOW_RUN_PARTITIONS = ("country", "run_date", "execution", "attempt")
WINDOW_PART = "part"
WINDOW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user_id", "string"),
    ("item_id", "string"),
    ("ts", "bigint"),
    ("event_type", "string"),
    ("event_value", "bigint"),
    ("first_dt", "string"),  # the earliest partition holding the interaction
    ("copies", "bigint"),  # rows holding it (exact duplicates included)
    ("file", "string"),  # events: the file of its first copy; files rows: the file counted
    ("source_table", "string"),
    ("drop_reason", "string"),
    ("dt", "string"),
    ("row_count", "bigint"),  # files and days rows: the rows counted
)
WINDOW_FOLDER = "window"


class Part(StrEnum):
    """What a run_window row is (its partition): the run's country's interactions by when they were first seen,
    other countries' interactions (for the per-file quality), per-file row counts, per-day kept rows."""

    NEW = "new"  # first seen in [import_since, run_date): the INCREMENTAL import
    CHANGED = "changed"  # first seen in [changes_since, import_since): their users are scored again
    OLD = "old"
    OTHER = "other"  # kept interactions of other countries
    FILES = "files"  # rows per (source table, file, drop reason; NULL = kept, duplicates included)
    DAYS = "days"  # the country's kept rows per partition (duplicates included)


COUNTRY_PARTS = (Part.NEW, Part.CHANGED, Part.OLD)
EVENT_PARTS = (*COUNTRY_PARTS, Part.OTHER)


def parsed_table(table: str) -> str:
    return table + PARSED_SUFFIX


def files_table(table: str) -> str:
    return table + FILES_SUFFIX


class RawObject(BaseModel):
    """One raw object of a day as S3 lists it (or a local file: its digest in place of the ETag)."""

    model_config = ConfigDict(frozen=True)

    key: str
    etag: str
    size: int


def raw_digest(objects: Iterable[RawObject]) -> str:
    """The fingerprint of a day's raw objects: names, ETags and sizes, in name order. A re-delivered or late file
    changes it; listing the same objects again does not."""
    lines = sorted(f"{o.key}\t{o.etag.strip(chr(34))}\t{o.size}" for o in objects)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


class DayState(BaseModel):
    """What the catalogue records about a converted day (the partition's parameters)."""

    model_config = ConfigDict(frozen=True)

    raw_digest: str
    layout_version: str
    converted_at: datetime
    conversion: str


def days_to_convert(
    digests: Mapping[date, str],
    converted: Mapping[date, DayState],
    *,
    now: datetime,
    window_days: int,
) -> list[date]:
    """The days whose raw objects (`digests`: every day the run reads that has raw objects) are not converted as
    they are now: never converted, converted from other objects (re-delivered), by another layout, or so long ago
    that the lifecycle rule may expire the conversion before the run's window stops reading it."""
    stale_before = now - timedelta(days=window_days)
    days = []
    for day, digest in digests.items():
        state = converted.get(day)
        if (
            state is None
            or state.raw_digest != digest
            or state.layout_version != LAYOUT_VERSION
            or state.converted_at < stale_before
        ):
            days.append(day)
    return sorted(days)


def chunks(days: list[date]) -> list[list[date]]:
    """Days in groups one UNLOAD can write (MAX_DAYS_PER_CONVERSION partitions)."""
    return [days[i : i + MAX_DAYS_PER_CONVERSION] for i in range(0, len(days), MAX_DAYS_PER_CONVERSION)]


def conversion_folder(bucket: str, table_name: str, conversion: str) -> str:
    """Where one conversion of `table_name` (a parsed or files table) writes its day folders (`dt=D/`)."""
    return f"s3://{bucket}/{COLUMNAR_PREFIX}{table_name}/{conversion}/"


def day_location(bucket: str, table_name: str, conversion: str, day: date) -> str:
    """A converted day's partition location (what the Glue partition points at)."""
    return f"{conversion_folder(bucket, table_name, conversion)}{DAY_PARTITION}={day.isoformat()}/"
