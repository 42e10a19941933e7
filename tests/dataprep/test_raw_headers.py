"""Raw headers are checked by column name: a file whose columns are not its table's, in its table's order, is
refused with one line naming the file and both column lists, locally and from S3, before anything is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from dataprep.headers import RawFile, check_headers, header_columns, s3_files
from dataprep.local import main, prepare_with_quality
from dataprep.quality import DataQualityError
from dataprep.queries import PrepareParams
from tests.dataprep.conftest import RUN_DATE

VIEWS = "user_id,item_id,item_view_count,timestamp"
CONTENTS = "item_id,title,genre,created_at"


def _swap(path: Path, first: int, second: int) -> None:
    """Swap two columns of a plain CSV file (header and rows alike): the export a careless change produces."""
    rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row[first], row[second] = row[second], row[first]
    path.write_text("".join(",".join(row) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture
def raw(raw_fixture, tmp_path) -> Path:
    root = tmp_path / "raw"
    shutil.copytree(raw_fixture, root)
    return root


def _cli(raw: Path, out: Path) -> list[str]:
    return ["--raw", str(raw), "--out", str(out), "--country", "KR", "--run-date", RUN_DATE, "--window-days", "10"]


def test_views_with_two_columns_swapped_are_refused_naming_the_file_and_columns(raw, tmp_path, capsys):
    bad = raw / "views" / "dt=2025-06-22" / "part-0.csv"
    _swap(bad, 0, 1)

    code = main([*_cli(raw, tmp_path / "out"), "--quality-check", "warn"])

    assert code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"data quality: views file {bad} has the header item_id,user_id,item_view_count,timestamp; expected {VIEWS} "
        "(raw columns are read by position: fix the export's column order)"
    )
    # Refused before anything is read: no output a later step could take for the real thing.
    assert not (tmp_path / "out").exists()


def test_contents_with_title_and_genre_swapped_load_no_metadata(raw, tmp_path):
    bad = raw / "contents" / "dt=2025-06-01" / "part-0.csv"
    _swap(bad, 1, 2)

    with pytest.raises(DataQualityError) as refused:
        prepare_with_quality(raw, tmp_path / "out", "KR", RUN_DATE, window_days=10)

    assert str(refused.value).startswith(f"data quality: contents file {bad} has the header item_id,genre,title,")
    assert refused.value.detail == {"file": str(bad), "problem": "header_mismatch", "count": 1}
    assert not (tmp_path / "out" / "items.csv").exists()


def test_only_the_partitions_the_run_reads_are_checked(raw, tmp_path):
    # A views file before the window and one of the run date itself: the run reads neither.
    for dt in ("2025-06-01", RUN_DATE):
        folder = raw / "views" / f"dt={dt}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "late.csv").write_text("item_id,user_id,item_view_count,timestamp\n", encoding="utf-8")

    counts, _ = prepare_with_quality(raw, tmp_path / "out", "KR", RUN_DATE, window_days=10)

    assert counts.interactions > 0


@pytest.mark.parametrize(
    "first_line",
    [
        VIEWS.encode(),
        b"\xef\xbb\xbf" + VIEWS.encode(),
        (VIEWS + "\r").encode(),
        b"User_Id, Item_Id,ITEM_VIEW_COUNT,timestamp",
    ],
)
def test_a_header_is_its_column_names_whatever_the_case_spaces_bom_or_line_end(first_line):
    assert header_columns(first_line) == tuple(VIEWS.split(","))
    check_headers([RawFile("views", "v.csv", first_line)])


def test_a_missing_header_and_an_extra_column_are_refused_each_file_counted():
    files = [
        RawFile("views", "a.csv", b"k1,i1,3,1751241600"),  # no header: the first row would be skipped
        RawFile("views", "b.csv", (VIEWS + ",extra").encode()),
        RawFile("contents", "c.csv", CONTENTS.encode()),
    ]
    with pytest.raises(DataQualityError) as refused:
        check_headers(files)
    assert refused.value.problems[0].startswith("data quality: views file a.csv has the header k1,i1,3,1751241600;")
    assert str(refused.value).endswith("(+1 more: see data_quality.problems)")
    assert refused.value.detail["count"] == 2


def test_s3_first_lines_of_the_objects_the_queries_read():
    params = PrepareParams(country="KR", run_date=RUN_DATE, window_days=10)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="raw")
        body = (VIEWS + "\n" + "k1,i1,1,1751241600\n" * 2000).encode()  # larger than the ranged read
        s3.put_object(Bucket="raw", Key="views/dt=2025-06-30/part-0.csv", Body=body)
        s3.put_object(Bucket="raw", Key="views/dt=2025-06-30/empty.csv", Body=b"")
        s3.put_object(Bucket="raw", Key="views/dt=2025-07-01/today.csv", Body=b"x\n")  # not read by this run
        s3.put_object(Bucket="raw", Key="users/dt=2020-01-01/all.csv", Body=b"user_id,locale\nk1,ko_KR\n")
        s3.put_object(Bucket="raw", Key="reference/genre_mapping/genre_mapping.csv", Body=b"a,b\n")

        files = s3_files(s3, "raw", params)

    assert sorted((f.table, f.file, f.first_line) for f in files) == [
        ("users", "s3://raw/users/dt=2020-01-01/all.csv", b"user_id,locale"),
        ("views", "s3://raw/views/dt=2025-06-30/part-0.csv", VIEWS.encode()),
    ]
    with pytest.raises(DataQualityError, match=r"users file s3://raw/users/dt=2020-01-01/all.csv has the header"):
        check_headers(files)
