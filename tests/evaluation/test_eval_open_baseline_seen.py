"""The open baseline keeps every title a user has seen out of their list, the titles older than the newest
`baseline_history_items` it trains on included, within the report's bound on such titles (and says when not)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.report_model import ReportOptions
from evaluation.run import report_from_prepared_sql
from evaluation.sql_report import read_output_folder

DAY = 86_400
RUN_DATE = date(2026, 11, 1)
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
T0 = END - 90 * DAY
HEAVY = "heavy"
HEAVY_TITLES = 150  # > baseline_history_items (100): the oldest 50 are beyond what the baseline trains on
ITEMS = [f"item-{n:03d}" for n in range(300)]


def _rows() -> list[tuple[str, str, int]]:
    """HEAVY saw items 0..149, item k at T0 + k hours (so 0..49 are the oldest); other users pair item k with
    item k + 50 (k < 100), so the only neighbours of the trained items 50..149 it has not trained on are its old
    titles 0..49."""
    rows = [(HEAVY, ITEMS[k], T0 + k * 3600) for k in range(HEAVY_TITLES)]
    for k in range(100):
        for copy in range(2):
            user = f"pair-{k:03d}-{copy}"
            rows += [(user, ITEMS[k], T0 + DAY), (user, ITEMS[k + 50], T0 + 2 * DAY)]
            rows.append((user, ITEMS[250 + k % 50], END - DAY))  # a truth interaction
    # popular titles for the fill, watched by users of their own (no neighbour of HEAVY's titles)
    rows += [(f"pop-{n:03d}", ITEMS[200 + n % 50], END - 8 * DAY) for n in range(100)]
    rows.append((HEAVY, ITEMS[299], END - DAY))
    return rows


def _write_prepared(folder):
    folder.mkdir(parents=True)
    rows = _rows()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    users = sorted({u for u, _, _ in rows})
    (folder / "users.csv").write_text(
        "USER_ID,LOCALE,AGE_GROUP,GENDER,MEMBERSHIP\n" + "".join(f"{u},fr_FR,,,\n" for u in users)
    )
    (folder / "items.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE\n" + "".join(f"{i},drama,{T0},T {i}\n" for i in ITEMS)
    )
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return _write_prepared(tmp_path_factory.mktemp("seen") / "prepared")


def _heavy_list(report) -> list[str]:
    (heavy,) = [u for u in report.heavy_users if u.user_id == HEAVY]
    return [entry.item_id for entry in heavy.lists[OPEN_BASELINE]]


def _full_list(out, report) -> list[str]:
    """HEAVY's whole open-baseline list (the page shows 10): retrained from the same outputs."""
    from evaluation.sql_report import train_open_baseline

    baseline, _ = train_open_baseline(read_output_folder(out / "sql"), ReportOptions(top_users=3))
    assert baseline is not None
    return baseline.lists[HEAVY]


def test_a_user_with_more_titles_than_the_baseline_trains_on_gets_none_of_them_listed(prepared, tmp_path):
    options = ReportOptions(top_users=3)
    report = report_from_prepared_sql(prepared, "FR", RUN_DATE, tmp_path, options=options)

    history = {row["user_id"]: row for row in read_output_folder(tmp_path / "sql").history}
    assert len(history[HEAVY]["items"]) == 100 and history[HEAVY]["distinct_items"] == HEAVY_TITLES
    # the 50 titles it is not trained on come apart, newest first
    assert history[HEAVY]["older_items"] == [ITEMS[k] for k in range(49, -1, -1)]
    listed = _full_list(tmp_path, report)
    assert len(listed) == options.list_length
    assert not set(listed) & set(ITEMS[:HEAVY_TITLES]), "a seen title is in the open baseline's list"
    assert set(_heavy_list(report)) <= set(listed)
    notes = " ".join(report.notes)
    assert "every title a shown user has seen, older ones included, is kept out" in notes


def test_the_lambda_is_sized_for_the_bound_on_older_titles():
    from evaluation import queries
    from stacks import sizing

    assert sizing.BASELINE_EXCLUDED_PAIRS == queries.DEFAULT_BASELINE_EXCLUDED_PAIRS
    with_older = sizing.report_step(20_000).memory_mb
    assert with_older >= sizing.REPORT_BASE_MEMORY_MB + 20_000 * sizing.REPORT_MEMORY_PER_EVALUATED_USER_MB + (
        sizing.baseline_history_pairs(20_000) * sizing.REPORT_MEMORY_PER_HISTORY_PAIR_MB
        + sizing.BASELINE_EXCLUDED_PAIRS * sizing.REPORT_MEMORY_PER_EXCLUDED_TITLE_MB
    )


def test_beyond_the_bound_on_older_titles_the_page_says_which_users_keep_them_listed(prepared, tmp_path):
    options = ReportOptions(top_users=3, baseline_excluded_pairs=10)  # HEAVY's 50 older titles do not fit

    report = report_from_prepared_sql(prepared, "FR", RUN_DATE, tmp_path, options=options)

    assert all(row.get("older_items") is None for row in read_output_folder(tmp_path / "sql").history)
    # the neighbours of what it trains on are its old titles: without them kept out, they are listed
    assert set(_full_list(tmp_path, report)) & set(ITEMS[:50])
    assert any(
        "For 1 shown user(s) the titles older than their newest 100 were not kept out" in note for note in report.notes
    )
