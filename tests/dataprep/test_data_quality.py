"""Data quality: every raw row is counted (read, kept, dropped by reason) and a file the CSV reader could not
fully read is named, on DuckDB and under Athena's line-by-line reading alike; thresholds fail the run."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import sqlglot

from dataprep import local_columnar
from dataprep.counts import Counts
from dataprep.local import _build_window, main, prepare_with_quality, to_duckdb
from dataprep.local_raw import load_genre_mapping, load_raw_days
from dataprep.quality import DROP_REASONS, DataQuality, DataQualityError, QualityThresholds, check
from dataprep.queries import GENRE_MAPPING_CSV, RAW_TABLES, Output, PrepareParams, render, render_file_counts
from tests.dataprep.conftest import write_raw

RUN_DATE = "2025-07-01"
WINDOW = 10
KR_USERS = [f"k{n}" for n in range(20)]


@pytest.fixture(scope="module")
def clean_raw(tmp_path_factory) -> Path:
    """Clean exports: 20 KR users and 5 JP users, views on each of the window's days, one views file per day."""
    root = tmp_path_factory.mktemp("clean")
    users = [[u, "30", "f", "ko_KR", "basic"] for u in KR_USERS] + [[f"j{n}", "30", "m", "ja_JP", ""] for n in range(5)]
    write_raw(root, "users", "2025-01-01", users)
    write_raw(root, "contents", "2025-01-01", [[f"i{n}", f"Title {n}", "drama", "2025-01-01"] for n in range(10)])
    for day in range(21, 31):
        dt = f"2025-06-{day}"
        rows = [[u, f"i{(n + day) % 10}", "1", f"{dt}T{n % 24:02d}:00:00Z"] for n, u in enumerate(KR_USERS * 3)]
        rows += [[f"j{n}", "i1", "2", f"{dt}T01:00:00Z"] for n in range(5)]
        write_raw(root, "views", dt, rows)
        write_raw(root, "purchases", dt, [["k1", "i2", f"{dt}T05:00:00Z"]])
    return root


@pytest.fixture(scope="module")
def corrupted_raw(clean_raw, tmp_path_factory) -> Path:
    """The reported case: one views CSV with an unclosed quote on its second line (the first data line)."""
    root = tmp_path_factory.mktemp("corrupted")
    shutil.copytree(clean_raw, root, dirs_exist_ok=True)
    path = root / "views" / "dt=2025-06-30" / "part-0.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = '"' + lines[1]
    path.write_text("".join(lines), encoding="utf-8")
    return root


def _prepare(raw: Path, out: Path, **kwargs):
    return prepare_with_quality(raw, out, "KR", RUN_DATE, window_days=WINDOW, **kwargs)


def test_clean_exports_every_row_accounted_for(clean_raw, tmp_path):
    counts, quality = _prepare(clean_raw, tmp_path)
    views = quality.tables["views"]
    assert (views.files, views.lines, views.rows_read, views.malformed_lines) == (10, 650, 650, 0)
    assert views.kept == 650 and views.kept_country == 600 and views.lost == 0
    assert quality.files == [] and quality.files_not_fully_read == 0 and quality.problems == []
    assert counts.malformed_csv_rows == 0 and counts.last_day_rows == 61 and counts.day_before_rows == 61
    assert set(quality.tables) == set(RAW_TABLES)
    report = json.loads((tmp_path / "counts.json").read_text())
    assert report["data_quality"] == quality.model_dump()
    assert set(report["data_quality"]["tables"]["views"]["dropped"]) == {
        "malformed_csv",
        "invalid_utf8",
        "control_character",
        "missing_ids",
        "unknown_country",
        "unparsable_timestamp",
        "duplicate",
    }


