"""`python -m evaluation.report_local` (`make report`): the checks `make prepare` has, and the trend's runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataprep import sample_data
from dataprep.local_args import REPOSITORY
from evaluation import raw_identity, report_local
from tests.dataprep.conftest import write_raw

RAW_END = "2025-07-01"  # the sample data's last day is the day before
RUN_DATE = "2025-06-24"


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    sample_data.generate(root, users=300, items=80, days=40, seed=3, end_date=RAW_END)
    return root


@pytest.fixture(scope="module")
def kr_without_events(tmp_path_factory) -> Path:
    """KR has users but every purchase and view is a JP user's."""
    root = tmp_path_factory.mktemp("kr-without-events")
    write_raw(root, "users", "2025-06-01", [["k1", "30", "f", "ko_KR", "free"], ["j1", "40", "m", "ja_JP", "free"]])
    write_raw(root, "views", "2025-06-20", [["j1", "c1", "3", "2025-06-20T10:00:00"]])
    write_raw(root, "contents", "2025-06-01", [["c1", "Title", "Drama", "2025-01-01"]])
    return root


def _exit_code(argv: list[str]) -> int | str | None:
    try:
        return report_local.main(argv)
    except SystemExit as stop:
        return stop.code


def _argv(raw: Path, out: Path, *extra: str, run_date: str = RUN_DATE, country: str = "KR") -> list[str]:
    return ["--raw", str(raw), "--country", country, "--run-date", run_date, "--out", str(out), *extra]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("arguments", "mentions"),
    [
        (["--country", "kr"], "COUNTRY=kr (--country): expected an ISO 3166 alpha-2 code in upper case"),
        (["--country", "XX"], "COUNTRY=XX: no user in RAW has a locale of XX before 2025-06-24 (countries found: JP,"),
        (["--run-date", "2026-03-01"], "RUN_DATE=2026-03-01: RAW has no purchases or views of KR in the window"),
        (["--run-date", "2999-01-01"], "RUN_DATE=2999-01-01 (--run-date) is in the future"),
    ],
)
def test_report_refuses_what_prepare_refuses(raw, tmp_path, capsys, arguments, mentions):
    base = {"--raw": str(raw), "--country": "KR", "--run-date": RUN_DATE, "--out": str(tmp_path / "o")}
    argv = [x for k, v in base.items() if k not in arguments for x in (k, v)] + arguments
    assert _exit_code(argv) == 2
    assert mentions in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_report_refuses_raw_data_with_nothing_for_the_country(kr_without_events, tmp_path, capsys):
    assert _exit_code(_argv(kr_without_events, tmp_path / "o")) == 2
    assert "RUN_DATE=2025-06-24: RAW has no purchases or views of KR in the window" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_report_refuses_a_run_date_whose_truth_days_are_past_the_data(raw, tmp_path, capsys):
    # The window [2025-01-17, 2025-07-20) holds the data (prepare accepts it), its last 7 days nothing.
    assert _exit_code(_argv(raw, tmp_path / "o", run_date="2025-07-20")) == 2
    line = _one_error_line(capsys)
    assert "RUN_DATE=2025-07-20: RAW has no purchases or views of KR in the report's truth days " in line
    assert "[2025-07-13, 2025-07-20) (--truth-days 7; the latest is on 2025-06-30): nothing to evaluate" in line
    assert not (tmp_path / "o" / "report.json").exists() and not (tmp_path / "o" / "report.html").exists()


