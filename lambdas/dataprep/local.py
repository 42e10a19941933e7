"""Run the Athena preparation SQL locally on DuckDB.

    python -m dataprep.local --raw DIR --out DIR --country CC --run-date YYYY-MM-DD
        [--window-days N] [--previous-run-date YYYY-MM-DD] [--imported-before YYYY-MM-DD]
        [--recipes R [R ...]] [--ranking-candidates N]

The raw folders (`<table>/dt=YYYY-MM-DD/*.csv`, docs/data-layout.md) become DuckDB tables of the same
names as the Glue tables, and every output runs the SAME statement the pipeline sends to Athena (the line
SELECT inside its UNLOAD), translated by sqlglot from the Athena dialect to DuckDB. Writes
interactions.csv, interactions_incremental.csv, users.csv, items.csv (header + schema order, UTF-8),
changed_users.jsonl, all_users.jsonl, items_batch.jsonl, ranking_input.jsonl and counts.json to OUT.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import sqlglot
from pydantic import ValidationError

from dataprep.counts import Counts
from dataprep.quality import (
    DEFAULT_MAX_DROPPED_SHARE,
    DROP_REASONS,
    DataQuality,
    QualityThresholds,
    assess,
)
from dataprep.queries import (
    CSV_OUTPUTS,
    DEFAULT_COLD_START_MIN_USERS,
    DEFAULT_RANKING_CANDIDATES,
    DEFAULT_RECIPES,
    DEFAULT_WINDOW_DAYS,
    GENRE_MAPPING_COLUMNS,
    GENRE_MAPPING_CSV,
    GENRE_MAPPING_TABLE,
    JSONL_OUTPUTS,
    LINE_COLUMN,
    RAW_TABLES,
    Output,
    PrepareParams,
    csv_header_line,
    line_select,
    lines_table,
    render,
)

SOURCE_DIALECT = "athena"
# The checkout this module lives in (lambdas/dataprep/local.py): local runs never write into it.
REPOSITORY = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=512)
def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL -> DuckDB SQL, by sqlglot's parser and generator, never by string edits.

    Kept per statement text: translating one prepare statement takes ~10 ms (sqlglotc's compiled parser;
    ~25 ms in pure Python), and the local runner (and the report's fake Athena) run the same rendered
    statements again for each country, attempt and report."""
    statements = sqlglot.transpile(
        sql, read=SOURCE_DIALECT, write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    if len(statements) != 1:
        raise ValueError(f"expected one statement, got {len(statements)}")
    return statements[0]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_raw_tables(con: duckdb.DuckDBPyConnection, raw_dir: Path, genre_mapping: Path) -> None:
    """One table per raw export, columns by position like Athena's OpenCSVSerDe (header skipped), plus its
    `<table>_lines` twin (each physical line as one string). Both carry the file name as "$path", the
    column Athena's tables have as a pseudo-column, so quality.sql runs unchanged."""
    for table, columns in RAW_TABLES.items():
        files = sorted((raw_dir / table).glob("dt=*/*.csv"))
        lines = lines_table(table)
        if not files:
            # A country or table with no export yet is data below the minimum, not an error.
            column_list = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in (*columns, "dt", "$path"))
            con.execute(f'CREATE TABLE "{table}" AS SELECT {column_list} WHERE false')
            con.execute(
                f'CREATE TABLE "{lines}" AS SELECT CAST(NULL AS VARCHAR) AS "{LINE_COLUMN}", '
                'CAST(NULL AS VARCHAR) AS dt, CAST(NULL AS VARCHAR) AS "$path" WHERE false'
            )
            continue
        glob = _sql_text(str(raw_dir / table / "dt=*" / "*.csv"))
        column_types = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in columns) + "}"
        # ignore_errors: a line the reader cannot parse is skipped instead of stopping the run; quality.sql
        # compares the rows with the physical lines per file, so the loss is counted and named either way.
        con.execute(
            f"""
            CREATE TABLE "{table}" AS
            SELECT {", ".join(f'"{c}"' for c in columns)}, dt, filename AS "$path"
            FROM read_csv(
                {glob},
                auto_detect = false, header = true, delim = ',', columns = {column_types},
                hive_partitioning = true, filename = true,
                hive_types = {{'dt': 'VARCHAR'}}, quote = '"', escape = '"',
                ignore_errors = true
            )
            """
        )
        # No quote character and a delimiter the exports never contain: every physical line is one value.
        con.execute(
            f"""
            CREATE TABLE "{lines}" AS
            SELECT "{LINE_COLUMN}", dt, filename AS "$path"
            FROM read_csv(
                {glob},
                auto_detect = false, header = true, delim = '\x01', quote = '', escape = '',
                columns = {{{_sql_text(LINE_COLUMN)}: 'VARCHAR'}},
                hive_partitioning = true, filename = true, hive_types = {{'dt': 'VARCHAR'}}
            )
            """
        )
    mapping_types = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in GENRE_MAPPING_COLUMNS) + "}"
    con.execute(
        f"""
        CREATE TABLE {GENRE_MAPPING_TABLE} AS
        SELECT * FROM read_csv(
            {_sql_text(str(genre_mapping))},
            auto_detect = false, header = true, delim = ',', columns = {mapping_types}
        )
        """
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(to_duckdb(sql))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _write_lines(con: duckdb.DuckDBPyConnection, sql: str, target: Path, header: str | None) -> None:
    """Write the `line` column verbatim, one per line, after the optional header."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        part = Path(tmp) / "part.txt"
        # A one-column CSV without quoting or header is the lines themselves; the delimiter is a byte the
        # lines never contain.
        con.execute(
            f"COPY ({sql}) TO {_sql_text(str(part))} "
            "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x1f')"
        )
        with target.open("wb") as out:
            if header is not None:
                out.write(header.encode("utf-8") + b"\n")
            with part.open("rb") as lines:
                shutil.copyfileobj(lines, out, length=1 << 20)


class RawDataError(ValueError):
    """Raw data or arguments that cannot give a meaningful run; `variable` names the make variable to fix."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {message}")


