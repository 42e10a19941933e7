"""The local catalogue of columnar days: each raw day converted once, again only when its files changed."""

from __future__ import annotations

import csv
import json
from datetime import date

import duckdb
import pytest

from dataprep import columnar, local_columnar
from dataprep.local import prepare_with_quality
from dataprep.local_raw import load_raw_days
from dataprep.queries import PrepareParams
from dataprep.sample_data import generate
from tests.dataprep.conftest import write_raw

RUN_DATE = "2025-07-01"
WINDOW = 20


@pytest.fixture
def raw(tmp_path):
    return generate(tmp_path / "raw", users=300, items=60, days=30, seed=3, end_date=RUN_DATE) and tmp_path / "raw"


def _convert(raw, columnar_dir, **kwargs):
    params = PrepareParams(country="KR", run_date=RUN_DATE, window_days=WINDOW)
    con = duckdb.connect()
    try:
        return local_columnar.convert(con, raw, columnar_dir, params, load_raw_days, window_days=WINDOW, **kwargs)
    finally:
        con.close()


def test_a_second_run_converts_nothing_and_prepares_the_same(raw, tmp_path):
    first = _convert(raw, tmp_path / "c")
    assert len(first["views"]) == WINDOW and first["users"]  # every window day, every users day
    assert _convert(raw, tmp_path / "c") == {table: [] for table in first}
    a, _ = prepare_with_quality(raw, tmp_path / "a", "KR", RUN_DATE, window_days=WINDOW, columnar_dir=tmp_path / "c")
    b, _ = prepare_with_quality(raw, tmp_path / "b", "KR", RUN_DATE, window_days=WINDOW)  # converts afresh
    assert a == b


def test_a_redelivered_day_is_converted_again_and_only_that_day(raw, tmp_path):
    _convert(raw, tmp_path / "c")
    before, _ = prepare_with_quality(
        raw, tmp_path / "a", "KR", RUN_DATE, window_days=WINDOW, columnar_dir=tmp_path / "c"
    )
    users = [row for path in sorted((raw / "users").glob("dt=*/*.csv")) for row in csv.reader(path.open())]
    kr_user = next(row[0] for row in users if row[3].upper().endswith("KR"))
    # A late file lands in an old partition: the day's objects change, so its digest does.
    write_raw(raw, "views", "2025-06-20", [[kr_user, "i000001", "1", "1750400000"]], name="late.csv")
    converted = _convert(raw, tmp_path / "c")
    assert converted["views"] == [date(2025, 6, 20)]
    assert not any(days for table, days in converted.items() if table != "views")
    after, _ = prepare_with_quality(
        raw, tmp_path / "b", "KR", RUN_DATE, window_days=WINDOW, columnar_dir=tmp_path / "c"
    )
    assert after.interactions == before.interactions + 1


def test_a_new_layout_converts_every_day_again(raw, tmp_path, monkeypatch):
    first = _convert(raw, tmp_path / "c")
    monkeypatch.setattr(columnar, "LAYOUT_VERSION", "2")
    monkeypatch.setattr(local_columnar, "LAYOUT_VERSION", "2")
    assert _convert(raw, tmp_path / "c") == first


def test_an_interrupted_conversion_leaves_the_catalogue_as_it_was(raw, tmp_path, monkeypatch):
    _convert(raw, tmp_path / "c")
    catalog = (tmp_path / "c" / local_columnar.CATALOG).read_text()
    write_raw(raw, "views", "2025-06-20", [["u0000001", "i000001", "1", "1750400000"]], name="late.csv")
    calls = []

    def fail_second(table, days):
        calls.append(table)
        raise RuntimeError("engine died")

    monkeypatch.setattr(local_columnar, "render_file_counts", fail_second)
    with pytest.raises(RuntimeError):
        _convert(raw, tmp_path / "c")
    assert calls == ["views"]
    # The rows of the new conversion may be on disk, but nothing points at them: the day is converted next time.
    assert (tmp_path / "c" / local_columnar.CATALOG).read_text() == catalog
    monkeypatch.undo()
    assert _convert(raw, tmp_path / "c")["views"] == [date(2025, 6, 20)]


def test_the_catalogue_records_digest_layout_and_conversion_per_day(raw, tmp_path):
    _convert(raw, tmp_path / "c")
    catalog = json.loads((tmp_path / "c" / local_columnar.CATALOG).read_text())
    day = catalog[columnar.parsed_table("views")]["2025-06-20"]
    assert day["layout_version"] == columnar.LAYOUT_VERSION and len(day["raw_digest"]) == 64
    assert catalog[columnar.files_table("views")]["2025-06-20"]["conversion"] == day["conversion"]
