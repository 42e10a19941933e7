"""`python -m dataprep.local`: outputs on success, one line on stderr and exit code 2 on bad arguments."""

from __future__ import annotations

import json

import pytest

from dataprep.local import main
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
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "all_users.jsonl",
        "changed_users.jsonl",
        "counts.json",
        "interactions.csv",
        "interactions_incremental.csv",
        "items.csv",
        "items_batch.jsonl",
        "ranking_input.jsonl",
        "users.csv",
    ]
    report = json.loads((out / "counts.json").read_text())
    assert report["window_start"] == "2025-06-21" and report["recipes"] == ["trending-now"]
    assert report["ranking_candidates"] == 7
    assert "below minimum" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "mentions"),
    [
        (["--country", "kr"], "country"),
        (["--country", "KOR"], "country"),
        (["--run-date", "2025/07/01"], "run_date"),
        (["--previous-run-date", "2025-07-05"], "previous_run_date"),
        (["--window-days", "ten"], "--window-days"),
        (["--window-days", "0"], "window_days"),
        (["--raw", "/does/not/exist"], "--raw"),
        (["--recipes", "Bad Recipe"], "recipe"),
        (["--ranking-candidates", "0"], "ranking_candidates"),
        (["--ranking-candidates", "501"], "ranking_candidates"),
        (["--ranking-candidates", "many"], "--ranking-candidates"),
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
    assert not (tmp_path / "o" / "counts.json").exists()


def test_missing_required_argument(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--raw", "x"])
    assert stop.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
