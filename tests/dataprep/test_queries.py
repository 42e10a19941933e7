"""Renderer validation, Athena statements (partition ranges, UNLOAD shape) and the counts parser."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlglot
from pydantic import ValidationError
from sqlglot import exp

from common.schemas import csv_header
from dataprep.columnar import WINDOW_TABLE, files_table, parsed_table
from dataprep.counts import Counts
from dataprep.queries import (
    CSV_OUTPUTS,
    LINES_TABLE_SUFFIX,
    LOCAL_RUN,
    RAW_TABLES,
    Output,
    PrepareParams,
    athena_statements,
    line_select,
    render,
    render_window,
)

PREFIX = "s3://results-bucket/athena/prepared/KR/2025-07-01/exec-1"


@pytest.mark.parametrize(
    "changes",
    [
        {"country": "kr"},
        {"country": "KOR"},
        {"country": "K'"},
        {"country": "KR' OR 1=1 --"},
        {"run_date": "2025-7-1"},
        {"run_date": "20250701"},
        {"run_date": "2025-07-01'; DROP TABLE views; --"},
        {"run_date": 1751328000},
        {"run_date": datetime(2025, 7, 1, 12)},
        {"previous_run_date": "2025-07-01"},  # must be before the run date
        {"previous_run_date": "2025-07-02"},
        {"window_days": 0},
        {"ranking_candidates": 0},
        {"ranking_candidates": 501},  # above GetPersonalizedRanking's 500-item input list
        {"ranking_candidates": "50; DROP TABLE views"},
        {"recipes": ["user-personalization", "x'); --"]},
    ],
)
def test_renderer_rejects_bad_parameters(changes):
    arguments = {"country": "KR", "run_date": "2025-07-01", **changes}
    with pytest.raises(ValidationError):
        PrepareParams(**arguments)


@pytest.mark.parametrize("prefix", ["s3://bucket/x'y", "https://bucket/x", "s3://Bucket/x", "s3://b/x y", ""])
def test_bad_output_prefix_is_rejected(prefix):
    with pytest.raises(ValueError, match="output_prefix"):
        athena_statements(PrepareParams(country="KR", run_date="2025-07-01"), prefix, LOCAL_RUN)


def _dt_predicates(select: exp.Select) -> set[tuple[str, str]]:
    where = select.args.get("where")
    found = set()
    for comparison in where.find_all(exp.GTE, exp.LT, exp.LTE, exp.GT, exp.EQ) if where else ():
        if isinstance(comparison.this, exp.Column) and comparison.this.name == "dt":
            found.add((type(comparison).__name__, comparison.expression.name))
    return found


@pytest.mark.parametrize("output", list(Output))
def test_statements_read_only_the_window_partitions(output):
    """The window reads the window's columnar days once (a plain dt range, which Athena prunes); every output reads
    this attempt's window (static values for the injected partitions) and the upserts' days before the run date,
    never a raw CSV table."""
    params = PrepareParams(
        country="KR", run_date="2025-07-01", window_days=183, previous_run_date="2025-06-30"
    )
    window = {("GTE", (date(2025, 7, 1) - timedelta(days=183)).isoformat()), ("LT", "2025-07-01")}
    raw = set(RAW_TABLES) | {t + LINES_TABLE_SUFFIX for t in RAW_TABLES}
    for sql, reads_window in ((render(output, params), True), (render_window(params), False)):
        tree = sqlglot.parse_one(sql, read="athena")
        seen: dict[str, list[set]] = {}
        for table in tree.find_all(exp.Table):
            assert table.name not in raw, f"{table.name} is a raw CSV table"
            seen.setdefault(table.name, []).append(_dt_predicates(table.find_ancestor(exp.Select)))
        for table in ("purchases", "views"):
            for name in (parsed_table(table), files_table(table)):
                assert all(found == window for found in seen.get(name, [])), seen
        for table in ("users", "contents"):  # upserts: every partition before the run date
            for name in (parsed_table(table), files_table(table)):
                assert all(found == {("LT", "2025-07-01")} for found in seen.get(name, [])), seen
        assert (WINDOW_TABLE in seen) is reads_window
        if reads_window:
            flat = " ".join(sql.split())
            assert "country = 'KR' AND run_date = '2025-07-01' AND execution = 'local' AND attempt = 'a1'" in flat
        else:
            assert {parsed_table("purchases"), parsed_table("views"), parsed_table("users")} <= set(seen)


def test_window_start_is_run_date_minus_window_days():
    params = PrepareParams(country="KR", run_date=date(2025, 7, 1), window_days=10)
    assert params.window_start == date(2025, 6, 21)
    assert params.changes_since == date(2025, 6, 21)
    assert PrepareParams(
        country="KR", run_date="2025-07-01", previous_run_date="2025-06-30"
    ).changes_since == date(2025, 6, 30)
    # A previous run older than the window cannot pull older partitions into the batch input.
    old = PrepareParams(country="KR", run_date="2025-07-01", window_days=10, previous_run_date="2025-01-01")
    assert old.changes_since == date(2025, 6, 21)


def test_athena_statements_unload_lines_and_headers():
    statements = athena_statements(
        PrepareParams(
            country="KR",
            run_date="2025-07-01",
            window_days=183,
            previous_run_date="2025-06-30",
            recipes=["user-personalization"],
        ),
        PREFIX + "/",
        LOCAL_RUN,
    )
    assert set(statements) == set(Output)
    params = PrepareParams(
        country="KR", run_date="2025-07-01", previous_run_date="2025-06-30", recipes=("user-personalization",)
    )
    for output, statement in statements.items():
        if output in (Output.COUNTS, Output.QUALITY):
            assert statement.kind == "select" and statement.sql == render(output, params)
            continue
        assert statement.kind == "unload"
        assert statement.location == f"{PREFIX}/{output.value}/"
        assert statement.sql.startswith(
            f"UNLOAD (\n{line_select(output, params)}\n)\nTO '{statement.location}'"
        )
        assert statement.sql.endswith("WITH (format = 'TEXTFILE', compression = 'NONE')")
        if output in CSV_OUTPUTS:
            dataset = CSV_OUTPUTS[output].dataset_type
            assert statement.header == ",".join(csv_header(dataset, ("user-personalization",)))
        else:
            assert statement.header is None
        # The SELECT inside parses as Athena SQL and yields exactly one column named line.
        inner = sqlglot.parse_one(line_select(output, params), read="athena")
        assert inner.named_selects == ["line"]


def test_new_outputs_file_names_headers_and_ranking_parameters():
    params = PrepareParams(country="KR", run_date="2025-07-01", window_days=10, ranking_candidates=7)
    statements = athena_statements(params, PREFIX, LOCAL_RUN)
    assert {o.value: s.file_name for o, s in statements.items() if s.kind == "unload"} == {
        "interactions": "interactions.csv",
        "interactions_incremental": "interactions_incremental.csv",
        "users": "users.csv",
        "items": "items.csv",
        "changed_users": "changed_users.jsonl",
        "all_users": "all_users.jsonl",
        "items_batch": "items_batch.jsonl",
        "ranking_input": "ranking_input.jsonl",
        "cold_start": "cold_start.jsonl",
    }
    # Same dataset, same columns: the incremental file imports into the Interactions dataset.
    assert statements[Output.INTERACTIONS_INCREMENTAL].header == statements[Output.INTERACTIONS].header
    tree = sqlglot.parse_one(render(Output.RANKING_INPUT, params), read="athena")
    assert [limit.expression.name for limit in tree.find_all(exp.Limit)] == ["7"]
    bounds = {
        (type(c).__name__, c.expression.name)
        for c in tree.find_all(exp.GTE, exp.LT)
        if isinstance(c.this, exp.Column) and c.this.name == "creation_ts"
    }
    # Released in the window: [2025-06-21 00:00, 2025-07-01 00:00) UTC in epoch seconds.
    assert bounds == {("GTE", str(epoch_of("2025-06-21"))), ("LT", str(epoch_of("2025-07-01")))}
    with pytest.raises(ValidationError):
        athena_statements(PrepareParams(country="KR", run_date="2025-07-01", ranking_candidates=0), PREFIX, LOCAL_RUN)


def epoch_of(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def test_csv_line_columns_follow_the_schema_order():
    params = PrepareParams(country="KR", run_date="2025-07-01", recipes=("similar-items",))
    for output, spec in CSV_OUTPUTS.items():
        sql = line_select(output, params)
        names = csv_header(spec.dataset_type, params.recipes)
        positions = [sql.index(f't."{name}"') for name in names]
        assert positions == sorted(positions)
        # ...and the inner SELECT provides every one of them.
        inner = sqlglot.parse_one(render(output, params), read="athena")
        assert set(names) <= set(inner.named_selects)


def test_rendered_sql_has_no_placeholders_and_quotes_only_validated_values():
    params = PrepareParams(country="JP", run_date="2025-03-01", window_days=30)
    for output in Output:
        sql = render(output, params)
        assert "{{" not in sql and "}}" not in sql
        assert "'2025-03-01'" in sql
    assert "'2025-01-30'" in render_window(params) and "'JP'" in render_window(params)


def _athena_result(names, values):
    return {
        "ResultSet": {
            "Rows": [
                {"Data": [{"VarCharValue": n} for n in names]},
                {"Data": [{"VarCharValue": v} if v is not None else {} for v in values]},
            ]
        }
    }


def test_counts_parse_from_athena_results_and_guard():
    row = {
        "interactions": "1000",
        "users": "30",
        "users_with_2_interactions": "25",
        "items": "10",
        "interacted_items": "9",
        "country_users": "40",
        "changed_users": "5",
        "new_interactions": "17",
        "duplicates_removed": "0",
        "dropped_missing_ids": "1",
        "dropped_unparsable_timestamp": "2",
        "dropped_unknown_country": "3",
        "items_dropped_unparsable_timestamp": "0",
        "items_with_unmapped_genre": None,  # NULL aggregate = 0
    }
    counts = Counts.from_athena_result(_athena_result(list(row), list(row.values())))
    assert counts.interactions == 1000 and counts.items_with_unmapped_genre == 0
    assert counts.new_interactions == 17 and counts.malformed_csv_rows == 0
    assert counts.meets_minimum() == (True, "")
    short = counts.model_copy(update={"interactions": 999, "users_with_2_interactions": 24})
    ok, reason = short.meets_minimum()
    assert not ok and "999 interactions < 1000" in reason and "24 users with >= 2 interactions < 25" in reason


def test_counts_parser_rejects_unexpected_results():
    with pytest.raises(ValueError, match="exactly one row"):
        Counts.from_athena_result({"ResultSet": {"Rows": []}})
    with pytest.raises(ValidationError):
        Counts.from_athena_result(_athena_result(["interactions"], ["12"]))  # missing fields
    with pytest.raises(ValidationError):
        Counts.from_row({name: -1 for name in Counts.model_fields})
