"""What the Prepare step's queries scan on Athena per run at the trial's size, from the columnar days and window.

One idea: the prepare half of the scan estimate. Each rendered statement the step starts is costed by what it
reads (bench.scan_model's rules: Parquet by the columns named, text tables whole, partition columns free):

- a daily run converts one new day per raw table: the conversion reads that day's CSV once for its rows and the
  day's lines and CSV again for the per-file counts (three reads of one day of raw CSV per table);
- the window statement reads the window's `<table>_parsed` days (the columns it names) and the users' days;
- each output reads `run_window` through `window_rows`, once per consumer of it (Trino inlines a CTE for every
  reference and pushes each consumer's `part` predicate into its scan), the rows of the parts that consumer keeps,
  plus the users / contents days and the per-file counts it names.

Bytes per row per column are measured on the bench's 10 M-row sample (bench.bench_prepare's data) after a local
preparation: the Parquet files of its columnar days and of its run window (ZSTD, as the UNLOADs write them). Rows
are scaled to the trial's size by one factor per kind of table: raw event rows from the trial's 20.5 GB of raw
CSV at the sample's CSV bytes per event row (the window's parts scale with them: the same exports, the same
country mix), users rows from the trial's 2.4 M users plus 1 % changed a day.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify

from bench.trial import (
    TRIAL_EVENTS_GB,
    TRIAL_USERS,
    TRIAL_WINDOW_DAYS,
    USER_CHANGES_PER_DAY,
    USERS_ROW_BYTES,
)
from dataprep import columnar
from dataprep.columnar import (
    DAY_PARTITION,
    FILES_COLUMNS,
    PARSED_COLUMNS,
    WINDOW_COLUMNS,
    WINDOW_PART,
    WINDOW_RUN_PARTITIONS,
    WINDOW_TABLE,
    Part,
    files_table,
    parsed_table,
)
from dataprep.local_columnar import CATALOG
from dataprep.queries import (
    EVENT_TABLES,
    GENRE_MAPPING_COLUMNS,
    GENRE_MAPPING_TABLE,
    RAW_TABLES,
    Output,
    PrepareParams,
    render,
    render_window,
)

GB = 1e9
WINDOW_CTE = "window_rows"


def _parquet_sizes(files: Iterable[Path]) -> tuple[int, dict[str, float]]:
    """Rows and compressed bytes per column of a set of Parquet files."""
    paths = [str(p) for p in files]
    if not paths:
        return 0, {}
    con = duckdb.connect()
    (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({paths!r})").fetchall()[0]
    sizes = con.execute(
        f"SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata({paths!r}) GROUP BY 1"
    ).fetchall()
    con.close()
    return int(rows), {str(c): float(s) for c, s in sizes}


class Measured:
    """Rows and column sizes of the sample's columnar days (the days its last run read) and run window."""

    def __init__(self, raw: Path, columnar_dir: Path, window_dir: Path, params: PrepareParams) -> None:
        catalog = json.loads((columnar_dir / CATALOG).read_text(encoding="utf-8"))
        self.tables: dict[str, tuple[int, dict[str, float]]] = {}
        for table in RAW_TABLES:
            for name in (parsed_table(table), files_table(table)):
                days = catalog.get(name, {})
                if table not in columnar.UPSERT_TABLES:  # the window's days only, like the statements
                    days = {
                        d: s for d, s in days.items() if params.window_start.isoformat() <= d < str(params.run_date)
                    }
                self.tables[name] = _parquet_sizes(
                    path
                    for day, state in days.items()
                    for path in (columnar_dir / name / state["conversion"] / f"dt={day}").glob("*.parquet")
                )
        self.parts = {part: _parquet_sizes((window_dir / f"part={part.value}").glob("*.parquet")) for part in Part}
        window_days = {
            d
            for d in catalog.get(parsed_table("views"), {})
            if params.window_start.isoformat() <= d < str(params.run_date)
        }
        event_csv = sum(
            p.stat().st_size for t in EVENT_TABLES for d in window_days for p in (raw / t / f"dt={d}").glob("*.csv")
        )
        self.sample_event_rows = sum(self.tables[parsed_table(t)][0] for t in EVENT_TABLES)
        self.csv_bytes_per_event_row = event_csv / self.sample_event_rows
        self.sample_users_rows = self.tables[parsed_table("users")][0]

    def bytes_per_row(self, sizes: tuple[int, dict[str, float]], columns: set[str]) -> float:
        rows, by_column = sizes
        return sum(by_column.get(c, 0.0) for c in columns) / rows if rows else 0.0


def _scopes_with_references(tree: exp.Expression) -> list[tuple[exp.Expression, int]]:
    """The statement's main SELECT and every CTE body it reaches, each with how many times it runs: Trino inlines
    a CTE at every reference (it never materialises one), so a CTE read by three consumers scans its tables three
    times, and one no path reaches never runs."""
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}
    main = tree.copy()
    for with_ in main.find_all(exp.With):
        with_.pop()

    def references(body: exp.Expression) -> list[str]:
        return [t.name for t in body.find_all(exp.Table) if t.name in ctes]

    runs: dict[str, int] = {}

    def visit(body: exp.Expression, times: int) -> None:
        for name in references(body):
            runs[name] = runs.get(name, 0) + times
            visit(ctes[name], times)

    visit(main, 1)
    return [(main, 1), *((ctes[name], times) for name, times in runs.items())]


