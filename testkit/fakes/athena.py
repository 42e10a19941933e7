"""FakeAthena: the few Athena calls the prepare step makes, on the simulated clock.

moto's Athena answers every query SUCCEEDED at once and cannot fail one or write UNLOAD output, so the
pipeline tests use this instead: queries run for `query_seconds` of simulated time, an UNLOAD writes a part
file into (moto) S3 under its TO location like Athena does, the counts SELECT returns the scripted counts,
and `fail_next` makes the next query of an output fail with a reason. The report's queries and its online outcome
(testkit/fakes/online_sql.py, over `parsed_events`) really run, on DuckDB. Parameters are validated against
botocore's Athena model (testkit/fakes/request_checks.py) so a wrong call shape fails as boto3 would.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from botocore.exceptions import ClientError

from common.event_kinds import EventKind
from common.prepared_outputs import Output
from dataprep.columnar import WINDOW_COLUMNS, WINDOW_PART, Part
from evaluation.online_sql import EVENT_TABLES
from evaluation.online_sql import OUTPUT as ONLINE_OUTPUT
from evaluation.queries import CURATION_FOLDER
from testkit.fakes import request_checks
from testkit.fakes.clock import SimClock
from testkit.fakes.online_sql import online_unload
from testkit.fakes.report_sql import REPORT_OUTPUTS, report_inputs, report_unload

SCANNED_BYTES_PER_QUERY = 40 * 10**6
_UNLOAD_TARGET = re.compile(r"\bTO\s+'(s3://[^']+)'", re.IGNORECASE)
# A columnar conversion (dataprep.queries.conversion_statements): Parquet partitioned by the day, over the
# raw days listed in its WHERE dt IN (...).
_DAY_PARTITIONED = re.compile(r"partitioned_by\s*=\s*ARRAY\['dt'\]", re.IGNORECASE)
_DAYS = re.compile(r"\bdt\s+IN\s*\(([^)]*)\)", re.IGNORECASE)
_PARQUET_PART = b"PAR1 not a real Parquet file: the fake's stand-in for a converted day PAR1"
# The run window (dataprep.queries.window_statement): Parquet partitioned by `part`; window.sql's parts compare the
# first partition of an interaction with import_since, then changes_since.
_WINDOW_PARTITIONED = re.compile(rf"partitioned_by\s*=\s*ARRAY\['{WINDOW_PART}'\]", re.IGNORECASE)
_FIRST_SEEN_SINCE = re.compile(r"\bfirst_dt\s*>=\s*'([0-9-]{10})'")

DEFAULT_COUNTS = {
    "interactions": 250_000,
    "users": 12_000,
    "users_with_2_interactions": 9_000,
    "items": 5_000,
    "interacted_items": 4_200,
    "country_users": 15_000,
    "changed_users": 1_500,
    "new_interactions": 8_000,
    "duplicates_removed": 12,
    "dropped_missing_ids": 3,
    "dropped_unparsable_timestamp": 2,
    "dropped_unknown_country": 1,
    "items_dropped_unparsable_timestamp": 0,
    "items_with_unmapped_genre": 4,
}
# quality.sql's rows: one per raw table, all lines read (a test appends 'file' rows to script a bad file).
QUALITY_COLUMNS = (
    "row_kind", "source_table", "file", "files", "lines", "rows_read", "malformed_lines", "kept", "kept_country",
    "dropped_invalid_utf8", "dropped_control_character", "dropped_missing_ids", "dropped_unknown_country",
    "dropped_unparsable_timestamp", "dropped_duplicate", "unknown_item", "dropped_malformed_csv", "not_fully_read",
)  # fmt: skip
DEFAULT_QUALITY_ROWS = [
    {"row_kind": "table", "source_table": table, "file": None, "files": 30, "lines": lines, "rows_read": lines,
     "malformed_lines": 0, "kept": lines, "kept_country": lines // 2, "dropped_invalid_utf8": 0,
     "dropped_control_character": 0, "dropped_missing_ids": 0,
     "dropped_unknown_country": 0, "dropped_unparsable_timestamp": 0, "dropped_duplicate": 0, "unknown_item": 0,
     "dropped_malformed_csv": 0, "not_fully_read": 0}
    for table, lines in (("contents", 5_000), ("purchases", 40_000), ("users", 15_000), ("views", 260_000))
]  # fmt: skip


# report_inputs (the statement and every object it reads) -> what report_unload wrote: each costs ~0.3 s of DuckDB
# and sqlglot, and the pipeline tests run the same report over the same fake data many times.
_REPORT_RESULTS: dict[tuple[Any, ...], bytes] = {}


def _report_unload_once(s3: Any, sql: str, prepared_bucket: str) -> bytes:
    """report_unload, computed once per statement and input (testkit/fakes/report_sql.report_inputs)."""
    key = report_inputs(sql, prepared_bucket)
    if key not in _REPORT_RESULTS:
        _REPORT_RESULTS[key] = report_unload(s3, sql, prepared_bucket)
    return _REPORT_RESULTS[key]


@dataclass
class _Query:
    query_id: str
    sql: str
    started: float
    fail_reason: str | None
    target: str | None
    written: bool = False
    token: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    quality_rows: list[dict[str, Any]] = field(default_factory=list)


def _lines(output: str, now: float) -> bytes:
    """A few rows per output: 6 users x 8 items over the 20 days before the query's day (enough for the report to
    rank). Timestamps count from the start of that UTC day, not from the query's second, so the prepare queries of
    any run on that day write the same bytes and the report over them is computed once (_report_unload_once)."""
    day = 86_400
    now = now // day * day
    if output.startswith("interactions"):
        rows = [
            f"u{u},i{(u * 3 + k) % 8},{int(now) - (20 - k) * day},{EventKind.VIEW},1.0"
            for u in range(6)
            for k in range(u + 2)
        ]
    elif output == "users":
        rows = [f"u{u},ko_KR,25-34,none,basic" for u in range(6)]
    elif output == "items":
        rows = [f"i{i},drama,{int(now) - i * 5 * day},Title {i}" for i in range(8)]
    elif output in ("changed_users", "all_users"):
        rows = [f'{{"userId":"u{u}"}}' for u in range(6)]
    elif output == "cold_start":
        # two segments with their own lists, one small segment given the country's list, the country's line
        country = '"itemIds":["i1","i2","i3"],"locale":"*","ageGroup":"*","gender":"*","source":"country"'
        rows = [
            '{"locale":"ko_KR","ageGroup":"25-34","gender":"f","source":"segment","itemIds":["i2","i4"],"coldUsers":3}',
            '{"locale":"ko_KR","ageGroup":"35-44","gender":"m","source":"segment","itemIds":["i5","i1"],"coldUsers":2}',
            '{"locale":"ko_KR","ageGroup":"55+","gender":"f","source":"country","itemIds":["i1","i2","i3"],'
            '"coldUsers":1}',
            "{" + country + ',"coldUsers":0}',
        ]
    elif output == "ranking_input":
        rows = [f'{{"userId":"u{u}","itemList":["i1","i2"]}}' for u in range(6)]
    else:
        rows = [f'{{"itemId":"i{i}"}}' for i in range(8)]
    return ("\n".join(rows) + "\n").encode()


# run_window's Parquet file per part, by (the interactions lines, import_since, changes_since): the same run's window
# is written as the same bytes, so the report over it is computed once (_report_unload_once) across executions.
_WINDOW_FILES: dict[tuple[bytes, str, str], dict[Part, bytes]] = {}
_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT"}


def _window_files(sql: str, now: float) -> dict[Part, bytes]:
    """The run window's Parquet file per part (columns WINDOW_COLUMNS; `part` only in the folder name, where the
    run_window table's projection reads it): the interactions _lines writes for the same run, each once, in the
    part its first day falls in (new from import_since, changed from changes_since, else old)."""
    since = _FIRST_SEEN_SINCE.findall(sql)
    if len(since) != 2:
        raise ValueError(f"not a run window statement (no first_dt >= import_since, changes_since): {sql[:200]}")
    import_since, changes_since = since
    lines = _lines(Output.INTERACTIONS, now)
    key = (lines, import_since, changes_since)
    if key not in _WINDOW_FILES:
        parts: dict[Part, list[tuple[Any, ...]]] = {}
        for line in lines.decode().splitlines():
            user, item, ts, event_type, value = line.split(",")
            first_dt = datetime.fromtimestamp(int(ts), UTC).date().isoformat()
            part = Part.NEW if first_dt >= import_since else Part.CHANGED if first_dt >= changes_since else Part.OLD
            # window.sql's per-interaction row: one copy, the file of that copy, no per-file or per-day columns.
            row = (user, item, int(ts), event_type, int(float(value)), first_dt, 1, f"views-{first_dt}.csv")
            parts.setdefault(part, []).append(row + (None,) * (len(WINDOW_COLUMNS) - len(row)))
        _WINDOW_FILES[key] = {part: _parquet(rows) for part, rows in parts.items()}
    return _WINDOW_FILES[key]


def _parquet(rows: list[tuple[Any, ...]]) -> bytes:
    """`rows` (in WINDOW_COLUMNS order) as one Parquet file with run_window's column types, written by DuckDB."""
    columns = ", ".join(f'"{c}" {_DUCKDB_TYPES[t]}' for c, t in WINDOW_COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.parquet"
        con = duckdb.connect()
        try:
            con.execute(f"CREATE TABLE window_part ({columns})")
            con.executemany(f"INSERT INTO window_part VALUES ({', '.join('?' * len(WINDOW_COLUMNS))})", rows)
            con.execute(f"COPY window_part TO '{path}' (FORMAT parquet)")
        finally:
            con.close()
        return path.read_bytes()


class FakeAthena:
    def __init__(self, clock: SimClock, s3: Any, *, query_seconds: float = 90) -> None:
        self.clock = clock
        self.s3 = s3
        self.query_seconds = query_seconds
        self.counts = dict(DEFAULT_COUNTS)
        # Optional: counts computed from the statement itself (e.g. from the increment boundary it was rendered
        # with), over the scripted ones.
        self.counts_for: Callable[[str], dict[str, int]] | None = None
        self.quality_rows = [dict(row) for row in DEFAULT_QUALITY_ROWS]
        # The columnar days' event rows the online outcome reads (views_parsed / purchases_parsed, by column name):
        # the fake's conversions write placeholder Parquet, so a test of the online outcome gives them here.
        self.parsed_events: dict[str, list[dict[str, Any]]] = {table: [] for table in EVENT_TABLES}
        # Statistics.DataScannedInBytes of every finished query (the bytes Athena bills).
        self.scanned_bytes_per_query = SCANNED_BYTES_PER_QUERY
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._queries: dict[str, _Query] = {}
        self._by_token: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._failures: list[tuple[str, str]] = []

    def fail_next(self, output_contains: str, reason: str) -> None:
        """The next query whose SQL mentions `output_contains` (e.g. '/users/') ends FAILED with `reason`."""
        self._failures.append((output_contains, reason))

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        self.calls.append((operation, params))
        request_checks.check_request("athena", operation, params)

    def start_query_execution(self, **params: Any) -> dict[str, Any]:
        self._check("StartQueryExecution", params)
        token = params.get("ClientRequestToken")
        if token and token in self._by_token:  # Athena's idempotency: same token, same query
            return {"QueryExecutionId": self._by_token[token]}
        sql = params["QueryString"]
        reason = None
        for index, (needle, why) in enumerate(self._failures):
            if needle in sql:
                reason = why
                del self._failures[index]
                break
        target = _UNLOAD_TARGET.search(sql)
        query = _Query(
            query_id=f"q-{next(self._ids):05d}",
            sql=sql,
            started=self.clock.time(),
            fail_reason=reason,
            target=target.group(1) if target else None,
            token=token,
            counts={**self.counts, **(self.counts_for(sql) if self.counts_for else {})},
            quality_rows=[dict(row) for row in self.quality_rows],
        )
        self._queries[query.query_id] = query
        if token:
            self._by_token[token] = query.query_id
        return {"QueryExecutionId": query.query_id}

    def _query(self, query_id: str, operation: str) -> _Query:
        if query_id not in self._queries:
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidRequestException",
                        "Message": f"QueryExecution {query_id} not found",
                    }
                },
                operation,
            )
        return self._queries[query_id]

    def _state(self, query: _Query) -> str:
        if self.clock.time() - query.started < self.query_seconds:
            return "RUNNING"
        if query.fail_reason:
            return "FAILED"
        if query.target and not query.written:
            bucket, _, prefix = query.target.removeprefix("s3://").partition("/")
            output = prefix.rstrip("/").rsplit("/", 1)[-1]
            # One part file, as an UNLOAD of a small result writes, with lines shaped like that output's; the
            # report's queries really run, on DuckDB over what the prepare UNLOADs wrote (testkit/fakes/report_sql.py).
            if _WINDOW_PARTITIONED.search(query.sql):
                # One Parquet file per part, in the part folders UNLOAD's partitioned_by writes.
                for part, body in _window_files(query.sql, query.started).items():
                    key = f"{prefix.rstrip('/')}/{WINDOW_PART}={part}/part-00000.parquet"
                    self.s3.put_object(Bucket=bucket, Key=key, Body=body)
                query.written = True
                return "SUCCEEDED"
            if _DAY_PARTITIONED.search(query.sql):
                # One part per converted day, in the day folders UNLOAD's partitioned_by writes.
                days = sorted({d for m in _DAYS.finditer(query.sql) for d in re.findall(r"'([0-9-]{10})'", m[1])})
                for day in days:
                    key = f"{prefix.rstrip('/')}/dt={day}/part-00000.parquet"
                    self.s3.put_object(Bucket=bucket, Key=key, Body=_PARQUET_PART)
                query.written = True
                return "SUCCEEDED"
            if output in REPORT_OUTPUTS:
                body = _report_unload_once(self.s3, query.sql, bucket)
            elif output == ONLINE_OUTPUT:
                # The exposure log lives in the results bucket beside the report (stacks.names.bucket_name).
                results = bucket.replace("-prepared-", "-results-", 1)
                body = online_unload(self.s3, query.sql, results, self.parsed_events)
            elif f"/{CURATION_FOLDER}/" in f"/{prefix}":
                # The served curation (results/<cc>/<date>/curation/...) runs like the report's queries, over the
                # same run's prepared parts (bucket names: stacks.names.bucket_name).
                body = _report_unload_once(self.s3, query.sql, bucket.replace("-results-", "-prepared-", 1))
            else:
                body = _lines(output, query.started)
            self.s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/part-00000", Body=body)
            query.written = True
        return "SUCCEEDED"

    def get_query_execution(self, **params: Any) -> dict[str, Any]:
        self._check("GetQueryExecution", params)
        query = self._query(params["QueryExecutionId"], "GetQueryExecution")
        state = self._state(query)
        status: dict[str, Any] = {"State": state}
        if state == "FAILED":
            status["StateChangeReason"] = query.fail_reason
        execution = {"QueryExecutionId": query.query_id, "Query": query.sql, "Status": status}
        if state == "SUCCEEDED":
            execution["Statistics"] = {"DataScannedInBytes": self.scanned_bytes_per_query}
        return {"QueryExecution": execution}

    def get_query_results(self, **params: Any) -> dict[str, Any]:
        self._check("GetQueryResults", params)
        query = self._query(params["QueryExecutionId"], "GetQueryResults")
        if self._state(query) != "SUCCEEDED":
            raise ClientError(
                {"Error": {"Code": "InvalidRequestException", "Message": "not finished"}}, "GetQueryResults"
            )
        if "quality.sql" in query.sql:  # the data-quality SELECT (its header comment names the file)
            header = {"Data": [{"VarCharValue": name} for name in QUALITY_COLUMNS]}
            rows = [
                {"Data": [{} if row.get(n) is None else {"VarCharValue": str(row[n])} for n in QUALITY_COLUMNS]}
                for row in query.quality_rows
            ]
            return {"ResultSet": {"Rows": [header, *rows]}}
        names = list(query.counts)
        return {
            "ResultSet": {
                "Rows": [
                    {"Data": [{"VarCharValue": name} for name in names]},
                    {"Data": [{"VarCharValue": str(query.counts[name])} for name in names]},
                ]
            }
        }

    def started_queries(self) -> int:
        return sum(1 for operation, _ in self.calls if operation == "StartQueryExecution")
