"""The report step's UNLOADs for FakeAthena: the statement really runs, on DuckDB, over the objects the Glue tables
of stacks/constructs/report_catalog.py would read in (moto) S3: the prepare step's UNLOAD parts of the run attempt
named in the SQL (run_window's Parquet parts under `window/part=<part>/`, the users and items CSV parts), and the
Personalize batch output under results/<country>/<run_date>/user-personalization/. The prepare step's interactions
CSV parts are never read: no Glue table of the report points at them."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from dataprep.columnar import WINDOW_FOLDER, WINDOW_PART, Part
from dataprep.local import to_duckdb
from evaluation.local_sql import PREPARED_FILES, load_batch_output, load_prepared_tables
from evaluation.queries import PERSONALIZE_RECIPE, PREPARED_OUTPUTS, PREPARED_TABLES, ReportOutput, ReportQueryParams

REPORT_OUTPUTS = frozenset(o.value for o in ReportOutput)
_RUN = re.compile(
    r"country = '([A-Z]{2})' AND run_date = '([0-9-]{10})' AND execution = '([^']+)'\s+AND attempt = '(a[0-9]+)'"
)
_UNLOAD = re.compile(r"^UNLOAD \(\n(.*)\n\)\nTO '", re.DOTALL)
_UNLOAD_TARGET = re.compile(r"\nTO '[^']*'")


def _objects(s3: Any, bucket: str, prefix: str) -> list[bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed]


def _write_window(s3: Any, bucket: str, run_prefix: str, folder: Path) -> None:
    """The run's window parts as Hive folders (`window/part=<part>/n.parquet`), as the local preparation writes
    them; a run without any has an empty run_window, as in Athena."""
    for part in Part:
        for n, body in enumerate(_objects(s3, bucket, f"{run_prefix}/{WINDOW_FOLDER}/{WINDOW_PART}={part}/")):
            target = folder / WINDOW_FOLDER / f"{WINDOW_PART}={part}" / f"{n}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)


def _run(sql: str) -> tuple[str, str, str, str]:
    run = _RUN.search(sql)
    if run is None:
        raise ValueError(f"not a report query over one prepared run (no {_RUN.pattern} in it): {sql[:200]}")
    country, run_date, execution, attempt = run.groups()
    return country, run_date, execution, attempt


def _results_bucket(prepared_bucket: str) -> str:
    # Bucket names follow stacks.names.bucket_name: personalize-<env>-<kind>-<account>-<region>.
    return prepared_bucket.replace("-prepared-", "-results-", 1)


def report_inputs(sql: str, prepared_bucket: str) -> tuple[Any, ...]:
    """Everything report_unload's result depends on: the statement without its run's execution name and its
    output location (which select nothing), and every object it reads, by key under its prefix and ETag (the MD5
    of its content). Two executions over the same data give the same inputs, hence the same result."""
    country, run_date, execution, attempt = _run(sql)
    run_prefix = f"athena/runs/{country}/{run_date}/{execution}/{attempt}/"
    batch_prefix = f"{country}/{run_date}/{PERSONALIZE_RECIPE}/"
    statement = _UNLOAD_TARGET.sub("TO '<output>'", sql).replace(execution, "<execution>")

    return statement, _listed(prepared_bucket, run_prefix), _listed(_results_bucket(prepared_bucket), batch_prefix)


def _listed(bucket: str, prefix: str) -> tuple[tuple[str, str], ...]:
    """(key under prefix, ETag) of every object, in key order, as ListObjectsV2 gives them, read from moto's S3
    backend directly: every report query asks, and through the API each listing costs a request round trip."""
    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys
    return tuple(sorted((name.removeprefix(prefix), key.etag) for name, key in keys.items() if name.startswith(prefix)))


def report_unload(s3: Any, sql: str, prepared_bucket: str) -> bytes:
    country, run_date, execution, attempt = _run(sql)
    params = ReportQueryParams(country=country, run_date=run_date, execution=execution, attempt=attempt)
    run_prefix = f"athena/runs/{country}/{run_date}/{execution}/{attempt}"
    results = [_results_bucket(prepared_bucket)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for table, output in PREPARED_OUTPUTS.items():
            header = ",".join(c.upper() for c in PREPARED_TABLES[table])
            parts = b"".join(_objects(s3, prepared_bucket, f"{run_prefix}/{output}/"))
            (folder / PREPARED_FILES[table]).write_bytes(header.encode() + b"\n" + parts)
        _write_window(s3, prepared_bucket, run_prefix, folder)
        batch = []
        for n, body in enumerate(
            chunk for bucket in results for chunk in _objects(s3, bucket, f"{country}/{run_date}/{PERSONALIZE_RECIPE}/")
        ):
            (folder / f"batch-{n}.out").write_bytes(body)
            batch.append(folder / f"batch-{n}.out")
        con = duckdb.connect()
        try:
            load_prepared_tables(con, folder, params)
            load_batch_output(con, batch, params)
            target = folder / "out.json"
            unload = _UNLOAD.match(sql)
            if unload is None:
                raise ValueError(f"not an UNLOAD statement: {sql[:200]}")
            select = to_duckdb(unload.group(1))
            con.execute(f"COPY ({select}) TO '{target}' (FORMAT json)")
        finally:
            con.close()
        # Rows in a fixed order: Athena's parallel writers promise none, and the same data must give the same
        # bytes here (the fake's result cache and the tests that compare two runs).
        return b"".join(sorted(target.read_bytes().splitlines(keepends=True)))