def _parts_kept(select: exp.Expression) -> set[Part]:
    """The `part` values a consumer of window_rows keeps (its WHERE), every part when it names none."""
    where = select.args.get("where")
    if where is None:
        return set(Part)
    for node in where.find_all(exp.In, exp.EQ, exp.NEQ):
        column = node.this if isinstance(node, exp.In) else node.left
        if not (isinstance(column, exp.Column) and column.name == columnar.WINDOW_PART):
            continue
        if isinstance(node, exp.In):
            return {Part(e.name) for e in node.expressions}
        value = Part(node.right.name)
        return {value} if isinstance(node, exp.EQ) else set(Part) - {value}
    return set(Part)


def _schema() -> dict[str, object]:
    """Every table the preparation's statements read, with its columns (partition columns included)."""
    schema: dict[str, object] = {
        WINDOW_TABLE: dict.fromkeys([*(c for c, _ in WINDOW_COLUMNS), *WINDOW_RUN_PARTITIONS, WINDOW_PART], "VARCHAR")
    }
    for table in RAW_TABLES:
        schema[parsed_table(table)] = dict.fromkeys([*(c for c, _ in PARSED_COLUMNS[table]), DAY_PARTITION], "VARCHAR")
        schema[files_table(table)] = dict.fromkeys([*(c for c, _ in FILES_COLUMNS), DAY_PARTITION], "VARCHAR")
    schema[GENRE_MAPPING_TABLE] = dict.fromkeys(GENRE_MAPPING_COLUMNS, "VARCHAR")
    return schema


def statement_gb(sql: str, measured: Measured, scale_events: float, scale_users: float) -> float:
    """GB one rendered SELECT scans. Columns as Trino reads them: every CTE's projection pruned to what its consumers
    use (sqlglot's pushdown_projections after qualify), each scan charged the columns its own SELECT names."""
    schema = _schema()
    tree = qualify(
        sqlglot.parse_one(sql, read="athena"), schema=schema, dialect="athena", validate_qualify_columns=False
    )
    tree = pushdown_projections(tree)
    assert isinstance(tree, exp.Expression)
    total = 0.0
    for scope, times in _scopes_with_references(tree):
        for table in scope.find_all(exp.Table):
            select = table.find_ancestor(exp.Select)
            if select is None:
                continue
            alias = table.alias_or_name
            named = {c.name for c in select.find_all(exp.Column) if c.table == alias}
            if table.name == WINDOW_CTE:
                for part in _parts_kept(select):
                    rows, _ = measured.parts[part]
                    total += times * rows * scale_events * measured.bytes_per_row(measured.parts[part], named)
                continue
            for raw_table in RAW_TABLES:
                for name in (parsed_table(raw_table), files_table(raw_table)):
                    if table.name != name:
                        continue
                    rows, _ = measured.tables[name]
                    # Per-file counts grow with the files (as many per day at any size), rows with the exports.
                    if name == files_table(raw_table):
                        scale = 1.0
                    else:
                        scale = scale_users if raw_table in columnar.UPSERT_TABLES else scale_events
                    total += times * rows * scale * measured.bytes_per_row(measured.tables[name], named)
    return total / GB


def prepare_scan_gb(raw: Path, columnar_dir: Path, window_dir: Path, params: PrepareParams) -> dict[str, float]:
    """The per-run figures of a run like the sample's last one (`params`): a daily run (one day converted) and the
    first run (the whole window converted)."""
    measured = Measured(raw, columnar_dir, window_dir, params)
    trial_event_rows = TRIAL_EVENTS_GB * GB / measured.csv_bytes_per_event_row
    scale_events = trial_event_rows / measured.sample_event_rows
    trial_users_rows = TRIAL_USERS * (1 + USER_CHANGES_PER_DAY * TRIAL_WINDOW_DAYS)
    scale_users = trial_users_rows / measured.sample_users_rows
    queries = sum(statement_gb(render(output, params), measured, scale_events, scale_users) for output in Output)
    window = statement_gb(render_window(params), measured, scale_events, scale_users)
    # Converting one day: its CSV for the rows, its lines and CSV again for the per-file counts.
    day_csv = TRIAL_EVENTS_GB / TRIAL_WINDOW_DAYS + TRIAL_USERS * USER_CHANGES_PER_DAY * USERS_ROW_BYTES / GB
    whole_csv = TRIAL_EVENTS_GB + TRIAL_USERS * USERS_ROW_BYTES / GB
    return {
        "prepare_athena_scan_gb_per_run": 3 * day_csv + window + queries,
        "prepare_athena_scan_gb_window": window,
        "prepare_athena_scan_gb_outputs": queries,
        "prepare_athena_scan_gb_first_run": 3 * whole_csv + window + queries,
    }
