"""`python -m dataprep.local`: outputs on success, one line on stderr and exit code 2 on bad arguments."""

from __future__ import annotations

import json
import shutil

import pytest

from dataprep.local import REPOSITORY, main
from tests.dataprep.conftest import RUN_DATE


def test_cli_writes_every_output(raw_fixture, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "--raw",
            str(raw_fixture),
            "--out",
            str(out),
            "--country",
            "KR",
            "--run-date",
            RUN_DATE,
            "--window-days",
            "10",
            "--previous-run-date",
            "2025-06-30",
            "--recipes",
            "trending-now",
            "--ranking-candidates",
            "7",
            # The fixture holds one bad row of every kind (a title with a line break too): warn, do not fail.
            "--quality-check",
            "warn",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".columnar",  # the converted days, reused by the next run into OUT
        "all_users.jsonl",
        "changed_users.jsonl",
        "cold_start.jsonl",
        "counts.json",
        "interactions.csv",
        "interactions_incremental.csv",
        "items.csv",
        "items_batch.jsonl",
        "ranking_input.jsonl",
        "users.csv",
        "window",  # the run window, Parquet: what make report reads
    ]
    report = json.loads((out / "counts.json").read_text())
    assert report["window_start"] == "2025-06-21" and report["recipes"] == ["trending-now"]
    assert report["ranking_candidates"] == 7
    assert "below minimum" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "mentions"),
    [
        (["--country", "kr"], "COUNTRY=kr (--country): expected an ISO 3166 alpha-2 code"),
        (["--country", "KOR"], "COUNTRY=KOR"),
        (["--run-date", "2025/07/01"], "RUN_DATE=2025/07/01 (--run-date)"),
        (["--previous-run-date", "2025-07-05"], "previous_run_date 2025-07-05 must be before run_date"),
        (["--window-days", "ten"], "--window-days"),
        (["--window-days", "0"], "--window-days"),
        (["--raw", "/does/not/exist"], "RAW=/does/not/exist: '/does/not/exist' is not a folder"),
        (["--recipes", "Bad Recipe"], "RECIPES=Bad,Recipe (--recipes)"),
        (["--recipes", "foo"], "RECIPES=foo (--recipes): unknown recipe 'foo' (known: user-personalization"),
        (["--ranking-candidates", "0"], "--ranking-candidates"),
        (["--ranking-candidates", "501"], "--ranking-candidates"),
        (["--ranking-candidates", "many"], "--ranking-candidates"),
        # Arguments that are well-formed but name nothing in the raw data: errors, not "0 interactions".
        (["--country", "XX"], "COUNTRY=XX: no user in RAW has a locale of XX before 2025-07-01 (countries found: JP, KR)"),  # noqa: E501
        (["--country", "US"], "COUNTRY=US: no user in RAW has a locale of US"),  # k4 moved to KR
        (["--run-date", "2025-03-01"], "RUN_DATE=2025-03-01: RAW has no purchases or views of KR in the window"),
        (["--run-date", "2999-01-01"], "RUN_DATE=2999-01-01 (--run-date) is in the future"),
    ],
)
def test_bad_arguments_one_line_exit_2(raw_fixture, tmp_path, capsys, arguments, mentions):
    base = {
        "--raw": str(raw_fixture),
        "--out": str(tmp_path / "o"),
        "--country": "KR",
        "--run-date": RUN_DATE,
    }
    argv = [x for k, v in base.items() if k not in arguments for x in (k, v)] + arguments
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and mentions in err[0], err
    assert not (tmp_path / "o").exists()


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return stop.value.code


def test_raw_must_be_the_export_root(raw_fixture, tmp_path, capsys):
    common = ["--out", str(tmp_path / "o"), "--country", "KR", "--run-date", RUN_DATE]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(["--raw", str(empty), *common]) == 2
    assert f"RAW={empty}: {empty} holds no raw exports (expected <table>/dt=YYYY-MM-DD/*.csv" in _error_line(capsys)
    # One level too deep: a table's folder, or one partition's folder.
    assert _run(["--raw", str(raw_fixture / "views"), *common]) == 2
    assert f"is inside one table's folder; use the export root RAW={raw_fixture} " in _error_line(capsys)
    assert _run(["--raw", str(raw_fixture / "views" / "dt=2025-06-22"), *common]) == 2
    assert f"use the export root RAW={raw_fixture} " in _error_line(capsys)
    # One level too high: the root is a sub-folder.
    parent = tmp_path / "exports"
    shutil.copytree(raw_fixture, parent / "raw")
    assert _run(["--raw", str(parent), *common]) == 2
    assert f"holds the exports one level down; use RAW={parent / 'raw'}" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_out_inside_the_repository_is_refused(raw_fixture, capsys):
    inside = REPOSITORY / "prepared-by-mistake"
    assert _run(["--raw", str(raw_fixture), "--out", str(inside), "--country", "KR", "--run-date", RUN_DATE]) == 2
    assert f"OUT={inside} (--out) is inside the repository" in _error_line(capsys)
    assert not inside.exists()


def test_columnar_folder_is_checked_like_out_and_reused(raw_fixture, tmp_path, capsys):
    common = ["--raw", str(raw_fixture), "--out", str(tmp_path / "o"), "--country", "KR", "--run-date", RUN_DATE]
    inside = REPOSITORY / "columnar-by-mistake"
    assert _run([*common, "--columnar", str(inside)]) == 2
    assert f"COLUMNAR={inside} (--columnar) is inside the repository" in _error_line(capsys)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert _run([*common, "--columnar", str(a_file)]) == 2
    assert f"COLUMNAR={a_file} (--columnar) is a file; choose a folder" in _error_line(capsys)
    assert not (tmp_path / "o").exists() and not inside.exists()
    assert main([*common, "--columnar", str(tmp_path / "days"), "--quality-check", "warn"]) == 0
    assert (tmp_path / "days" / "catalog.json").exists() and not (tmp_path / "o" / ".columnar").exists()


def test_missing_required_argument(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--raw", "x"])
    assert stop.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
