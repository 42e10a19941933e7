"""interactions_incremental, all_users and ranking_input on a raw export built around the previous run date.

Run date 2025-07-01, 10-day window [2025-06-21, 2025-07-01), previous successful run 2025-06-28.
"""

from __future__ import annotations

import json

import pytest

from dataprep.local import prepare
from tests.dataprep.conftest import RUN_DATE, WINDOW_DAYS, epoch, read_csv, write_raw

PREVIOUS = "2025-06-28"
ODD_ITEM = 'n"ew\\4'  # JSON escaping inside itemList


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("fresh")
    write_raw(
        root,
        "users",
        "2025-01-01",
        [[u, "30", "f", "ko_KR", "free"] for u in ("a1", "a2", "a3", "a4")]
        + [["j1", "40", "m", "ja_JP", "free"]],
    )
    write_raw(root, "views", "2025-06-22", [["a1", "c_start", "3", "2025-06-22T08:00:00Z"]])
    write_raw(root, "views", "2025-06-22", [["a4", "c_mid", "1", "2025-06-22T09:00:00Z"]])  # a4: old only
    # The day before PREVIOUS: imported by the previous run.
    write_raw(root, "purchases", "2025-06-27", [["a2", "c_mid", "2025-06-27T10:00:00Z"]])
    write_raw(root, "purchases", PREVIOUS, [["a1", "c_last", "2025-06-28T05:00:00Z"]])  # first new partition
    # A late event: an old timestamp exported after the previous run. It is new to Personalize.
    write_raw(root, "purchases", "2025-06-29", [["a3", "c_start", "2025-06-24T10:00:00Z"]])
    write_raw(
        root,
        "purchases",
        "2025-06-30",
        [
            ["a2", "c_mid", "2025-06-27T10:00:00Z"],  # re-export of the 06-27 purchase: already imported
            ["a1", "c_tie_a", "2025-06-29T23:00:00Z"],
            ["a1", "c_tie_a", "2025-06-29T23:00:00Z"],  # exact duplicate: one row
            ["j1", "c_last", "2025-06-30T01:00:00Z"],  # new but JP
        ],
    )
    write_raw(root, "purchases", RUN_DATE, [["a4", "c_last", "2025-07-01T01:00:00Z"]])  # run date: unread

    write_raw(
        root,
        "contents",
        "2025-06-01",
        [
            ["c_old", "Old", "drama", "2025-06-20T23:59:59Z"],  # one second before the window
            ["c_start", "Start", "drama", "2025-06-21"],  # midnight of the window start: in
            ["c_mid", "Mid", "drama", "2025-06-25T12:00:00Z"],
            [ODD_ITEM, "Odd", "drama", "2025-06-26T00:00:00Z"],
            ["c_moved", "Moved", "drama", "2025-06-29T00:00:00Z"],  # re-dated below
            ["c_nodate", "No date", "drama", "someday"],  # not in the catalogue
        ],
    )
    write_raw(
        root,
        "contents",
        "2025-06-29",
        [
            ["c_moved", "Moved", "drama", "2024-01-01T00:00:00Z"],  # latest version: released long ago
            ["c_tie_b", "Tie B", "drama", "2025-06-28T00:00:00Z"],
            ["c_tie_a", "Tie A", "drama", "2025-06-28T00:00:00Z"],  # same instant: ordered by id
        ],
    )
    write_raw(
        root,
        "contents",
        "2025-06-30",
        [
            ["c_last", "Last", "drama", "2025-06-30T23:59:59Z"],  # newest item released in the window
            ["c_future", "Future", "drama", "2025-07-01T00:00:00Z"],  # announced, released on the run date
        ],
    )
    write_raw(root, "contents", RUN_DATE, [["c_tomorrow", "Tomorrow", "drama", "2025-06-30"]])  # not visible
    return root


