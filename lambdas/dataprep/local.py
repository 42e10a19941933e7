"""Run the Athena preparation SQL locally on DuckDB.

    python -m dataprep.local --raw DIR --out DIR --country CC --run-date YYYY-MM-DD
        [--window-days N] [--previous-run-date YYYY-MM-DD] [--recipes R [R ...]] [--ranking-candidates N]

The raw folders (`<table>/dt=YYYY-MM-DD/*.csv`, docs/data-layout.md) become DuckDB tables of the same
names as the Glue tables, and every output runs the SAME statement the pipeline sends to Athena (the line
SELECT inside its UNLOAD), translated by sqlglot from the Athena dialect to DuckDB. Writes
interactions.csv, interactions_incremental.csv, users.csv, items.csv (header + schema order, UTF-8),
changed_users.jsonl, all_users.jsonl, items_batch.jsonl, ranking_input.jsonl and counts.json to OUT.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import sqlglot
from pydantic import ValidationError

from dataprep.counts import Counts
from dataprep.queries import (
    CSV_OUTPUTS,
    DEFAULT_RANKING_CANDIDATES,
    DEFAULT_RECIPES,
    DEFAULT_WINDOW_DAYS,
    GENRE_MAPPING_COLUMNS,
    GENRE_MAPPING_CSV,
    GENRE_MAPPING_TABLE,
    JSONL_OUTPUTS,
    RAW_TABLES,
    Output,
    PrepareParams,
    csv_header_line,
    line_select,
    render,
)

SOURCE_DIALECT = "athena"


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL -> DuckDB SQL, by sqlglot's parser and generator, never by string edits."""
    statements = sqlglot.transpile(
        sql, read=SOURCE_DIALECT, write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    if len(statements) != 1:
        raise ValueError(f"expected one statement, got {len(statements)}")
    return statements[0]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_raw_tables(con: duckdb.DuckDBPyConnection, raw_dir: Path, genre_mapping: Path) -> None:
    """One table per raw export, columns by position like Athena's OpenCSVSerDe (header skipped)."""
    for table, columns in RAW_TABLES.items():
        files = sorted((raw_dir / table).glob("dt=*/*.csv"))
        if not files:
            # A country or table with no export yet is data below the minimum, not an error.
            column_list = ", ".join(f'CAST(NULL AS VARCHAR) AS "{c}"' for c in (*columns, "dt"))
            con.execute(f'CREATE TABLE "{table}" AS SELECT {column_list} WHERE false')
            continue
        column_types = "{" + ", ".join(f"{_sql_text(c)}: 'VARCHAR'" for c in columns) + "}"
        # ignore_errors + store_rejects: a line with too few or too many fields is counted instead of
        # stopping the run (Athena's SerDe would pad or cut it; it never turns into a silent interaction).
        con.execute(
            f"""
            CREATE TABLE "{table}" AS
            SELECT {", ".join(f'"{c}"' for c in columns)}, dt
            FROM read_csv(
                {_sql_text(str(raw_dir / table / "dt=*" / "*.csv"))},
                auto_detect = false, header = true, delim = ',', columns = {column_types},
                hive_partitioning = true,
                hive_types = {{'dt': 'VARCHAR'}}, quote = '"', escape = '"',
                ignore_errors = true, store_rejects = true,
                rejects_table = {_sql_text("rejects_" + table)}, rejects_scan = {_sql_text("scans_" + table)}
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


def _rejected_rows(con: duckdb.DuckDBPyConnection) -> int:
    total = 0
    for table in RAW_TABLES:
        try:
            total += con.execute(f"SELECT count(DISTINCT (file_id, line)) FROM rejects_{table}").fetchone()[0]
        except duckdb.CatalogException:
            pass  # no files were read for this table
    return total


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


def prepare(
    raw_dir: str | Path,
    out_dir: str | Path,
    country: str,
    run_date: date | str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    previous_run_date: date | str | None = None,
    recipes: tuple[str, ...] | list[str] = DEFAULT_RECIPES,
    ranking_candidates: int = DEFAULT_RANKING_CANDIDATES,
    *,
    genre_mapping: str | Path = GENRE_MAPPING_CSV,
    threads: int | None = None,
) -> Counts:
    """Prepare one country and run date from a local raw export; returns the counts (also in counts.json)."""
    params = PrepareParams(
        country=country,
        run_date=run_date,
        window_days=window_days,
        previous_run_date=previous_run_date,
        recipes=tuple(recipes),
        ranking_candidates=ranking_candidates,
    )
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw directory {raw_dir} does not exist")
    out_dir.mkdir(parents=True, exist_ok=True)

    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        _load_raw_tables(con, raw_dir, Path(genre_mapping))
        for output, spec in CSV_OUTPUTS.items():
            sql = to_duckdb(line_select(output, params))
            _write_lines(con, sql, out_dir / spec.file_name, csv_header_line(output, params.recipes))
        for output, spec in JSONL_OUTPUTS.items():
            _write_lines(con, to_duckdb(line_select(output, params)), out_dir / spec.file_name, None)
        cursor = con.execute(to_duckdb(render(Output.COUNTS, params)))
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
        row["malformed_csv_rows"] = _rejected_rows(con)
    finally:
        con.close()

    counts = Counts.from_row(row)
    ok, reason = counts.meets_minimum()
    report = {
        "country": params.country,
        "run_date": params.run_date.isoformat(),
        "window_start": params.window_start.isoformat(),
        "changes_since": params.changes_since.isoformat(),
        "recipes": list(params.recipes),
        "ranking_candidates": params.ranking_candidates,
        "counts": counts.model_dump(),
        "meets_minimum": ok,
        "reason": reason,
    }
    (out_dir / "counts.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return counts


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One clear line (no usage block) and exit code 2, like any bad-argument error of this tool.
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _one_line(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="dataprep.local", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="raw export root: <table>/dt=YYYY-MM-DD/*.csv")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--country", required=True, help="ISO country code, e.g. KR")
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD; the window ends the day before")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument("--previous-run-date", default=None, help="YYYY-MM-DD of the last successful run")
    parser.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES))
    parser.add_argument(
        "--ranking-candidates",
        type=int,
        default=DEFAULT_RANKING_CANDIDATES,
        help="newest items per personalized-ranking batch line",
    )
    args = parser.parse_args(argv)
    if not Path(args.raw).is_dir():
        parser.error(f"--raw {args.raw!r} is not a directory")
    try:
        counts = prepare(
            args.raw,
            args.out,
            args.country,
            args.run_date,
            window_days=args.window_days,
            previous_run_date=args.previous_run_date,
            recipes=args.recipes,
            ranking_candidates=args.ranking_candidates,
        )
    except ValidationError as error:
        parser.error(_one_line(error))
    ok, reason = counts.meets_minimum()
    summary = f"{args.country} {args.run_date}: {counts.interactions} interactions, {counts.users} users, "
    summary += f"{counts.items} items -> {args.out}" + ("" if ok else f" (below minimum: {reason})")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
