"""The open baseline on the SQL path: report_history (evaluation/sql) is bounded by the sample and its bounds, and
the report trains on it, or says why it could not."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import duckdb

from dataprep.local import to_duckdb
from evaluation.local_sql import load_batch_output, load_prepared_tables, report_outputs
from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.queries import ReportOutput, ReportQueryParams, base_ctes, render
from evaluation.report_model import LABELS, ReportOptions
from evaluation.run import report_from_prepared_sql, sql_params
from evaluation.sql_report import build_report_from_outputs, read_output_folder, train_open_baseline

DAY = 86_400
RUN_DATE = date(2026, 11, 1)
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
HISTORY_T0 = END - 60 * DAY
TRUTH_T = END - DAY
USERS = [f"user-{n:02d}" for n in range(40)]
ITEMS = [f"item-{n}" for n in range(12)]


def _write_prepared(folder, rows, items=ITEMS):
    folder.mkdir(parents=True)
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    users = sorted({u for u, _, _ in rows})
    (folder / "users.csv").write_text(
        "USER_ID,LOCALE,AGE_GROUP,GENDER,MEMBERSHIP\n" + "".join(f"{u},fr_FR,,,\n" for u in users)
    )
    (folder / "items.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE\n" + "".join(f"{i},drama,{HISTORY_T0},T {i}\n" for i in items)
    )
    return folder


def _history_rows():
    """User n touched 1 + n % 7 distinct items (item k at HISTORY_T0 + k days, one re-touch) and one truth item."""
    rows = []
    for n, user in enumerate(USERS):
        for k in range(1 + n % 7):
            rows.append((user, ITEMS[(n + k) % len(ITEMS)], HISTORY_T0 + k * DAY))
        rows.append((user, ITEMS[n % len(ITEMS)], HISTORY_T0 + 30 * DAY))  # a re-touch: still one pair
        rows.append((user, ITEMS[(n + 9) % len(ITEMS)], TRUTH_T))
    return rows


def _query(con, params, sql):
    cursor = con.execute(to_duckdb(sql))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


BOUNDS = {"max_evaluated_users": 5, "top_users": 2, "baseline_history_items": 3, "baseline_training_pairs": 20}


def test_report_history_is_the_shown_users_then_hash_drawn_users_within_its_bounds(tmp_path):
    rows = _history_rows()
    params = ReportQueryParams(country="FR", run_date=RUN_DATE, execution="x", attempt="a1", **BOUNDS)
    con = duckdb.connect()
    load_prepared_tables(con, _write_prepared(tmp_path / "prepared", rows), params)
    load_batch_output(con, None, params)
    history = {r["user_id"]: r for r in _query(con, params, render(ReportOutput.HISTORY, params))}
    shown = {r["user_id"] for r in _query(con, params, f"WITH\n{base_ctes(params)}\nSELECT user_id FROM shown")}

    # what each user's history really holds, newest first
    newest: dict[str, list[str]] = {}
    for user, item, ts in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        if ts < END - 7 * DAY and item not in newest.setdefault(user, []):
            newest[user].append(item)
    assert 5 <= len(shown) <= 7  # 5 sampled + 2 heavy (who may be sampled too)
    assert shown <= set(history) and all(history[u]["shown"] for u in shown)
    for user, row in history.items():
        assert row["items"] == newest[user][:3] and row["distinct_items"] == len(newest[user])
    # then users outside the sample in md5 order while the running total of pairs stays within 20
    shown_pairs = sum(min(3, len(newest[u])) for u in shown)
    total, expected = shown_pairs, set(shown)
    for user in sorted(set(USERS) - shown, key=lambda u: (hashlib.md5(u.encode()).hexdigest(), u)):
        total += min(3, len(newest[user]))
        if total > 20:
            break
        expected.add(user)
    assert set(history) == expected and len(expected) < len(USERS)
    pairs = sum(len(r["items"]) for r in history.values())
    assert pairs <= max(20, len(shown) * 3)


def test_bounded_history_still_trains_and_the_page_says_how_it_was_bounded(tmp_path):
    options = ReportOptions(**BOUNDS)
    prepared = _write_prepared(tmp_path / "prepared", _history_rows())
    report_outputs(prepared, sql_params("FR", RUN_DATE, False, options), tmp_path / "sql")
    inputs = read_output_folder(tmp_path / "sql")

    baseline, notes = train_open_baseline(inputs, options)

    assert baseline is not None and baseline.info.users_trained == len(inputs.history) < len(USERS)
    assert any(f"history of {len(inputs.history)} of the {len(USERS)} users with history" in n for n in notes)
    assert any("newest 3 distinct titles of" in n for n in notes)
    evaluated = sorted(r["user_id"] for r in inputs.users if r.get("sampled"))
    assert set(evaluated) <= set(baseline.lists)
    report = build_report_from_outputs(inputs, "FR", RUN_DATE, with_personalize=False, options=options)
    report_with = build_report_from_outputs(
        inputs, "FR", RUN_DATE, with_personalize=False, options=options, open_baseline=baseline
    )
    assert OPEN_BASELINE not in [r.name for r in report.recommenders]
    row = next(r for r in report_with.recommenders if r.name == OPEN_BASELINE)
    assert row.users_evaluated == len(evaluated) == 5 and row.users_with_lists == len(USERS)


def test_no_history_gives_a_page_without_the_open_baseline_and_a_note_saying_why(tmp_path):
    # every interaction falls in the truth days: nothing before the cutoff to train on
    rows = [(user, ITEMS[n % len(ITEMS)], TRUTH_T) for n, user in enumerate(USERS)]
    prepared = _write_prepared(tmp_path / "prepared", rows)

    report = report_from_prepared_sql(prepared, "FR", RUN_DATE, tmp_path / "out")

    assert read_output_folder(tmp_path / "out" / "sql").history == []
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["name"] for r in data["recommenders"]] == ["curation", "popularity"]
    assert data["open_baseline"] is None and report.counts.evaluated_users == len(USERS)
    assert any(n.startswith("No open baseline: the history before the cutoff is empty") for n in data["notes"])
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="open-baseline"' not in page and LABELS[OPEN_BASELINE] not in page
    assert "No open baseline: the history before the cutoff is empty" in page


def test_history_the_baseline_cannot_train_on_is_a_note_not_a_silent_gap(tmp_path):
    prepared = _write_prepared(tmp_path / "prepared", _history_rows())
    report_outputs(prepared, sql_params("FR", RUN_DATE, False, ReportOptions()), tmp_path / "sql")
    inputs = read_output_folder(tmp_path / "sql")
    inputs.history.append({"user_id": "broken", "shown": False, "distinct_items": 1, "items": 7})  # not a list

    baseline, notes = train_open_baseline(inputs)

    assert baseline is None
    assert notes == ["No open baseline: training on report_history failed (TypeError: 'int' object is not iterable)."]


def test_the_report_lambda_is_sized_for_the_history_bounds_the_sql_applies():
    from evaluation import queries
    from stacks import sizing

    assert sizing.BASELINE_HISTORY_ITEMS == queries.DEFAULT_BASELINE_HISTORY_ITEMS
    assert sizing.BASELINE_TRAINING_PAIRS == queries.DEFAULT_BASELINE_TRAINING_PAIRS
    assert sizing.REPORT_SHOWN_HEAVY_USERS == ReportOptions().top_users
    # the history is part of the estimate: a sample whose shown users' history exceeds the pairs bound costs more
    assert sizing.baseline_history_pairs(20_000) == 20_010 * 100 > queries.DEFAULT_BASELINE_TRAINING_PAIRS
    without_history = sizing.REPORT_BASE_MEMORY_MB + 40_000 * sizing.REPORT_MEMORY_PER_EVALUATED_USER_MB
    history = 40_010 * 100 * 200 / 2**20  # the shown users' pairs at 200 B each
    assert sizing.report_step(40_000).memory_mb >= without_history + history > without_history + 700
