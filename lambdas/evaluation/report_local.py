"""Local comparison page: `python -m evaluation.report_local --raw DIR --country CC --run-date D --out DIR`

Options: [--results DIR] [--top-users N] [--truth-days D] [--engine sql|memory].

Runs preparation locally (dataprep.local.prepare into OUT/prepared, the same SQL as Athena on DuckDB),
then the report SQL the pipeline runs on Athena (evaluation/sql, on DuckDB: outputs in OUT/sql/) and the
evaluation, and writes OUT/report.html and OUT/report.json (`--engine memory`: the in-memory reference). RESULTS is a
folder of Personalize batch-inference output (*.out or *.jsonl JSON lines). Bad arguments, and whatever
`make prepare` refuses (dataprep.local_args), plus a RESULTS folder without output: one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from dataprep.local import prepare
from dataprep.local_args import (
    OneLineParser,
    RawDataError,
    check_out,
    check_raw_layout,
    one_line,
    refuse_raw_data,
    run_params,
)
from dataprep.quality import DataQualityError
from evaluation import raw_identity
from evaluation.data import BATCH_OUTPUT_SUFFIXES, DAY, InputError, batch_output_files, window_end
from evaluation.report_model import Report, ReportOptions
from evaluation.run import JSON_NAME, report_from_prepared, report_from_prepared_sql, write_report
from evaluation.trend import trend_from_reports


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = OneLineParser(prog="evaluation.report_local", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="raw export root: <table>/dt=YYYY-MM-DD/*.csv")
    parser.add_argument("--country", required=True, help="ISO 3166 alpha-2 code in upper case, e.g. KR")
    parser.add_argument("--run-date", required=True, help="YYYY-MM-DD; the window ends the day before")
    parser.add_argument("--out", required=True, help="output folder for report.html and report.json")
    parser.add_argument("--results", help="folder of Personalize batch-inference output (*.out, *.jsonl)")
    parser.add_argument("--top-users", type=int, default=10, help="heavy users shown (default 10)")
    parser.add_argument("--truth-days", type=int, default=7, help="last days of the window used as truth")
    parser.add_argument(
        "--engine",
        choices=("sql", "memory"),
        default="sql",
        help="sql: the pipeline's report SQL on DuckDB (default); memory: the in-memory reference",
    )
    return parser, parser.parse_args(argv)


def _batch_files(parser: argparse.ArgumentParser, results: str | None) -> list[Path] | None:
    """RESULTS' output files; a RESULTS folder without any is a wrong folder, not a run without Personalize."""
    if results is None:
        return None
    if not Path(results).is_dir():
        parser.error(f"RESULTS={results} (--results) is not a folder")
    files = batch_output_files(results)
    if not files:
        suffixes = " or ".join(f"*{s}" for s in BATCH_OUTPUT_SUFFIXES)
        parser.error(f"RESULTS={results} (--results): no batch-inference output in it ({suffixes} files)")
    return files


def _check_truth_days(
    parser: argparse.ArgumentParser, args: argparse.Namespace, prepared: Path, truth_days: int
) -> None:
    """A run date a few days past the data passes preparation's window check, but its truth days (the window's
    last `truth_days`, what every list is scored against) hold nothing: a page would state a verdict on nothing."""
    end = window_end(date.fromisoformat(args.run_date))
    cutoff = end - truth_days * DAY
    found, last = duckdb.execute(
        "SELECT count(*) FILTER (WHERE t >= ?), max(t) FROM ("
        'SELECT TRY_CAST("TIMESTAMP" AS DOUBLE) AS t FROM read_csv(?, header = true, all_varchar = true))',
        [cutoff, str(prepared / "interactions.csv")],
    ).fetchone() or (0, None)
    if not found:
        latest = f"the latest is on {datetime.fromtimestamp(last, tz=UTC).date()}" if last is not None else "none"
        parser.error(
            f"RUN_DATE={args.run_date}: RAW has no purchases or views of {args.country} in the report's truth days "
            f"[{datetime.fromtimestamp(cutoff, tz=UTC).date()}, {args.run_date}) (--truth-days {truth_days}; "
            f"{latest}): nothing to evaluate"
        )


def _with_trend(report: Report, out: Path, raw: str) -> Report:
    """Record the raw data's digest and take the trend from OUT's sibling folders' report.json (the bucket's
    results/<country>/<run_date>/): earlier run dates of the same country and the same raw data only."""
    files = raw_identity.raw_files(raw)
    report.raw_digest = raw_identity.raw_digest(files, report.run_date)

    def same_data(earlier: Mapping[str, Any]) -> bool:
        return earlier.get("raw_digest") == raw_identity.raw_digest(files, str(earlier["run_date"]))

    here = out.resolve()
    siblings = [p for p in here.parent.glob(f"*/{JSON_NAME}") if p.parent != here]
    report.trend = trend_from_reports(siblings, report.country, report.trend[-1] if report.trend else None, same_data)
    return report


def main(argv: list[str] | None = None) -> int:
    parser, args = _parse(sys.argv[1:] if argv is None else argv)
    # The argument checks come before any output, in the order and words of `make prepare` (dataprep.local_args).
    check_out(parser, args.out)
    params = run_params(parser, args)
    try:
        options = ReportOptions(top_users=args.top_users, truth_days=args.truth_days)
    except ValidationError as error:
        parser.error(one_line(error, args))
    batch = _batch_files(parser, args.results)
    out = Path(args.out)
    try:
        check_raw_layout(Path(args.raw))
        prepare(args.raw, out / "prepared", params.country, params.run_date, require_country_data=True)
    except RawDataError as error:
        refuse_raw_data(parser, error, args)
    except DataQualityError as error:
        # Raw data preparation cannot read right (e.g. a wrong header): its own line and exit code, nothing written.
        print(error, file=sys.stderr)
        return 1
    _check_truth_days(parser, args, out / "prepared", options.truth_days)
    try:
        build = report_from_prepared_sql if args.engine == "sql" else report_from_prepared
        report = build(out / "prepared", params.country, params.run_date, out, batch, options)
    except InputError as error:
        parser.error(str(error))
    except ValidationError as error:
        parser.error(one_line(error, args))
    write_report(_with_trend(report, out, args.raw), out)
    print(
        f"wrote {out / 'report.html'} and {out / 'report.json'}: curation method {report.curation.method}, "
        f"{report.counts.evaluated_users} users evaluated, {len(report.heavy_users)} heavy users shown"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
