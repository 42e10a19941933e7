"""A skipped INCREMENTAL import (< 1,000 interactions, Personalize's minimum) is carried into the next one: the
increment starts after the last interactions import that ran (the ledger's high-water mark), on DuckDB with the
pipeline's SQL. Changed users follow: a user whose interactions waited is scored once they are imported.

Full import on 2025-06-28 (partitions before it imported); 400 interactions arrive in partition 06-28 (the
06-29 run skips its import), 700 more in partition 06-29 (the 06-30 run imports all 1,100).
"""

from __future__ import annotations

import json

import pytest

from dataprep.counts import MIN_INTERACTIONS
from dataprep.local import prepare
from tests.dataprep.conftest import read_csv, write_raw

FULL_IMPORT, SKIPPED_RUN, NEXT_RUN = "2025-06-28", "2025-06-29", "2025-06-30"
WINDOW_DAYS = 30


def _events(prefix: str, day: str, n: int) -> list[list[str]]:
    # distinct (user, item, instant): none collapses as a duplicate
    return [[f"{prefix}{i % 20}", f"c{i}", f"{day}T{i // 60 % 24:02d}:{i % 60:02d}:00Z"] for i in range(n)]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("carry")
    users = [[f"{p}{i}", "30", "f", "ko_KR", "free"] for p in ("old", "first", "second") for i in range(20)]
    write_raw(root, "users", "2025-01-01", users)
    write_raw(root, "purchases", "2025-06-20", _events("old", "2025-06-20", 1_500))  # in the FULL import
    write_raw(root, "purchases", FULL_IMPORT, _events("first", FULL_IMPORT, 400))
    write_raw(root, "purchases", SKIPPED_RUN, _events("second", SKIPPED_RUN, 700))
    write_raw(root, "contents", "2025-06-01", [[f"c{i}", f"T{i}", "drama", "2025-06-01"] for i in range(1_500)])
    return root


def _changed(out) -> set[str]:
    lines = (out / "changed_users.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["userId"] for line in lines}


def test_a_skipped_increment_is_carried_into_the_next_import(raw, tmp_path):
    skipped = prepare(
        raw, tmp_path / "d1", "KR", SKIPPED_RUN, window_days=WINDOW_DAYS,
        previous_run_date=FULL_IMPORT, imported_before=FULL_IMPORT,
    )  # fmt: skip
    assert skipped.new_interactions == 400 < MIN_INTERACTIONS  # the Import step skips it; the mark stays

    out = tmp_path / "d2"
    counts = prepare(
        raw, out, "KR", NEXT_RUN, window_days=WINDOW_DAYS,
        previous_run_date=SKIPPED_RUN, imported_before=FULL_IMPORT,
    )  # fmt: skip

    assert counts.new_interactions == 1_100
    _, rows = read_csv(out / "interactions_incremental.csv")
    assert len(rows) == 1_100
    assert {r["USER_ID"].rstrip("0123456789") for r in rows} == {"first", "second"}
    # the users whose interactions waited are scored now, with the others of the increment
    assert _changed(out) == {f"{p}{i}" for p in ("first", "second") for i in range(20)}
    assert counts.changed_users == 40
    report = json.loads((out / "counts.json").read_text())
    assert (report["import_since"], report["changes_since"]) == (FULL_IMPORT, FULL_IMPORT)


def test_without_a_skipped_import_the_increment_starts_at_the_previous_run(raw, tmp_path):
    counts = prepare(
        raw, tmp_path, "KR", NEXT_RUN, window_days=WINDOW_DAYS,
        previous_run_date=SKIPPED_RUN, imported_before=SKIPPED_RUN,
    )  # fmt: skip
    assert counts.new_interactions == 700
    assert _changed(tmp_path) == {f"second{i}" for i in range(20)}


def test_a_rerun_of_an_imported_date_has_an_empty_increment(raw, tmp_path):
    # the ledger's mark is this very date: its interactions are in Personalize already (INCREMENTAL appends)
    counts = prepare(
        raw, tmp_path, "KR", SKIPPED_RUN, window_days=WINDOW_DAYS,
        previous_run_date=FULL_IMPORT, imported_before=SKIPPED_RUN,
    )  # fmt: skip
    assert counts.new_interactions == 0
    assert _changed(tmp_path) == {f"first{i}" for i in range(20)}  # the changed-users batch still runs