@pytest.fixture(scope="module")
def since_previous(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("since-previous")
    counts = prepare(raw, out, "KR", RUN_DATE, window_days=WINDOW_DAYS, previous_run_date=PREVIOUS)
    return out, counts


@pytest.fixture(scope="module")
def first_run(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("first-run")
    counts = prepare(raw, out, "KR", RUN_DATE, window_days=WINDOW_DAYS, ranking_candidates=3)
    return out, counts


def _rows(path):
    header, rows = read_csv(path)
    return header, sorted(tuple(r.values()) for r in rows)


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


A1_NEW = ("a1", "c_last", str(epoch("2025-06-28T05:00:00")), "purchase", "")
A1_DUPLICATE = ("a1", "c_tie_a", str(epoch("2025-06-29T23:00:00")), "purchase", "")
A3_LATE = ("a3", "c_start", str(epoch("2025-06-24T10:00:00")), "purchase", "")
OLD = [
    ("a1", "c_start", str(epoch("2025-06-22T08:00:00")), "view", "3"),
    ("a2", "c_mid", str(epoch("2025-06-27T10:00:00")), "purchase", ""),
    ("a4", "c_mid", str(epoch("2025-06-22T09:00:00")), "view", "1"),
]
NEWEST_FIRST = ["c_last", "c_tie_a", "c_tie_b", ODD_ITEM, "c_mid", "c_start"]


def test_incremental_interactions_are_the_arrivals_since_the_previous_run(since_previous):
    out, counts = since_previous
    full_header, full = _rows(out / "interactions.csv")
    header, rows = _rows(out / "interactions_incremental.csv")
    assert header == full_header
    # The late a3 event is in; the re-exported a2 purchase and the partition before PREVIOUS are not.
    assert rows == sorted([A1_NEW, A1_DUPLICATE, A3_LATE])
    assert full == sorted([A1_NEW, A1_DUPLICATE, A3_LATE, *OLD])
    assert (counts.new_interactions, counts.interactions, counts.changed_users) == (3, 6, 2)


def test_incremental_interactions_without_previous_run_are_the_whole_window(first_run):
    out, counts = first_run
    _, full = _rows(out / "interactions.csv")
    _, rows = _rows(out / "interactions_incremental.csv")
    assert rows == full and len(rows) == 6
    assert counts.new_interactions == counts.interactions == 6


def test_all_users_does_not_depend_on_the_previous_run(since_previous, first_run):
    for out, counts in (since_previous, first_run):
        users = _jsonl(out / "all_users.jsonl")
        assert sorted(u["userId"] for u in users) == ["a1", "a2", "a3", "a4"]
        assert all(list(u) == ["userId"] for u in users)
        assert counts.users == 4
    changed = _jsonl(since_previous[0] / "changed_users.jsonl")
    assert sorted(u["userId"] for u in changed) == ["a1", "a3"]


def test_ranking_input_gives_changed_users_the_newest_items_released_in_the_window(since_previous):
    out, _ = since_previous
    lines = (out / "ranking_input.jsonl").read_text(encoding="utf-8").splitlines()
    # Personalize's PERSONALIZED_RANKING batch input: {"userId": "...", "itemList": ["...", ...]} per line.
    assert sorted(lines) == [
        json.dumps({"userId": user, "itemList": NEWEST_FIRST}, separators=(",", ":")) for user in ("a1", "a3")
    ]


def test_ranking_input_keeps_only_the_configured_number_of_newest_items(first_run):
    out, _ = first_run
    ranking = sorted(_jsonl(out / "ranking_input.jsonl"), key=lambda line: line["userId"])
    # No previous run: every user with interactions is changed.
    assert ranking == [{"userId": u, "itemList": NEWEST_FIRST[:3]} for u in ("a1", "a2", "a3", "a4")]
    assert json.loads((out / "counts.json").read_text())["ranking_candidates"] == 3


def test_other_countries_get_their_own_users_and_the_shared_candidates(raw, tmp_path):
    counts = prepare(raw, tmp_path, "JP", RUN_DATE, window_days=WINDOW_DAYS, previous_run_date=PREVIOUS)
    assert _jsonl(tmp_path / "ranking_input.jsonl") == [{"userId": "j1", "itemList": NEWEST_FIRST}]
    assert _jsonl(tmp_path / "all_users.jsonl") == [{"userId": "j1"}]
    _, rows = _rows(tmp_path / "interactions_incremental.csv")
    assert rows == [("j1", "c_last", str(epoch("2025-06-30T01:00:00")), "purchase", "")]
    assert counts.new_interactions == 1
