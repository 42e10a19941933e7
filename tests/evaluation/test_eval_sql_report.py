"""The report SQL (evaluation/sql) on DuckDB: its report equals the in-memory reference's, and its pieces are right.

The in-memory path (evaluation.report.build_report) is the reference: on the same small data, with exact
neighbours, the report built from the SQL outputs (evaluation.sql_report) must be equal, field by field, except
`generated_at` and the curation timing block.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

import duckdb
import pytest
import sqlglot
from eval_fixtures import RUN_DATE

from dataprep.columnar import COUNTRY_PARTS, WINDOW_PART, WINDOW_TABLE
from dataprep.local import to_duckdb
from evaluation import report as in_memory
from evaluation.data import load_prepared, read_batch_output
from evaluation.local_sql import load_batch_output, load_prepared_tables, report_outputs
from evaluation.queries import ReportOutput, ReportQueryParams, athena_statements, base_ctes, render
from evaluation.report import build_report
from evaluation.report_model import ReportOptions
from evaluation.run import report_from_prepared_sql, sql_params
from evaluation.similarity import CurationChoice, exact_jaccard_topk
from evaluation.sql_report import build_report_from_outputs, read_output_folder, train_open_baseline

NOW = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def exact_reference(monkeypatch):
    """The reference with exact neighbours (the chooser may pick MinHash, whose scores are estimates)."""

    def exact(matrix, user_hash, k=20, tie_rank=None, **_):
        neighbours = exact_jaccard_topk(matrix, k, tie_rank=tie_rank)
        return CurationChoice("exact", "test", neighbours, 0.0, False, 0.0, 1.0, 0)

    monkeypatch.setattr(in_memory, "choose_neighbours", exact)


def _both(prepared_dir, batch_files, options, tmp_path):
    dataset = load_prepared(prepared_dir)
    personalize = read_batch_output(batch_files) if batch_files is not None else None
    reference = build_report(dataset, "FR", RUN_DATE, personalize, options, now=NOW)
    if batch_files is not None and not batch_files:
        reference.notes.insert(0, "Personalize batch output was expected but no output file was found.")
    params = sql_params("FR", RUN_DATE, batch_files is not None, options)
    report_outputs(prepared_dir, params, tmp_path / "sql", batch_files)
    inputs = read_output_folder(tmp_path / "sql")
    # Trained on the SQL's report_history (its bounds do not bind on this data): the same model as the reference's.
    baseline, notes = train_open_baseline(inputs, options)
    assert notes == []
    got = build_report_from_outputs(
        inputs,
        "FR",
        RUN_DATE,
        with_personalize=batch_files is not None,
        options=options,
        now=NOW,
        open_baseline=baseline,
    )
    return reference, got, inputs


def _assert_equal(reference, got):
    timings = {"curation", "open_baseline"}  # seconds differ between runs
    expected, actual = reference.model_dump(exclude=timings), got.model_dump(exclude=timings)
    for key in expected:
        assert actual[key] == expected[key], key
    assert got.curation.neighbours_k == reference.curation.neighbours_k
    assert got.open_baseline.method == reference.open_baseline.method


@pytest.mark.parametrize(
    "options",
    [
        ReportOptions(),
        # a binding co-occurrence cap and a binding sample, shown lists longer than the page's
        ReportOptions(cooccurrence_items=4, max_evaluated_users=150, top_users=25, list_length=30, neighbours=7),
    ],
    ids=["defaults", "capped-and-sampled"],
)
@pytest.mark.parametrize("with_batch", [False, True], ids=["no-personalize", "personalize"])
def test_sql_report_equals_the_in_memory_reference(
    exact_reference, prepared_dir, batch_files, options, with_batch, tmp_path
):
    reference, got, inputs = _both(prepared_dir, batch_files if with_batch else None, options, tmp_path)
    _assert_equal(reference, got)
    assert reference.counts.evaluated_users > 0 and reference.heavy_users
    expected_names = {"curation", "open_baseline", "popularity"} | ({"personalize"} if with_batch else set())
    assert {r.name for r in got.recommenders} == expected_names
    if options.max_evaluated_users == 150:
        assert got.counts.evaluated_users == 150
        assert any("drawn by a hash of the user id" in note for note in got.notes)
    # the Lambda's input is the sample, not the interactions
    assert len([u for u in inputs.users if u.get("sampled")]) == got.counts.evaluated_users


def test_expected_but_missing_personalize_output_is_said_like_the_reference(exact_reference, prepared_dir, tmp_path):
    reference, got, _ = _both(prepared_dir, [], ReportOptions(), tmp_path)
    _assert_equal(reference, got)
    assert got.notes[0] == "Personalize batch output was expected but no output file was found."
    assert got.counts.evaluated_users == 0


def test_report_from_prepared_sql_writes_the_page(prepared_dir, batch_files, tmp_path):
    report = report_from_prepared_sql(prepared_dir, "FR", RUN_DATE, tmp_path, batch_files)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="metrics"' in page and "<script>alert" not in page  # the title is escaped
    assert json.loads((tmp_path / "report.json").read_text())["counts"] == report.counts.model_dump()
    assert report.curation.method == "exact" and "report SQL" in report.curation.reason


# --- the SQL's pieces on hand-made data -------------------------------------------------------------

DAY = 86_400
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
T0 = END - 30 * DAY  # history


def _connection(rows, tmp_path, params, users=(), items=()):
    folder = tmp_path / "prepared"
    folder.mkdir()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"] + [f"{u},{i},{t},view,1" for u, i, t in rows]
    (folder / "interactions.csv").write_text("\n".join(lines) + "\n")
    (folder / "users.csv").write_text(
        "USER_ID,LOCALE,AGE_GROUP,GENDER,MEMBERSHIP\n" + "".join(f"{u},fr_FR,,,\n" for u in users)
    )
    (folder / "items.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP,TITLE\n" + "".join(f"{i},drama,{c},T {i}\n" for i, c in items)
    )
    con = duckdb.connect()
    load_prepared_tables(con, folder, params)
    load_batch_output(con, None, params)
    return con


def _cte(con, params, name, order):
    sql = f"WITH\n{base_ctes(params)}\nSELECT * FROM {name} ORDER BY {order}"
    cursor = con.execute(to_duckdb(sql))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


PARAMS = ReportQueryParams(country="FR", run_date=date(2026, 11, 1), execution="x", attempt="a1", neighbours=2)


def test_neighbours_are_exact_jaccard_top_k(tmp_path):
    # users of a: u1 u2 u3; b: u1 u2; c: u1 u3; d: u3
    # J(a,b) = 2/3, J(a,c) = 2/3, J(a,d) = 1/3; J(b,c) = 1/3; J(c,d) = 1/2; J(b,d) = 0
    rows = [("u1", "a", T0), ("u1", "b", T0 + 1), ("u1", "c", T0 + 2), ("u2", "a", T0), ("u2", "b", T0 + 1)]
    rows += [("u3", "a", T0), ("u3", "c", T0 + 1), ("u3", "d", T0 + 2)]
    con = _connection(rows, tmp_path, PARAMS)
    got = {(r["item_id"], r["neighbour_id"]): r["score"] for r in _cte(con, PARAMS, "neighbours", "1, 3 DESC")}
    assert got == {
        ("a", "b"): 2 / 3, ("a", "c"): 2 / 3,  # a's top 2: b and c (d, 1/3, is third)
        ("b", "a"): 2 / 3, ("b", "c"): 1 / 3,
        ("c", "a"): 2 / 3, ("c", "d"): 1 / 2,
        ("d", "c"): 1 / 2, ("d", "a"): 1 / 3,
    }  # fmt: skip


def test_cooccurrence_counts_only_each_users_most_recent_items(tmp_path):
    # u1 touched a (oldest), b, c (newest); with a cap of 2 only b and c co-occur
    rows = [("u1", "a", T0), ("u1", "b", T0 + 5), ("u1", "c", T0 + 9), ("u1", "a", T0 - 3)]
    params = PARAMS.model_copy(update={"cooccurrence_items": 2})
    con = _connection(rows, tmp_path, params)
    pairs = {(r["item_id"], r["neighbour_id"]) for r in _cte(con, params, "cooccurrence", "1, 2")}
    assert pairs == {("b", "c"), ("c", "b")}


def test_curation_merges_neighbours_drops_seen_and_fills_with_unseen_popular_items(tmp_path):
    # users of a: u1 u2 u3 u9; b: u1 u2; c: u1 u3; d: u3 -> a's top 2: b (2/4), c (2/4); d (1/4) is third
    rows = [("u1", "a", T0), ("u1", "b", T0 + 1), ("u1", "c", T0 + 2), ("u2", "a", T0), ("u2", "b", T0 + 1)]
    rows += [("u3", "a", T0), ("u3", "c", T0 + 1), ("u3", "d", T0 + 2), ("u9", "a", T0)]
    # the last 7 days of the history: e by 3 users, f by 2, g by 1 -> popularity e, f, g
    recent = END - 7 * DAY - 3 * DAY
    rows += [("u5", "e", recent), ("u6", "e", recent), ("u7", "e", recent), ("u5", "f", recent)]
    rows += [("u6", "f", recent), ("u7", "g", recent)]
    params = PARAMS.model_copy(update={"list_length": 4})
    con = _connection(rows, tmp_path, params)
    assert [r["item_id"] for r in _cte(con, params, "popularity", "popularity_rank")] == ["e", "f", "g"]
    lists = {}
    for row in _cte(con, params, "curation", "user_id, pos"):
        lists.setdefault(row["user_id"], []).append(row["item_id"])
    # u9 saw a: b and c from a's neighbours (equal scores: c, touched last, first), then the popular items it
    # neither saw nor got
    assert lists["u9"] == ["c", "b", "e", "f"]
    # u5 saw e and f, each the other's neighbour: only g (a neighbour of e) is left, and no unseen popular item
    assert lists["u5"][0] == "g" and not {"e", "f"} & set(lists["u5"])


def test_the_sample_is_the_smallest_md5_of_the_user_id_on_every_engine(tmp_path):
    users = [f"user-{n}" for n in range(40)]
    rows = [(u, "a", END - DAY) for u in users] + [(u, "b", T0) for u in users]
    params = PARAMS.model_copy(update={"max_evaluated_users": 7})
    con = _connection(rows, tmp_path, params)
    drawn = [r["user_id"] for r in _cte(con, params, "sample", "user_id")]
    expected = sorted(sorted(users, key=lambda u: hashlib.md5(u.encode()).hexdigest())[:7])
    assert drawn == expected
    assert in_memory.sample_users(users, 7, []) == expected


def test_statements_are_athena_unloads_of_json_that_sqlglot_parses():
    statements = athena_statements(PARAMS, "s3://personalize-dev-prepared-1-us-east-1/athena/reports/FR/x/r1")
    assert set(statements) == set(ReportOutput)
    for output, statement in statements.items():
        assert statement.location.endswith(f"/r1/{output.value}/")
        assert statement.sql.startswith("UNLOAD (") and "format = 'JSON'" in statement.sql
        assert "{{" not in statement.sql
        sqlglot.parse_one(render(output, PARAMS), read="athena")  # valid Trino for the parser
        # every table of the run is read through its injected partitions only, the window through its country's parts
        for table in (WINDOW_TABLE, "prepared_items", "prepared_users"):
            for match in statement.sql.split(f"FROM {table}")[1:]:
                assert "country = 'FR' AND run_date = '2026-11-01' AND execution = 'x'" in match[:200]
        for match in statement.sql.split(f"FROM {WINDOW_TABLE}")[1:]:
            assert f"{WINDOW_PART} IN ({', '.join(repr(p.value) for p in COUNTRY_PARTS)})" in match[:300]
        assert "prepared_interactions" not in statement.sql
    assert all(WINDOW_TABLE in s.sql for s in statements.values())
    with pytest.raises(ValueError):
        athena_statements(PARAMS, "s3://bucket/it's")
    with pytest.raises(ValueError):
        ReportQueryParams(country="FR", run_date=date(2026, 11, 1), execution="x'; DROP", attempt="a1")
