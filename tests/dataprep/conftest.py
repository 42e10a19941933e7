"""Hand-made raw exports for the preparation tests: every row is here for one rule under test."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataprep.queries import RAW_TABLES

RUN_DATE = "2025-07-01"
WINDOW_DAYS = 10  # window [2025-06-21, 2025-07-01)


def epoch(text: str) -> int:
    """Epoch seconds of an ISO timestamp; naive means UTC (the documented rule)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def write_raw(root: Path, table: str, dt: str, rows: list[list[str]], name: str = "part-0.csv") -> None:
    folder = root / table / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a" if (folder / name).exists() else "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if f.tell() == 0:
            writer.writerow(RAW_TABLES[table])
        writer.writerows(rows)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="session")
def raw_fixture(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    write_raw(
        root,
        "users",
        "2025-01-01",
        [
            ["k1", "30", "F", "ko_KR", "premium"],
            ["k2", "", "", "ko-kr", ""],  # locale normalised, missing metadata -> none
            ["k3", "17", "m", "ko_KR", "free"],
            ["k4", "45", "f", "en_US", "free"],  # moves to KR later (latest partition wins)
            ["k6", "abc", "f|m", "ko_KR", "basic"],  # unusable age, '|' cannot split a categorical
            ["j1", "60", "m", "ja_JP", "basic"],
            ["x1", "22", "f", "english", "free"],  # unparsable locale: no country
        ],
    )
    write_raw(root, "users", "2025-06-25", [["k4", "45", "f", "ko_KR", "premium"]])
    write_raw(root, "users", RUN_DATE, [["k5", "33", "m", "ko_KR", "free"]])  # not visible before run_date

    write_raw(root, "purchases", "2025-06-20", [["k1", "i1", "2025-06-20T12:00:00Z"]])  # day before window
    write_raw(root, "purchases", "2025-06-21", [["k1", "i1", "2025-06-21T00:00:00Z"]])  # first day
    write_raw(
        root,
        "purchases",
        "2025-06-30",  # last day
        [
            ["k1", "i2", str(epoch("2025-06-30T23:59:59"))],
            ["k1", "i2", str(epoch("2025-06-30T23:59:59"))],  # exact duplicate
            ["", "i1", "2025-06-30T01:00:00Z"],  # missing user id
            ["k1", " ", "2025-06-30T01:00:00Z"],  # blank item id
            ["k1", "i2", "not-a-time"],
            ["k1", "i2", "2025-02-30T00:00:00Z"],  # impossible date
            ["k1", "i2", "1999-12-31T00:00:00Z"],  # outside the plausible range
            ["x1", "i1", "2025-06-30T01:00:00Z"],  # unknown locale
            ["k5", "i1", "2025-06-30T01:00:00Z"],  # user only exported on the run date
        ],
    )
    write_raw(root, "purchases", RUN_DATE, [["k1", "i3", "2025-07-01T00:00:00Z"]])  # run date itself
    write_raw(root, "purchases", "2025-06-25", [["j1", "i1", "2025-06-25T08:00:00-05:00"]])
    write_raw(
        root,
        "views",
        "2025-06-22",
        [
            ["k2", "i2", "4", str(epoch("2025-06-22T00:00:00"))],
            ["k2", "i3", "", "2025-06-22 10:00:00"],  # no count, no zone
            ["k3", "i1", "abc", "2025-06-22T10:00:00.123+09:00"],  # bad count, offset + fraction
            ["k4", "i2", "1", str(epoch("2025-06-22T00:00:00") * 1000 + 999)],  # milliseconds
            ["k6", "i3", "2", "2025-06-22"],  # date only
        ],
    )
    # The same k3 view again in a later partition: exact duplicate, must not make k3 "changed".
    write_raw(root, "views", "2025-06-30", [["k3", "i1", "abc", "2025-06-22T10:00:00.123+09:00"]])
    # A line with too many fields: counted as malformed, never a crash.
    with (root / "views" / "dt=2025-06-30" / "part-0.csv").open("a", encoding="utf-8") as f:
        f.write("k1,i1,1,1751241600,extra\n")

    write_raw(
        root,
        "contents",
        "2025-01-01",
        [
            ["i1", 'Love, "Actually"', "romance|sitcom|Comedy", "2024-12-01"],
            ["i2", "Plain", "", "2025-01-01T00:00:00Z"],
            ["i3", "Three", "action|adventure|unknown-genre", "1700000000"],
            ["i4", "Undated", "drama", "someday"],
            ["i5", "Line1\nLine2", "documentary", "2024-06-01T00:00:00+09:00"],
            ["", "No id", "drama", "2024-06-01"],
        ],
    )
    write_raw(root, "contents", "2025-06-01", [["i2", "Plain 2", "melodrama", "2025-01-01T00:00:00Z"]])
    write_raw(root, "contents", RUN_DATE, [["i9", "Tomorrow", "drama", "2025-07-01"]])  # not yet visible
    return root