def test_report_refuses_a_raw_folder_that_is_not_the_export_root(raw, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _exit_code(_argv(empty, tmp_path / "o")) == 2
    assert f"RAW={empty}: {empty} holds no raw exports" in _one_error_line(capsys)
    assert _exit_code(_argv(raw / "views", tmp_path / "o")) == 2
    assert f"is inside one table's folder; use the export root RAW={raw} " in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_report_stops_like_prepare_on_raw_data_it_cannot_read(raw, tmp_path, capsys):
    swapped = tmp_path / "swapped"
    shutil.copytree(raw, swapped)
    first = sorted((swapped / "views").glob("dt=*/*.csv"))[0]
    header, rest = first.read_text(encoding="utf-8").split("\n", 1)
    first.write_text(",".join(reversed(header.split(","))) + "\n" + rest, encoding="utf-8")
    assert _exit_code(_argv(swapped, tmp_path / "o")) == 1
    assert first.name in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_report_refuses_an_empty_results_folder(raw, tmp_path, capsys):
    results = tmp_path / "results"
    (results / "sub").mkdir(parents=True)
    (results / "notes.txt").write_text("not batch output\n")
    assert _exit_code(_argv(raw, tmp_path / "o", "--results", str(results))) == 2
    line = _one_error_line(capsys)
    assert f"RESULTS={results} (--results): no batch-inference output in it (*.out or *.jsonl files)" in line
    assert not (tmp_path / "o").exists()


def test_report_refuses_out_that_is_a_file(raw, tmp_path, capsys):
    out = tmp_path / "report.txt"
    out.write_text("keep me\n")
    assert _exit_code(_argv(raw, out)) == 2
    assert f"OUT={out} (--out) is a file; choose a folder" in _one_error_line(capsys)
    assert out.read_text() == "keep me\n"


def test_report_refuses_out_inside_the_repository(raw, capsys):
    inside = REPOSITORY / "report-by-mistake"
    try:
        assert _exit_code(_argv(raw, inside, "--engine", "memory")) == 2
        assert f"OUT={inside} (--out) is inside the repository" in _one_error_line(capsys)
        assert not inside.exists()
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def _trend_dates(out: Path) -> list[str]:
    return [p["run_date"] for p in json.loads((out / "report.json").read_text())["trend"]]


def test_trend_uses_earlier_runs_of_the_same_country_and_raw_data_only(raw, tmp_path):
    reports = tmp_path / "reports"
    for day in ("2025-06-17", "2025-07-01"):
        assert report_local.main(_argv(raw, reports / day, "--engine", "memory", run_date=day)) == 0
    # An earlier run of the same country on another export (another seed, same days): its report.json as
    # report_local writes it, the digest being the only field that tells the two exports apart.
    other = tmp_path / "other-raw"
    sample_data.generate(other, users=300, items=80, days=40, seed=4, end_date=RAW_END)
    unrelated = json.loads((reports / "2025-06-17" / "report.json").read_text())
    unrelated.update(
        run_date="2025-06-10", raw_digest=raw_identity.raw_digest(raw_identity.raw_files(other), "2025-06-10")
    )
    (reports / "other-2025-06-10").mkdir()
    (reports / "other-2025-06-10" / "report.json").write_text(json.dumps(unrelated))

    assert report_local.main(_argv(raw, reports / RUN_DATE, "--engine", "memory")) == 0
    assert _trend_dates(reports / RUN_DATE) == ["2025-06-17", RUN_DATE]  # not 2025-06-10 (other data), 2025-07-01
    recorded = json.loads((reports / RUN_DATE / "report.json").read_text())["raw_digest"]
    assert recorded == raw_identity.raw_digest(raw_identity.raw_files(raw), RUN_DATE)


def test_raw_digest_covers_the_files_a_run_can_read(tmp_path):
    root = tmp_path / "raw"
    write_raw(root, "views", "2025-06-20", [["u1", "c1", "3", "2025-06-20T10:00:00"]])
    write_raw(root, "users", "2025-06-01", [["u1", "30", "f", "ko_KR", "free"]])
    before = raw_identity.raw_digest(raw_identity.raw_files(root), "2025-06-21")
    # A partition dated on or after the run date is not data the run read: the digest stays.
    write_raw(root, "views", "2025-06-21", [["u1", "c2", "1", "2025-06-21T10:00:00"]])
    assert raw_identity.raw_digest(raw_identity.raw_files(root), "2025-06-21") == before
    # The same files elsewhere are the same data.
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert raw_identity.raw_digest(raw_identity.raw_files(copy), "2025-06-21") == before
    # A changed row in a partition the run read is other data.
    write_raw(root, "views", "2025-06-20", [["u2", "c1", "2", "2025-06-20T11:00:00"]])
    assert raw_identity.raw_digest(raw_identity.raw_files(root), "2025-06-21") != before
