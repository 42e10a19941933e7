"""The cold-start fallback (cold_start.sql) on DuckDB: popularity per Users segment (locale x age group x gender),
the country's list for small segments and users without metadata, and how many cold users each line serves."""

from __future__ import annotations

import json

import pytest

from dataprep.local import prepare
from dataprep.queries import COLD_START_LIST_SIZE, LOCAL_RUN, Output, PrepareParams, athena_statements
from tests.dataprep.conftest import RUN_DATE, write_raw

WINDOW_DAYS = 10


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    root = tmp_path_factory.mktemp("cold")
    users = (
        [[f"young{i}", "20", "f", "ko_KR", "free"] for i in range(6)]  # 18-24 f: 4 active, 2 cold
        + [[f"older{i}", "50", "m", "ko_KR", "free"] for i in range(5)]  # 45-54 m: 4 active, 1 cold
        + [["tiny0", "30", "m", "ko_KR", "free"], ["tiny1", "31", "m", "ko_KR", "free"]]  # 25-34 m: 1 active
        + [["jp0", "20", "f", "ja_JP", "free"]]  # another country
    )
    write_raw(root, "users", "2025-01-01", users)
    events = (
        [[f"young{u}", item, "2025-06-25T10:00:00Z"] for u in range(4) for item in ("drama1", "drama2")]
        + [[f"older{u}", item, "2025-06-26T10:00:00Z"] for u in range(4) for item in ("news1", "news2", "news3")]
        + [["young0", "news1", "2025-06-27T10:00:00Z"], ["tiny0", "anime1", "2025-06-27T11:00:00Z"]]
        + [["jp0", "anime1", "2025-06-27T11:00:00Z"]]
    )
    write_raw(root, "purchases", "2025-06-28", events)
    write_raw(root, "contents", "2025-06-01", [[i, i, "drama", "2025-06-01"] for i in {e[1] for e in events}])
    out = tmp_path_factory.mktemp("cold-out")
    prepare(root, out, "KR", RUN_DATE, window_days=WINDOW_DAYS, cold_start_min_users=3)
    rows = [json.loads(line) for line in (out / "cold_start.jsonl").read_text(encoding="utf-8").splitlines()]
    return {(r["locale"], r["ageGroup"], r["gender"]): r for r in rows}


COUNTRY = ["news1", "drama1", "drama2", "news2", "news3", "anime1"]  # distinct users per item (5, 4...), ties by id


def test_each_segment_gets_its_own_popular_items(lines):
    assert lines[("ko_KR", "18-24", "f")] == {
        "locale": "ko_KR", "ageGroup": "18-24", "gender": "f", "source": "segment",
        "itemIds": ["drama1", "drama2", "news1"], "coldUsers": 2,
    }  # fmt: skip
    assert lines[("ko_KR", "45-54", "m")]["itemIds"] == ["news1", "news2", "news3"]
    assert lines[("ko_KR", "45-54", "m")]["coldUsers"] == 1


def test_small_segments_and_users_without_metadata_get_the_country_list(lines):
    tiny = lines[("ko_KR", "25-34", "m")]
    assert tiny["source"] == "country" and tiny["itemIds"] == COUNTRY and tiny["coldUsers"] == 1
    assert lines[("*", "*", "*")] == {
        "locale": "*", "ageGroup": "*", "gender": "*", "source": "country", "itemIds": COUNTRY, "coldUsers": 0,
    }  # fmt: skip
    assert set(lines) == {("ko_KR", "18-24", "f"), ("ko_KR", "45-54", "m"), ("ko_KR", "25-34", "m"), ("*", "*", "*")}


def test_lists_are_as_long_as_the_batch_lists_at_most():
    params = PrepareParams(country="KR", run_date=RUN_DATE)
    sql = athena_statements(params, "s3://bucket/p", LOCAL_RUN)[Output.COLD_START].sql
    assert f"item_rank <= {COLD_START_LIST_SIZE}" in sql and "UNLOAD" in sql
