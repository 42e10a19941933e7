"""FakeAthena's run window UNLOAD writes what Athena's would: Parquet files under `part=<part>/` with run_window's
columns and types, holding the interactions the fake's interactions output holds for the same run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import boto3
import duckdb
from moto import mock_aws

from dataprep.columnar import COUNTRY_PARTS, WINDOW_COLUMNS, WINDOW_FOLDER, WINDOW_PART, Part
from dataprep.queries import PrepareParams, window_statement
from testkit.fakes.athena import FakeAthena, _lines
from testkit.fakes.clock import SimClock

BUCKET = "personalize-dev-prepared-1-r"
RUN = "athena/runs/KR/2025-07-01/exec-1/a1"
START = datetime(2025, 7, 1, 2, tzinfo=UTC)
# import_since 2025-06-16, changes_since 2025-06-14: the fake's interactions (2025-06-11 to 06-17) fall in all
# three of the country's parts.
PARAMS = PrepareParams(
    country="KR", run_date=date(2025, 7, 1), previous_run_date=date(2025, 6, 14), imported_before=date(2025, 6, 16)
)
_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT"}


def _run_window_unload(s3, tmp_path) -> dict[str, list[tuple]]:
    """Run the window UNLOAD on FakeAthena; every Parquet file it wrote, read back, by its part folder."""
    clock = SimClock(START)
    athena = FakeAthena(clock, s3, query_seconds=1)
    sql = window_statement(PARAMS, f"s3://{BUCKET}/{RUN}").sql
    query_id = athena.start_query_execution(QueryString=sql, WorkGroup="primary")["QueryExecutionId"]
    clock.advance(timedelta(seconds=5))
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{RUN}/{WINDOW_FOLDER}/")["Contents"]]
    con = duckdb.connect()
    rows: dict[str, list[tuple]] = {}
    for n, key in enumerate(keys):
        folder, name = key.removeprefix(f"{RUN}/{WINDOW_FOLDER}/").split("/")
        assert folder.startswith(f"{WINDOW_PART}=") and name.endswith(".parquet"), key
        path = tmp_path / f"{n}.parquet"
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        assert [(c[0], c[1]) for c in described] == [(c, _DUCKDB_TYPES[t]) for c, t in WINDOW_COLUMNS]
        rows.setdefault(folder.removeprefix(f"{WINDOW_PART}="), []).extend(
            con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
        )
    con.close()
    return rows


@mock_aws
def test_the_window_unload_writes_parquet_parts_holding_the_interactions_the_fake_writes_for_the_run(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    parts = _run_window_unload(s3, tmp_path)
    assert set(parts) == {p.value for p in COUNTRY_PARTS}
    names = [c for c, _ in WINDOW_COLUMNS]
    window = sorted(
        (row[names.index("user_id")], row[names.index("item_id")], row[names.index("ts")])
        for r in parts.values()
        for row in r
    )
    lines = [line.split(",") for line in _lines("interactions", START.timestamp()).decode().splitlines()]
    assert window == sorted((u, i, int(ts)) for u, i, ts, _, _ in lines)
    since = {Part.NEW: PARAMS.import_since.isoformat(), Part.CHANGED: PARAMS.changes_since.isoformat()}
    for part, rows in parts.items():
        first = {row[names.index("first_dt")] for row in rows}
        if part == Part.NEW:
            assert min(first) >= since[Part.NEW]
        elif part == Part.CHANGED:
            assert since[Part.CHANGED] <= min(first) and max(first) < since[Part.NEW]
        else:
            assert max(first) < since[Part.CHANGED]
