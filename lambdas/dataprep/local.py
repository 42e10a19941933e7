"""Run the Athena preparation SQL locally on DuckDB.

    python -m dataprep.local --raw DIR --out DIR --country CC --run-date YYYY-MM-DD [--columnar DIR]
        [--window-days N] [--previous-run-date YYYY-MM-DD] [--imported-before YYYY-MM-DD]
        [--recipes R [R ...]] [--ranking-candidates N]

Every statement is the SAME one the pipeline sends to Athena, translated by sqlglot to DuckDB: the raw days
(`<table>/dt=YYYY-MM-DD/*.csv`, docs/data-layout.md) not converted yet are parsed into the columnar days
(dataprep.local_columnar, kept in --columnar, default OUT/.columnar), the run window is written once to
OUT/window/ (Parquet), and every output's line SELECT reads it. Writes interactions.csv,
interactions_incremental.csv, users.csv, items.csv (header + schema order, UTF-8), changed_users.jsonl,
all_users.jsonl, items_batch.jsonl, ranking_input.jsonl, cold_start.jsonl and counts.json to OUT.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from dataprep import local_columnar
from dataprep.columnar import WINDOW_COLUMNS, WINDOW_FOLDER, WINDOW_PART, WINDOW_TABLE
from dataprep.counts import Counts
from dataprep.duckdb_dialect import to_duckdb
from dataprep.headers import check_headers, local_files
from dataprep.local_args import (
    REPOSITORY,
    OneLineParser,
    RawDataError,
    check_out,
    check_raw_layout,
    one_line,
    refuse_raw_data,
    run_params,
)
from dataprep.local_raw import load_genre_mapping, load_raw_days
from dataprep.quality import (
    DEFAULT_MAX_DROPPED_SHARE,
    DROP_REASONS,
    DataQuality,
    DataQualityError,
    QualityThresholds,
    assess,
)
from dataprep.queries import (
    CSV_OUTPUTS,
    DEFAULT_COLD_START_MIN_USERS,
    DEFAULT_RANKING_CANDIDATES,
    DEFAULT_RECIPES,
    DEFAULT_WINDOW_DAYS,
    EVENT_TABLES,
    GENRE_MAPPING_CSV,
    JSONL_OUTPUTS,
    LOCAL_RUN,
    Output,
    PrepareParams,
    csv_header_line,
    line_select,
    render,
    render_window,
)

__all__ = ["REPOSITORY", "RawDataError", "main", "prepare", "prepare_run", "prepare_with_quality", "to_duckdb"]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _build_window(con: duckdb.DuckDBPyConnection, params: PrepareParams, folder: Path) -> None:
    """Write the run window as the pipeline's UNLOAD does (Parquet folders `part=<part>/`) and read it back as the
    `run_window` table with the local run's injected partition values."""
    shutil.rmtree(folder, ignore_errors=True)
    con.execute(
        f"COPY ({to_duckdb(render_window(params))}) TO {_sql_text(str(folder))} "
        f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({WINDOW_PART}))"
    )
    run = {"country": params.country, "run_date": params.run_date.isoformat(), **LOCAL_RUN.model_dump()}
    constants = ", ".join(f"{_sql_text(value)} AS {name}" for name, value in run.items())
    files = sorted(str(p) for p in folder.glob("*/*.parquet"))
    if files:
        source = (
            f"SELECT *, {constants} FROM read_parquet({files!r}, hive_partitioning = true, "
            f"hive_types = {{'{WINDOW_PART}': 'VARCHAR'}})"
        )
    else:
        typed = ", ".join(
            f'CAST(NULL AS {"BIGINT" if t == "bigint" else "VARCHAR"}) AS "{c}"' for c, t in WINDOW_COLUMNS
        )
        source = f"SELECT {typed}, CAST(NULL AS VARCHAR) AS {WINDOW_PART}, {constants} WHERE false"
    con.execute(f"CREATE OR REPLACE VIEW {WINDOW_TABLE} AS {source}")


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
            f"COPY ({sql}) TO {_sql_text(str(part))} (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x1f')"
        )
        with target.open("wb") as out:
            if header is not None:
                out.write(header.encode("utf-8") + b"\n")
            with part.open("rb") as lines:
                shutil.copyfileobj(lines, out, length=1 << 20)


