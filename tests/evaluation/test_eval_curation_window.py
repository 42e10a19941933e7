"""The curation's window: each user's N most recent distinct items (data.curation_recent_items, default 10) make
their list, on DuckDB (`make report`) as in the deployed report's Athena SQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import duckdb
import pytest

from dataprep.local import to_duckdb
from evaluation.local_sql import load_batch_output, load_prepared_tables
from evaluation.queries import DEFAULT_CURATION_RECENT_ITEMS, ReportOutput, base_ctes, render
from evaluation.report_model import ReportOptions
from evaluation.run import sql_params
from pipeline.model import RunSettings
from pipeline.steps.report import report_options
from stacks.config import CountryData

DAY = 86_400
RUN_DATE = date(2026, 11, 1)
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
T0 = END - 60 * DAY


def _rows() -> list[tuple[str, str, int]]:
    """`me` saw old-1 then new-1 (newest); others pair old-1 with old-n and new-1 with new-n."""
    rows = [("me", "old-1", T0), ("me", "new-1", T0 + DAY), ("me", "truth", END - DAY)]
    for n in range(2, 5):
        rows += [(f"o{n}", "old-1", T0), (f"o{n}", f"old-{n}", T0), (f"o{n}", "truth", END - DAY)]
        rows += [(f"n{n}", "new-1", T0), (f"n{n}", f"new-{n}", T0), (f"n{n}", "truth", END - DAY)]
    return rows


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("window")
    rows = _rows()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    users = sorted({u for u, _, _ in rows})
    (folder / "users.csv").write_text(
        "USER_ID,LOCALE,AGE_GROUP,GENDER,MEMBERSHIP\n" + "".join(f"{u},fr_FR,,,\n" for u in users)
    )
    items = sorted({i for _, i, _ in rows})
    (folder / "items.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE\n" + "".join(f"{i},drama,{T0},T {i}\n" for i in items)
    )
    return folder


def _picked(prepared, recent_items: int) -> set[str]:
    """`me`'s curation items from neighbours (before the popularity fill), on DuckDB."""
    params = sql_params("FR", RUN_DATE, False, ReportOptions(recent_items=recent_items))
    con = duckdb.connect()
    load_prepared_tables(con, prepared, params)
    load_batch_output(con, None, params)
    sql = f"WITH\n{base_ctes(params)}\nSELECT item_id FROM picked WHERE user_id = 'me'"
    return {row[0] for row in con.execute(to_duckdb(sql)).fetchall()}


def test_the_curation_merges_the_neighbours_of_each_users_n_most_recent_items(prepared):
    assert _picked(prepared, 1) == {"new-2", "new-3", "new-4"}  # the newest item's neighbours only
    assert _picked(prepared, 2) == {"new-2", "new-3", "new-4", "old-2", "old-3", "old-4"}


def test_the_deployed_report_takes_the_window_from_the_country_config():
    assert CountryData().curation_recent_items == DEFAULT_CURATION_RECENT_ITEMS == ReportOptions().recent_items == 10
    data = CountryData.model_validate({"curation_recent_items": 3})
    settings = RunSettings.model_construct(
        report_evaluated_users=20_000, curation_recent_items=data.curation_recent_items
    )

    options = report_options(SimpleNamespace(settings=settings))

    assert options.recent_items == 3
    sql = render(ReportOutput.USERS, sql_params("FR", RUN_DATE, False, options))
    assert "WHERE r.recency <= 3\n" in sql
    with pytest.raises(ValueError, match="curation_recent_items"):
        CountryData.model_validate({"curation_recent_items": 0})


def test_every_countrys_schedule_carries_its_curation_window(dev_app):
    pipeline = next(name for name in dev_app.stack_names if name.endswith("-Pipeline"))
    schedules = [
        r["Properties"]["Target"]["Input"]
        for r in dev_app.template_json(pipeline)["Resources"].values()
        if r["Type"] == "AWS::Scheduler::Schedule"
    ]
    assert schedules
    for schedule in schedules:
        assert '\\"curation_recent_items\\": 10' in json.dumps(schedule) or '"curation_recent_items":10' in json.dumps(
            schedule
        ).replace("\\", "")
