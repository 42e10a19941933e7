"""The Athena SQL, transpiled to DuckDB by the local runner, on hand-made raw exports: exact rows."""

from __future__ import annotations

import json

import pytest

from common.schemas import UNKNOWN, csv_header
from dataprep.local import prepare
from tests.dataprep.conftest import RUN_DATE, WINDOW_DAYS, epoch, read_csv


@pytest.fixture(scope="module")
def kr(raw_fixture, tmp_path_factory):
    out = tmp_path_factory.mktemp("kr")
    counts = prepare(
        raw_fixture, out, "KR", RUN_DATE, window_days=WINDOW_DAYS, previous_run_date="2025-06-30"
    )
    return out, counts


def _rows(path):
    header, rows = read_csv(path)
    return header, sorted(tuple(r.values()) for r in rows)


def test_interactions_exact_rows_window_dedupe_and_formats(kr):
    out, _ = kr
    header, rows = _rows(out / "interactions.csv")
    assert header == csv_header("Interactions", ())
    assert rows == sorted(
        [
            # first day of the window in; the day before (2025-06-20) and the run date (i3) out
            ("k1", "i1", str(epoch("2025-06-21T00:00:00")), "purchase", ""),
            # last second of the last day in, its exact duplicate collapsed
            ("k1", "i2", str(epoch("2025-06-30T23:59:59")), "purchase", ""),
            ("k2", "i2", str(epoch("2025-06-22T00:00:00")), "view", "4"),
            ("k2", "i3", str(epoch("2025-06-22T10:00:00")), "view", ""),  # no zone = UTC, no count = null
            ("k3", "i1", str(epoch("2025-06-22T01:00:00")), "view", ""),  # +09:00 applied, fraction dropped
            ("k4", "i2", str(epoch("2025-06-22T00:00:00")), "view", "1"),  # milliseconds truncated
            ("k6", "i3", str(epoch("2025-06-22T00:00:00")), "view", "2"),  # date only = midnight UTC
        ]
    )


def test_country_split_uses_the_latest_locale(raw_fixture, tmp_path):
    prepare(raw_fixture, tmp_path, "JP", RUN_DATE, window_days=WINDOW_DAYS)
    _, rows = _rows(tmp_path / "interactions.csv")
    assert rows == [("j1", "i1", str(epoch("2025-06-25T13:00:00")), "purchase", "")]  # -05:00 applied
    _, users = _rows(tmp_path / "users.csv")
    assert users == [("j1", "ja_JP", "55+", "m", "basic")]


def test_users_age_groups_and_missing_values(kr):
    out, _ = kr
    header, rows = _rows(out / "users.csv")
    assert header == csv_header("Users", ())
    assert rows == [
        ("k1", "ko_KR", "25-34", "f", "premium"),
        ("k2", "ko_KR", UNKNOWN, UNKNOWN, UNKNOWN),  # 'ko-kr' normalised
        ("k3", "ko_KR", "0-17", "m", "free"),
        (
            "k4",
            "ko_KR",
            "45-54",
            "f",
            "premium",
        ),  # 45 is the bucket edge; moved from en_US in a later partition
        ("k6", "ko_KR", UNKNOWN, "f m", "basic"),
    ]  # x1 (bad locale), j1 (JP) and k5 (exported on the run date) are not KR users of this run


def test_items_genres_consolidated_sorted_and_title_cleaned(kr):
    out, _ = kr
    header, rows = _rows(out / "items.csv")
    assert header == csv_header("Items", ("user-personalization",))
    assert rows == [
        ("i1", "Comedy|Romance", str(epoch("2024-12-01T00:00:00")), 'Love, "Actually"'),
        ("i2", "Drama", str(epoch("2025-01-01T00:00:00")), "Plain 2"),  # newest partition wins
        ("i3", "Action", "1700000000", "Three"),  # action+adventure -> one genre; unknown one ignored
        ("i5", "Documentary", str(epoch("2024-05-31T15:00:00")), "Line1 Line2"),
    ]  # i4 has no usable created_at; i9 appears on the run date