def test_corrupted_file_is_counted_and_named_on_duckdb(clean_raw, corrupted_raw, tmp_path):
    clean, _ = _prepare(clean_raw, tmp_path / "clean")
    counts, quality = _prepare(corrupted_raw, tmp_path / "bad")
    bad_file = str(corrupted_raw / "views" / "dt=2025-06-30" / "part-0.csv")
    # DuckDB's reader swallows the rest of the file into the unclosed field: the file's 65 rows are gone...
    assert clean.interactions - counts.interactions == 60
    # ...and now that is visible: named, with its lines, parsed rows and lost rows.
    (listed,) = quality.files
    assert (listed.table, listed.file, listed.lines, listed.rows_read, listed.malformed_lines) == (
        "views",
        bad_file,
        65,
        0,
        1,
    )
    assert listed.dropped["malformed_csv"] == 65 and listed.not_fully_read == 1
    assert quality.tables["views"].dropped["malformed_csv"] == 65 and quality.files_not_fully_read == 1
    assert counts.malformed_csv_rows == 1
    assert quality.problems[0] == (
        f"data quality: views file {bad_file} not fully read: 65 lines, 0 rows parsed, 1 malformed (65 rows lost)"
    )


def _athena_like_tables(con: duckdb.DuckDBPyConnection, raw: Path) -> None:
    """Replace the CSV tables with what Athena's OpenCSVSerDe gives: Hadoop's TextInputFormat splits a file into
    lines first, so every physical line becomes one row (an unclosed quote garbles only its own line)."""
    for table, columns in RAW_TABLES.items():
        rows = []
        for path in sorted((raw / table).glob("dt=*/*.csv")):
            dt = path.parent.name.removeprefix("dt=")
            for line in path.read_text(encoding="utf-8").splitlines()[1:]:
                fields = next(csv.reader([line]), [])
                fields = (fields + [None] * len(columns))[: len(columns)]
                rows.append((*fields, dt, str(path)))
        names = [*columns, "dt", "$path"]
        con.execute(f'DROP TABLE "{table}"')
        con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{chr(34)}{n}{chr(34)} VARCHAR" for n in names)})')
        if rows:
            con.executemany(f'INSERT INTO "{table}" VALUES ({", ".join("?" for _ in names)})', rows)