def _check_country_has_data(con: duckdb.DuckDBPyConnection, params: PrepareParams, counts: Counts) -> None:
    """An unknown country or a country without interactions in the window is a wrong argument, not a run."""
    if counts.country_users == 0:
        # Local-only diagnostics, same locale rule as _base.sql (latest_users).
        found = [
            row[0]
            for row in con.execute(
                """SELECT DISTINCT upper(substr(locale, -2)) FROM (
                    SELECT arg_max(TRIM(locale), dt) AS locale FROM users_parsed WHERE dt < ? GROUP BY TRIM(user_id)
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
    columnar_dir: str | Path | None = None,
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
    return prepare_run(
        raw_dir,
        out_dir,
        params,
        genre_mapping=genre_mapping,
        threads=threads,
        thresholds=thresholds,
        require_country_data=require_country_data,
        columnar_dir=columnar_dir,
    )


def prepare_run(
    raw_dir: str | Path,
    out_dir: str | Path,
    params: PrepareParams,
    *,
    genre_mapping: str | Path = GENRE_MAPPING_CSV,
    threads: int | None = None,
    thresholds: QualityThresholds | None = None,
    require_country_data: bool = False,
    columnar_dir: str | Path | None = None,
) -> tuple[Counts, DataQuality]:
    """`prepare_with_quality` for a run whose PrepareParams are built already (the CLI's `run_params`)."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw directory {raw_dir} does not exist")
    # Columns are read by position: a file with another header is refused before anything is read.
    check_headers(local_files(raw_dir, params))

    # The outermost folder this run creates (OUT, or a parent of it): a refused run removes it again.
    created = None
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            break
        created = folder
    con = duckdb.connect(config={"threads": threads} if threads else {})
    # No progress bar: long conversions would print it into the CLI's output and the logs.
    con.execute("SET enable_progress_bar = false")
    try:
        # Each raw day is parsed once into the columnar days (kept in columnar_dir for the next run), the run's
        # window is built once from them, and every output reads the window, as on Athena.
        columnar_dir = Path(columnar_dir) if columnar_dir else local_columnar.default_dir(out_dir)
        local_columnar.convert(con, raw_dir, columnar_dir, params, load_raw_days, window_days=params.window_days)
        local_columnar.attach(con, columnar_dir)
        load_genre_mapping(con, Path(genre_mapping))
        out_dir.mkdir(parents=True, exist_ok=True)
        _build_window(con, params, out_dir / WINDOW_FOLDER)
        quality = DataQuality.from_rows(_rows(con, render(Output.QUALITY, params)))
        row = _rows(con, render(Output.COUNTS, params))[0]
        row["malformed_csv_rows"] = quality.malformed_lines
        counts = Counts.from_row(row)
        if require_country_data:
            try:
                _check_country_has_data(con, params, counts)
            except RawDataError:
                if created is not None:  # a refused run leaves nothing behind, not even its converted days
                    con.close()
                    shutil.rmtree(created, ignore_errors=True)
                raise
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


def _summary(args: argparse.Namespace, counts: Counts, quality: DataQuality) -> str:
    ok, reason = counts.meets_minimum()
    events = [quality.tables[t] for t in EVENT_TABLES if t in quality.tables]
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
    parser = OneLineParser(prog="dataprep.local", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="raw export root: <table>/dt=YYYY-MM-DD/*.csv")
    parser.add_argument("--out", required=True, help="output directory (outside the repository)")
    parser.add_argument(
        "--columnar",
        default=None,
        help="where the converted days are kept between runs (default: OUT/.columnar)",
    )
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
    check_out(parser, args.out)
    if args.columnar is not None:
        check_out(parser, args.columnar, "COLUMNAR", "--columnar")
    params = run_params(
        parser,
        args,
        window_days=args.window_days,
        previous_run_date=args.previous_run_date,
        imported_before=args.imported_before,
        recipes=args.recipes,
        ranking_candidates=args.ranking_candidates,
    )
    try:
        thresholds = QualityThresholds(max_dropped_share=args.max_dropped_share)
    except ValidationError as error:
        parser.error(one_line(error, args))
    try:
        check_raw_layout(Path(args.raw))
        counts, quality = prepare_run(
            args.raw, args.out, params, thresholds=thresholds, require_country_data=True, columnar_dir=args.columnar
        )
    except RawDataError as error:
        refuse_raw_data(parser, error, args)
    except DataQualityError as error:
        # Raw data that cannot be read right (a wrong header): the line the Prepare step fails with, nothing written.
        print(error, file=sys.stderr)
        return 1
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