def test_items_without_text_recipes_keep_title(raw_fixture, tmp_path):
    """The Items schema no longer depends on the recipes (docs/schema-evolution.md): TITLE is always written."""
    prepare(raw_fixture, tmp_path, "KR", RUN_DATE, window_days=WINDOW_DAYS, recipes=["trending-now"])
    header, rows = _rows(tmp_path / "items.csv")
    assert header == csv_header("Items", ("trending-now",)) == ["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "TITLE"]
    assert len(rows) == 4 and all(len(r) == 4 for r in rows)


def test_csv_quoting_is_minimal_and_header_unquoted(kr):
    out, _ = kr
    lines = (out / "items.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE"
    assert any(line.endswith(',"Love, ""Actually"""') for line in lines)
    assert any(line.endswith(",Three") for line in lines)


def test_counts_and_dropped_rows(kr):
    out, counts = kr
    assert counts.model_dump() == {
        "interactions": 7,
        "users": 5,
        "users_with_2_interactions": 2,  # k1, k2
        "items": 4,
        "interacted_items": 3,
        "country_users": 5,
        "changed_users": 1,
        "new_interactions": 1,  # k1's purchase on 2025-06-30; k3's view there is a re-export
        "duplicates_removed": 2,  # k1's purchase twice, k3's view re-exported
        "dropped_missing_ids": 2,
        "dropped_unparsable_timestamp": 3,
        "dropped_unknown_country": 2,  # x1 (locale 'english'), k5 (not exported before the run date)
        "items_dropped_unparsable_timestamp": 1,
        "items_with_unmapped_genre": 1,
        # The views line with an extra field, and the record whose title holds a line break, once (the layout
        # allows none: Athena's SerDe reads line by line).
        "malformed_csv_rows": 2,
        "last_day_rows": 3,  # kept KR rows of dt=2025-06-30: k1's purchase twice, k3's re-exported view
        "day_before_rows": 0,
    }
    report = json.loads((out / "counts.json").read_text())
    assert report["counts"] == counts.model_dump()
    assert report["meets_minimum"] is False and "7 interactions < 1000" in report["reason"]


def test_changed_users_since_previous_run(kr):
    out, _ = kr
    lines = (out / "changed_users.jsonl").read_text(encoding="utf-8").splitlines()
    # Only k1 has an interaction first seen in [2025-06-30, 2025-07-01); k3's copy there is a re-export.
    assert [json.loads(line) for line in lines] == [{"userId": "k1"}]


def test_changed_users_without_previous_run_are_all_window_users(raw_fixture, tmp_path):
    counts = prepare(raw_fixture, tmp_path, "KR", RUN_DATE, window_days=WINDOW_DAYS)
    lines = (tmp_path / "changed_users.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["userId"] for line in lines) == ["k1", "k2", "k3", "k4", "k6"]
    assert counts.changed_users == 5


def test_items_batch_lists_every_prepared_item(kr):
    out, _ = kr
    lines = (out / "items_batch.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["itemId"] for line in lines) == ["i1", "i2", "i3", "i5"]


def test_empty_country_gives_headers_and_counts_below_minimum(raw_fixture, tmp_path):
    counts = prepare(raw_fixture, tmp_path, "FR", RUN_DATE, window_days=WINDOW_DAYS)
    assert (counts.interactions, counts.users, counts.country_users, counts.changed_users) == (0, 0, 0, 0)
    ok, reason = counts.meets_minimum()
    assert not ok and "0 interactions" in reason
    assert (tmp_path / "interactions.csv").read_text() == ",".join(csv_header("Interactions", ())) + "\n"
    assert (tmp_path / "changed_users.jsonl").read_text() == ""


def test_empty_raw_export_is_not_an_error(tmp_path):
    (tmp_path / "raw").mkdir()
    counts = prepare(tmp_path / "raw", tmp_path / "out", "KR", RUN_DATE)
    assert counts.interactions == 0 and counts.items == 0 and not counts.meets_minimum()[0]


def test_json_lines_escape_ids(tmp_path):
    from tests.dataprep.conftest import write_raw

    raw = tmp_path / "raw"
    odd = 'we"ird\\id'
    write_raw(raw, "users", "2025-01-01", [[odd, "30", "f", "ko_KR", "free"]])
    write_raw(raw, "views", "2025-06-30", [[odd, "i,1", "1", "2025-06-30T00:00:00Z"]])
    prepare(raw, tmp_path / "out", "KR", RUN_DATE)
    assert json.loads((tmp_path / "out" / "changed_users.jsonl").read_text()) == {"userId": odd}
    _, rows = _rows(tmp_path / "out" / "interactions.csv")
    assert rows[0][:2] == (odd, "i,1")


def test_incremental_interactions_are_those_first_seen_since_the_previous_run(kr):
    out, counts = kr
    header, rows = _rows(out / "interactions_incremental.csv")
    assert header == csv_header("Interactions", ())
    # Only k1's purchase arrived in [2025-06-30, 2025-07-01); k3's view re-exported there was imported before.
    assert rows == [("k1", "i2", str(epoch("2025-06-30T23:59:59")), "purchase", "")]
    assert counts.new_interactions == len(rows)


def test_all_users_are_every_country_user_with_interactions(kr):
    out, counts = kr
    lines = (out / "all_users.jsonl").read_text(encoding="utf-8").splitlines()
    # Independent of the previous run; users without interactions in the window (none here) are not listed.
    assert sorted(json.loads(line)["userId"] for line in lines) == ["k1", "k2", "k3", "k4", "k6"]
    assert counts.users == len(lines)


def test_ranking_input_is_empty_when_no_item_was_released_in_the_window(kr):
    out, _ = kr
    # Every fixture item was created before 2025-06-21: nothing new to rank, no line with an empty list.
    assert (out / "ranking_input.jsonl").read_text(encoding="utf-8") == ""
