"""Personalize's batch output is read as text lines and parsed by the report SQL (evaluation/sql/_report_base.sql):
every line is counted, and a line the report cannot use is an error or malformed, never a failed query or a row
the engine made up (why: stacks/constructs/report_catalog.py quotes Athena's OpenX JSON SerDe page)."""

from __future__ import annotations

import json

import duckdb
from eval_fixtures import RUN_DATE

from dataprep.local import to_duckdb
from evaluation.data import read_batch_output
from evaluation.local_sql import load_batch_output, load_prepared_tables
from evaluation.queries import ReportOutput, ReportQueryParams, base_ctes, render

PARAMS = ReportQueryParams(country="FR", run_date=RUN_DATE, execution="x", attempt="a1")


def _line(user, items=("i1", "i2"), error=None, **extra) -> str:
    output = None if items is None else {"recommendedItems": list(items), "scores": [0.5] * len(items)}
    return json.dumps({"input": {"userId": user}, "output": output, "error": error, **extra})


LINES = [
    _line("u1"),
    "",  # blank lines are not lines (nor in the in-memory reader)
    "   ",
    _line(7, items=(3, "i4")),  # numbers where Personalize writes strings: read as their text
    _line("u2", items=None, error="User not found"),
    "not json",
    '{"input": {"userId": "u3"}, "output": {"recommendedItems": "i1"}}',  # not a list
    '{"input": {"userid": "u4"}, "output": {"recommendedItems": ["i1"]}}',  # not Personalize's key
    _line("u5", items=("i9",)) + "\r",  # a CRLF file
    '{"input": {"userId": "u6"}, "output": {"recommendedItems": ["i1"]}',  # cut short
]


def _part(tmp_path):
    part = tmp_path / "batch" / "users_part0.json.out"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes("\n".join(LINES).encode() + b"\n")
    return part


def _connection(tmp_path, prepared_dir=None) -> duckdb.DuckDBPyConnection:
    part = _part(tmp_path)
    con = duckdb.connect()
    if prepared_dir is not None:
        load_prepared_tables(con, prepared_dir, PARAMS)
    load_batch_output(con, [part], PARAMS)
    return con


def test_each_line_is_parsed_by_the_sql_and_what_cannot_be_used_has_nulls(tmp_path):
    con = _connection(tmp_path)
    sql = f"WITH\n{base_ctes(PARAMS)}\nSELECT user_id, items, error FROM batch_records"
    rows = sorted(con.execute(to_duckdb(sql)).fetchall(), key=repr)
    assert rows == sorted(
        [
            ("u1", ["i1", "i2"], None),
            ("7", ["3", "i4"], None),
            ("u2", None, "User not found"),
            (None, None, None),  # not json
            ("u3", None, None),
            (None, ["i1"], None),
            ("u5", ["i9"], None),
            (None, None, None),  # cut short
        ],
        key=repr,
    )
    lists = f"WITH\n{base_ctes(PARAMS)}\nSELECT user_id FROM personalize_lists ORDER BY user_id"
    assert con.execute(to_duckdb(lists)).fetchall() == [("7",), ("u1",), ("u5",)]


def test_the_summary_counts_every_line_as_a_list_an_error_or_malformed(tmp_path, prepared_dir):
    con = _connection(tmp_path, prepared_dir)
    cursor = con.execute(to_duckdb(render(ReportOutput.SUMMARY, PARAMS)))
    summary = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    assert (summary["batch_lines"], summary["batch_error_lines"], summary["batch_malformed_lines"]) == (8, 1, 4)
    # the in-memory reader (make report, and the tests' reference) reads the same lines the same way
    reference = read_batch_output([tmp_path / "batch" / "users_part0.json.out"])
    assert (reference.lines, reference.error_lines, reference.malformed_lines) == (8, 1, 4)
    assert sorted(reference.lists) == ["7", "u1", "u5"]


def test_no_batch_output_is_an_empty_table(tmp_path):
    con = duckdb.connect()
    load_batch_output(con, None, PARAMS)
    assert con.execute("SELECT count(*) FROM batch_output").fetchone() == (0,)
    sql = f"WITH\n{base_ctes(PARAMS)}\nSELECT count(*) FROM batch_records"
    assert con.execute(to_duckdb(sql)).fetchone() == (0,)