def check_raw_layout(raw_dir: Path) -> None:
    """RAW must be the export root (`<table>/dt=YYYY-MM-DD/*.csv`), not a table's folder nor its parent."""
    if not raw_dir.is_dir():
        raise RawDataError("RAW", f"{str(raw_dir)!r} is not a folder")
    if any(any((raw_dir / table).glob("dt=*/*.csv")) for table in RAW_TABLES):
        return
    if any(raw_dir.glob("*.csv")) or any(raw_dir.glob("dt=*/*.csv")):
        root = raw_dir.parent.parent if any(raw_dir.glob("*.csv")) else raw_dir.parent
        raise RawDataError(
            "RAW", f"{raw_dir} is inside one table's folder; use the export root RAW={root} ({', '.join(RAW_TABLES)})"
        )
    nested = sorted(
        child
        for child in raw_dir.iterdir()
        if child.is_dir() and any(any((child / table).glob("dt=*/*.csv")) for table in RAW_TABLES)
    )
    if nested:
        raise RawDataError("RAW", f"{raw_dir} holds the exports one level down; use RAW={nested[0]}")
    raise RawDataError(
        "RAW", f"{raw_dir} holds no raw exports (expected <table>/dt=YYYY-MM-DD/*.csv for {', '.join(RAW_TABLES)})"
    )


def _check_country_has_data(con: duckdb.DuckDBPyConnection, params: PrepareParams, counts: Counts) -> None:
    """An unknown country or a country without interactions in the window is a wrong argument, not a run."""
    if counts.country_users == 0:
        # Local-only diagnostics, same locale rule as _base.sql (latest_users).
        found = [
            row[0]
            for row in con.execute(
                """SELECT DISTINCT upper(substr(locale, -2)) FROM (
                    SELECT arg_max(TRIM(locale), dt) AS locale FROM users WHERE dt < ? GROUP BY TRIM(user_id)
                ) WHERE regexp_full_match(locale, '[A-Za-z]{2,3}[_-][A-Za-z]{2}') ORDER BY 1""",
                [params.run_date.isoformat()],
            ).fetchall()
        ]
        raise RawDataError(
            "COUNTRY",
            f"no user in RAW has a locale of {params.country} before {params.run_date} "
            f"(countries found: {', '.join(found) or 'none'})",
        )
    if counts.interactions == 0:
        raise RawDataError(
            "RUN_DATE",
            f"RAW has no purchases or views of {params.country} in the window "
            f"[{params.window_start}, {params.run_date}) (dt partitions; is RUN_DATE right?)",
        )