def test_corrupted_file_is_named_under_athenas_line_based_reading(corrupted_raw, tmp_path):
    """The same conversion and quality SQL flag the file when the reader keeps every line (Athena) instead of
    losing them."""
    params = PrepareParams(country="KR", run_date=RUN_DATE, window_days=WINDOW)
    con = duckdb.connect()

    def athena_like(con: duckdb.DuckDBPyConnection, raw: Path, days) -> None:
        load_raw_days(con, raw, days)
        _athena_like_tables(con, raw)

    local_columnar.convert(con, corrupted_raw, tmp_path, params, athena_like, window_days=WINDOW)
    local_columnar.attach(con, tmp_path)
    load_genre_mapping(con, GENRE_MAPPING_CSV)
    _build_window(con, params, tmp_path / "window")
    cursor = con.execute(to_duckdb(render(Output.QUALITY, params)))
    names = [d[0] for d in cursor.description]
    quality = DataQuality.from_rows([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
    (listed,) = quality.files
    assert listed.file.endswith("views/dt=2025-06-30/part-0.csv")
    assert (listed.lines, listed.rows_read, listed.malformed_lines, listed.not_fully_read) == (65, 65, 1, 1)
    # The garbled line is one field (the whole line) and no item id: dropped, never kept.
    assert listed.dropped["missing_ids"] == 1 and listed.kept == 64


def test_quality_is_counted_from_each_file_once_with_the_path_pseudo_column():
    """Lines are counted when a day is converted (each raw file and its lines table, by "$path"); the run's quality
    query reads those counts and the window, never a raw table."""
    day = date.fromisoformat(RUN_DATE)
    for table in RAW_TABLES:
        sql = render_file_counts(table, [day])
        tree = sqlglot.parse_one(sql, read="athena")
        ctes = {c.alias for c in tree.find_all(sqlglot.exp.CTE)}
        assert {t.name for t in tree.find_all(sqlglot.exp.Table)} - ctes == {table, f"{table}_lines"}
        assert '"$path"' in sql
    sql = render(Output.QUALITY, PrepareParams(country="KR", run_date=RUN_DATE))
    tables = {t.name for t in sqlglot.parse_one(sql, read="athena").find_all(sqlglot.exp.Table)}
    assert not tables & (set(RAW_TABLES) | {f"{t}_lines" for t in RAW_TABLES})
    assert {f"{t}_files" for t in RAW_TABLES} | {"run_window"} <= tables and "LIMIT" not in sql.upper()
    # Trino's regexp_like becomes DuckDB's regexp_matches, both anchored the same way.
    assert "REGEXP_MATCHES(line, " in to_duckdb(render_file_counts("views", [day]))


def test_cli_fails_with_the_line_naming_the_file(corrupted_raw, tmp_path, capsys):
    code = main(
        ["--raw", str(corrupted_raw), "--out", str(tmp_path), "--country", "KR", "--run-date", RUN_DATE]
        + ["--window-days", str(WINDOW)]
    )
    captured = capsys.readouterr()
    assert code == 1
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"data quality: views file {corrupted_raw}/views/dt=2025-06-30/part-0.csv not fully read")
    assert "65 rows lost" in line
    # The summary mentions the dropped rows and the unread file; counts.json holds the same problem.
    assert "malformed_csv 65" in captured.out and "1 files not fully read" in captured.out
    report = json.loads((tmp_path / "counts.json").read_text())
    assert line.startswith(report["data_quality"]["problems"][0])


def test_cli_summary_mentions_dropped_rows(clean_raw, tmp_path, capsys):
    assert main(["--raw", str(clean_raw), "--out", str(tmp_path), "--country", "KR", "--run-date", RUN_DATE]) == 0
    out = capsys.readouterr().out
    assert "0 of 660 event rows dropped" in out


def _table_row(table: str, lines: int, **dropped: int) -> dict:
    row = {
        "row_kind": "table",
        "source_table": table,
        "file": None,
        "files": 3,
        "lines": lines,
        "rows_read": lines,
        "malformed_lines": 0,
        "kept": lines - sum(dropped.values()),
        "kept_country": 0,
        "unknown_item": 0,
        "not_fully_read": 0,
    }
    for reason in DROP_REASONS:
        row[f"dropped_{reason}"] = dropped.get(reason, 0)
    return row


def _counts(**values: int) -> Counts:
    base = {name: 0 for name in Counts.model_fields}
    return Counts.model_validate({**base, "interactions": 5000, "users_with_2_interactions": 100, **values})


def test_dropped_share_threshold_names_table_reason_count_and_worst_file():
    worst = {**_table_row("views", 400, unknown_country=30), "row_kind": "file", "file": "s3://raw/views/dt=x/a.csv"}
    worst["files"] = 1
    quality = DataQuality.from_rows([_table_row("views", 1000, unknown_country=25, missing_ids=5), worst])
    with pytest.raises(DataQualityError) as failed:
        check(quality, _counts(), QualityThresholds(), "KR", "2025-06-30")
    assert str(failed.value) == (
        "data quality: views: 30 of 1000 rows dropped (3.0% > 2.0% max_dropped_share), mostly unknown_country "
        "(25); most in s3://raw/views/dt=x/a.csv (30)"
    )
    assert failed.value.detail == {"file": "s3://raw/views/dt=x/a.csv", "problem": "unknown_country", "count": 25} | {
        "table": "views"
    }
    # Exactly at the threshold passes; duplicates never count (nothing is lost).
    at_limit = DataQuality.from_rows([_table_row("views", 1000, unknown_country=20, duplicate=500)])
    assert check(at_limit, _counts(), QualityThresholds(), "KR", "2025-06-30").problems == []
    assert check(quality, _counts(), QualityThresholds(max_dropped_share=0.05), "KR", "2025-06-30").problems == []


def test_missing_day_threshold():
    quality = DataQuality.from_rows([_table_row("views", 1000)])
    with pytest.raises(DataQualityError, match=r"KR has no purchases or views in dt=2025-06-30 after 61 the day"):
        check(quality, _counts(last_day_rows=0, day_before_rows=61), QualityThresholds(), "KR", "2025-06-30")
    relaxed = QualityThresholds(fail_on_missing_day=False)
    assert check(quality, _counts(day_before_rows=61), relaxed, "KR", "2025-06-30").problems == []
    # A country that never had data is the guard's business (SKIPPED), not a missing export.
    assert check(quality, _counts(), QualityThresholds(), "KR", "2025-06-30").problems == []


def test_missing_last_day_on_duckdb(clean_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(clean_raw, raw)
    shutil.rmtree(raw / "views" / "dt=2025-06-30")
    shutil.rmtree(raw / "purchases" / "dt=2025-06-30")
    counts, quality = _prepare(raw, tmp_path / "out")
    assert (counts.last_day_rows, counts.day_before_rows) == (0, 61)
    assert quality.problems == [
        "data quality: KR has no purchases or views in dt=2025-06-30 after 61 the day before: an export is missing "
        "(purchases/dt=2025-06-30/, views/dt=2025-06-30/)"
    ]


def test_config_quality_keys_and_their_rendering():
    from stacks.config import DataSettings

    assert DataSettings().quality.model_dump() == QualityThresholds().model_dump()
    assert DataSettings.model_validate({"quality": {"max_dropped_share": 0.1}}).quality.max_dropped_share == 0.1
    with pytest.raises(ValueError, match="max_dropped_share"):
        DataSettings.model_validate({"quality": {"max_dropped_share": 2}})
    with pytest.raises(ValueError, match="unknown_key"):
        DataSettings.model_validate({"quality": {"unknown_key": 1}})


def _with_bytes(clean_raw: Path, root: Path, needle: bytes, replacement: bytes) -> Path:
    """clean_raw with one views row altered on the window's last day; returns the altered file."""
    shutil.copytree(clean_raw, root)
    path = root / "views" / "dt=2025-06-30" / "part-0.csv"
    data = path.read_bytes()
    assert data.count(needle) >= 1
    path.write_bytes(data.replace(needle, replacement, 1))
    return path


@pytest.mark.parametrize(
    ("replacement", "reason"),
    [(b"k\xff3,i", "invalid_utf8"), (b"k\x013,i", "control_character"), (b"k3,i\x1b", "control_character")],
)
def test_a_bad_byte_is_a_named_and_counted_loss_never_a_crash(clean_raw, tmp_path, capsys, replacement, reason):
    bad = _with_bytes(clean_raw, tmp_path / "raw", b"k3,i", replacement)

    code = main(["--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--country", "KR"] + [
        "--run-date", RUN_DATE, "--window-days", str(WINDOW)
    ])  # fmt: skip

    assert code == 0  # one row of 650: below max_dropped_share
    report = json.loads((tmp_path / "out" / "counts.json").read_text())
    views = report["data_quality"]["tables"]["views"]
    assert views["dropped"][reason] == 1
    assert (views["lines"], views["rows_read"], views["kept"], views["not_fully_read"]) == (650, 650, 649, 0)
    assert views["malformed_lines"] == 0 and views["dropped"]["malformed_csv"] == 0
    (listed,) = report["data_quality"]["files"]
    assert (listed["file"], listed["dropped"][reason]) == (str(bad), 1)
    assert f"{reason} 1" in capsys.readouterr().out


def test_a_bad_byte_above_the_threshold_fails_naming_file_reason_and_count(clean_raw, tmp_path):
    bad = _with_bytes(clean_raw, tmp_path / "raw", b"Z\n", b"Z\n")
    bad.write_bytes(bad.read_bytes().replace(b"Z\n", b"Z\xff\n"))  # every row of the day: 65 of 650

    _, quality = _prepare(tmp_path / "raw", tmp_path / "out", thresholds=QualityThresholds())

    assert quality.problems == [
        f"data quality: views: 65 of 650 rows dropped (10.0% > 2.0% max_dropped_share), mostly invalid_utf8 (65); "
        f"most in {bad} (65)"
    ]


def test_a_quoted_line_break_counts_as_one_record(clean_raw, tmp_path):
    """Athena's CSV SerDe does not read a line break inside a field: the record is flagged, once, not twice."""
    raw = tmp_path / "raw"
    shutil.copytree(clean_raw, raw)
    write_raw(raw, "contents", "2025-06-01", [["i10", "Line1\nLine2", "drama", "2025-01-01"]])

    _, quality = _prepare(raw, tmp_path / "out")

    contents = quality.tables["contents"]
    assert (contents.lines, contents.malformed_lines, contents.dropped["malformed_csv"]) == (11, 1, 1)
    (listed,) = quality.files
    assert (listed.lines, listed.rows_read, listed.malformed_lines, listed.not_fully_read) == (1, 1, 1, 1)
