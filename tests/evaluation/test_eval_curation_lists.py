"""The serving curation (sql/curation_lists.sql): the report's curation definition, listed for the users the day's
batch job scores (the changed users, or every active user on a full-batch day), over the whole window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from eval_fixtures import RUN_DATE

from dataprep.columnar import WINDOW_TABLE, Part
from dataprep.local import to_duckdb
from evaluation.local_sql import load_batch_output, load_prepared_tables
from evaluation.queries import (
    CurationUsers,
    ReportOutput,
    ReportQueryParams,
    curation_statement,
    render,
    render_curation,
)

DAY = 86_400


def _rows(con, sql: str) -> list[dict]:
    cursor = con.execute(to_duckdb(sql))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _served(con, params: ReportQueryParams) -> dict[str, list[str]]:
    rows = _rows(con, render_curation(params))
    assert all(set(row) == {"user_id", "item_ids"} for row in rows)
    return {row["user_id"]: list(row["item_ids"]) for row in rows}


def test_serving_lists_equal_the_reports_curation_lists_for_the_same_users(prepared_dir):
    report = ReportQueryParams(country="FR", run_date=RUN_DATE, execution="x", attempt="a1")
    con = duckdb.connect()
    load_prepared_tables(con, prepared_dir, report)
    load_batch_output(con, None, report)
    shown = {r["user_id"]: list(r["curation"]) for r in _rows(con, render(ReportOutput.USERS, report)) if r["curation"]}
    # The served curation learns from the whole window before its run date: the report's history (before its
    # truth days) is that of the run truth_days earlier, so the same window under that run date.
    earlier = RUN_DATE - timedelta(days=report.truth_days)
    con.execute(
        f"INSERT INTO {WINDOW_TABLE} SELECT * REPLACE ('{earlier.isoformat()}' AS run_date) FROM {WINDOW_TABLE}"
    )
    served = _served(con, report.model_copy(update={"run_date": earlier, "curation_users": CurationUsers.ALL}))
    assert len(shown) >= 10
    assert {user: served.get(user) for user in shown} == shown
    history_users = {
        r["user_id"]
        for r in _rows(con, f"SELECT DISTINCT user_id FROM {WINDOW_TABLE} WHERE ts < {report.cutoff_epoch}")
    }
    assert set(served) == history_users  # every active user, not only the report's sample


END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
PARAMS = ReportQueryParams(country="FR", run_date=date(2026, 11, 1), execution="x", attempt="a1", list_length=3)


def _window(tmp_path, rows, parts: dict[str, Part]):
    folder = tmp_path / "prepared"
    folder.mkdir()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    con = duckdb.connect()
    load_prepared_tables(con, folder, PARAMS)
    load_batch_output(con, None, PARAMS)
    for user, part in parts.items():  # every row is in part old until told otherwise
        con.execute(f"UPDATE {WINDOW_TABLE} SET part = '{part.value}' WHERE user_id = '{user}'")
    return con


def test_a_normal_day_lists_the_changed_users_and_a_full_day_every_user(tmp_path):
    rows = [(u, i, END - 20 * DAY + n) for n, (u, i) in enumerate([("u1", "a"), ("u1", "b"), ("u2", "a")])]
    rows += [("u3", "b", END - 9 * DAY), ("u3", "c", END - 9 * DAY), ("u4", "c", END - 30 * DAY)]
    rows += [("u2", "c", END - 3600)]  # yesterday's view: part of the history the served list is made from
    con = _window(tmp_path, rows, {"u2": Part.NEW, "u3": Part.CHANGED, "other": Part.OTHER})
    changed = _served(con, PARAMS.model_copy(update={"curation_users": CurationUsers.CHANGED}))
    everyone = _served(con, PARAMS.model_copy(update={"curation_users": CurationUsers.ALL}))
    assert set(changed) == {"u2", "u3"}
    assert set(everyone) == {"u1", "u2", "u3", "u4"}
    assert {user: everyone[user] for user in changed} == changed
    # u2 saw a and (yesterday) c: neither is served back; b, a's neighbour, comes first
    assert changed["u2"][0] == "b" and not {"a", "c"} & set(changed["u2"])


def test_the_serving_curation_is_an_unload_of_json_lines_and_never_the_shown_users():
    params = PARAMS.model_copy(update={"curation_users": CurationUsers.CHANGED})
    location = "s3://personalize-dev-results-1/FR/2026-11-01/curation/x-r1/"
    sql = curation_statement(params, location)
    assert sql.startswith("UNLOAD (") and f"TO '{location}'" in sql and "format = 'JSON'" in sql
    with pytest.raises(ValueError, match="not the report's shown users"):
        render_curation(PARAMS)
    with pytest.raises(ValueError, match="location must look like"):
        curation_statement(params, "FR/curation/")