def _report(params: PrepareParams, counts: Counts, quality: DataQuality) -> dict[str, Any]:
    ok, reason = counts.meets_minimum()
    return {
        "country": params.country,
        "run_date": params.run_date.isoformat(),
        "window_start": params.window_start.isoformat(),
        "changes_since": params.changes_since.isoformat(),
        "import_since": params.import_since.isoformat(),
        "recipes": list(params.recipes),
        "ranking_candidates": params.ranking_candidates,
        "counts": counts.model_dump(),
        "meets_minimum": ok,
        "reason": reason,
        "data_quality": quality.model_dump(),
    }


def prepare_with_quality(
    raw_dir: str | Path,
    out_dir: str | Path,
    country: str,
    run_date: date | str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    previous_run_date: date | str | None = None,
    recipes: tuple[str, ...] | list[str] = DEFAULT_RECIPES,
    ranking_candidates: int = DEFAULT_RANKING_CANDIDATES,
    *,
    imported_before: date | str | None = None,
    cold_start_min_users: int = DEFAULT_COLD_START_MIN_USERS,
    genre_mapping: str | Path = GENRE_MAPPING_CSV,
    threads: int | None = None,
    thresholds: QualityThresholds | None = None,
    require_country_data: bool = False,
) -> tuple[Counts, DataQuality]:
    """Prepare one country and run date from a local raw export: the outputs and counts.json in out_dir.

    The data quality's `problems` list the broken thresholds (never raised here: see `quality.check`).
    With require_country_data, an unknown country or an empty window raises RawDataError before any output.
    """
    params = PrepareParams(
        country=country,
        run_date=run_date,
        window_days=window_days,
        previous_run_date=previous_run_date,
        imported_before=imported_before,
        recipes=tuple(recipes),
        ranking_candidates=ranking_candidates,
        cold_start_min_users=cold_start_min_users,
    )
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw directory {raw_dir} does not exist")

    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        _load_raw_tables(con, raw_dir, Path(genre_mapping))
        quality = DataQuality.from_rows(_rows(con, render(Output.QUALITY, params)))
        row = _rows(con, render(Output.COUNTS, params))[0]
        row["malformed_csv_rows"] = quality.malformed_lines
        counts = Counts.from_row(row)
        if require_country_data:
            _check_country_has_data(con, params, counts)
        out_dir.mkdir(parents=True, exist_ok=True)
        for output, spec in CSV_OUTPUTS.items():
            sql = to_duckdb(line_select(output, params))
            _write_lines(con, sql, out_dir / spec.file_name, csv_header_line(output, params.recipes))
        for output, jsonl_spec in JSONL_OUTPUTS.items():
            _write_lines(con, to_duckdb(line_select(output, params)), out_dir / jsonl_spec.file_name, None)
    finally:
        con.close()

    last_day = (params.run_date - timedelta(days=1)).isoformat()
    quality = assess(quality, counts, thresholds or QualityThresholds(), params.country, last_day)
    report = _report(params, counts, quality)
    (out_dir / "counts.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return counts, quality


def prepare(*args: Any, **kwargs: Any) -> Counts:
    """`prepare_with_quality` returning only the counts (also in counts.json, with the data quality)."""
    return prepare_with_quality(*args, **kwargs)[0]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line (no usage block) and exit code 2, like any bad-argument error of this tool.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


# The make variables of `make prepare` behind the flags, so an error names what the user typed.
MAKE_VARIABLES = {"raw": "RAW", "out": "OUT", "country": "COUNTRY", "run_date": "RUN_DATE", "recipes": "RECIPES"}
_MESSAGES = {"country": "expected an ISO 3166 alpha-2 code in upper case, e.g. KR"}


def _one_line(error: ValidationError, args: argparse.Namespace) -> str:
    parts = []
    for e in error.errors(include_url=False):
        field = str(e["loc"][0]) if e["loc"] else ""
        flag = "--" + field.replace("_", "-")
        if field in MAKE_VARIABLES:
            value = getattr(args, field, None)
            shown = ",".join(value) if isinstance(value, list) else value
            name = f"{MAKE_VARIABLES[field]}={shown} ({flag})"
        else:
            name = flag if field else "arguments"
        message = _MESSAGES.get(field, e["msg"].removeprefix("Value error, "))
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


def _inside_repository(path: Path) -> bool:
    return path.resolve().is_relative_to(REPOSITORY)


def _summary(args: argparse.Namespace, counts: Counts, quality: DataQuality) -> str:
    ok, reason = counts.meets_minimum()
    events = [quality.tables[t] for t in ("purchases", "views") if t in quality.tables]
    read = sum(t.lines for t in events)
    reasons = {r: sum(t.dropped.get(r, 0) for t in events) for r in DROP_REASONS}
    dropped = sum(reasons.values())
    detail = ", ".join(f"{r} {n}" for r, n in reasons.items() if n)
    summary = f"{args.country} {args.run_date}: {counts.interactions} interactions, {counts.users} users, "
    summary += f"{counts.items} items; {dropped} of {read} event rows dropped (all countries)"
    summary += f" ({detail})" if detail else ""
    if quality.files_not_fully_read:
        summary += f", {quality.files_not_fully_read} files not fully read"
    return summary + f" -> {args.out}" + ("" if ok else f" (below minimum: {reason})")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="dataprep.local", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="raw export root: <table>/dt=YYYY-MM-DD/*.csv")
    parser.add_argument("--out", required=True, help="output directory (outside the repository)")
    parser.add_argument("--country", required=True, help="ISO country code, e.g. KR")
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD; the window ends the day before")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument("--previous-run-date", default=None, help="YYYY-MM-DD of the last successful run")
    parser.add_argument(
        "--imported-before",
        default=None,
        help="YYYY-MM-DD run date of the last interactions import that ran (default: the previous run date)",
    )
    parser.add_argument(
        "--recipes", nargs="+", default=list(DEFAULT_RECIPES), help="recipe names, space or comma separated"
    )
    parser.add_argument(
        "--ranking-candidates",
        type=int,
        default=DEFAULT_RANKING_CANDIDATES,
        help="newest items per personalized-ranking batch line",
    )
    parser.add_argument(
        "--max-dropped-share",
        type=float,
        default=DEFAULT_MAX_DROPPED_SHARE,
        help="largest share of a table's rows that may be dropped (config data.quality.max_dropped_share)",
    )
    parser.add_argument(
        "--quality-check",
        choices=("fail", "warn"),
        default="fail",
        help="fail (exit 1, default) or only warn when the data breaks a quality threshold",
    )
    args = parser.parse_args(argv)
    args.recipes = [r for value in args.recipes for r in value.replace(",", " ").split()]
    if not args.out.strip():
        parser.error("OUT is required (--out): a folder outside the repository")
    if _inside_repository(Path(args.out)):
        parser.error(f"OUT={args.out} (--out) is inside the repository {REPOSITORY}; choose a folder outside it")
    try:
        params = PrepareParams(
            country=args.country,
            run_date=args.run_date,
            window_days=args.window_days,
            previous_run_date=args.previous_run_date,
            imported_before=args.imported_before,
            recipes=args.recipes,
            ranking_candidates=args.ranking_candidates,
        )
        thresholds = QualityThresholds(max_dropped_share=args.max_dropped_share)
    except ValidationError as error:
        parser.error(_one_line(error, args))
    today = date.today()
    if params.run_date > today:
        parser.error(f"RUN_DATE={args.run_date} (--run-date) is in the future (today is {today})")
    try:
        check_raw_layout(Path(args.raw))
        counts, quality = prepare_with_quality(
            args.raw,
            args.out,
            params.country,
            params.run_date,
            window_days=params.window_days,
            previous_run_date=params.previous_run_date,
            imported_before=params.imported_before,
            recipes=params.recipes,
            ranking_candidates=params.ranking_candidates,
            thresholds=thresholds,
            require_country_data=True,
        )
    except RawDataError as error:
        shown = {"RAW": args.raw, "COUNTRY": args.country, "RUN_DATE": args.run_date}.get(error.variable)
        parser.error(str(error).replace(f"{error.variable}:", f"{error.variable}={shown}:", 1) if shown else str(error))
    print(_summary(args, counts, quality))
    if quality.problems:
        # The same line the pipeline's Prepare step fails with (dataprep.quality.check).
        more = f" (+{len(quality.problems) - 1} more: see counts.json data_quality.problems)"
        line = quality.problems[0] + (more if len(quality.problems) > 1 else "")
        print(line, file=sys.stderr)
        return 1 if args.quality_check == "fail" else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
