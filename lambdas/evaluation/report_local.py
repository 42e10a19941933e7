"""Local comparison page: `python -m evaluation.report_local --raw DIR --country CC --run-date D --out DIR`

Options: [--results DIR] [--top-users N] [--truth-days D] [--engine sql|memory].

Runs preparation locally (dataprep.local.prepare into OUT/prepared, the same SQL as Athena on DuckDB),
then the report SQL the pipeline runs on Athena (evaluation/sql, on DuckDB: outputs in OUT/sql/) and the
evaluation, and writes OUT/report.html and OUT/report.json (`--engine memory`: the in-memory reference). RESULTS is a
folder of Personalize batch-inference output (*.out or *.jsonl JSON lines). Bad arguments: one line, exit 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from evaluation.data import InputError, batch_output_files
from evaluation.decision import trend_from_reports
from evaluation.report import ReportOptions
from evaluation.run import report_from_prepared, report_from_prepared_sql, write_report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line and exit 2, not argparse's usage block
        print(f"report_local: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m evaluation.report_local", description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="raw exports folder (<table>/dt=YYYY-MM-DD/*.csv)")
    parser.add_argument("--country", required=True, help="two-letter country code, e.g. FR")
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
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z]{2}", args.country):
        parser.error(f"--country must be a two-letter code, got {args.country!r}")
    args.country = args.country.upper()
    try:
        args.run_date = date.fromisoformat(args.run_date)
    except ValueError:
        parser.error(f"--run-date must be YYYY-MM-DD, got {args.run_date!r}")
    if not Path(args.raw).is_dir():
        parser.error(f"--raw {args.raw!r} is not a folder")
    if args.results is not None and not Path(args.results).is_dir():
        parser.error(f"--results {args.results!r} is not a folder")
    try:
        args.options = ReportOptions(top_users=args.top_users, truth_days=args.truth_days)
    except ValidationError as error:
        first = error.errors()[0]
        parser.error(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        from dataprep.local import prepare  # the data-preparation issue's local runner (DuckDB)
    except ImportError as error:
        print(f"report_local: error: data preparation is not available ({error})", file=sys.stderr)
        return 2
    out = Path(args.out)
    prepared = out / "prepared"
    try:
        prepare(args.raw, prepared, args.country, args.run_date)
        batch = batch_output_files(args.results) if args.results else None
        build = report_from_prepared_sql if args.engine == "sql" else report_from_prepared
        report = build(prepared, args.country, args.run_date, out, batch, args.options)
    except ValidationError as error:
        first = error.errors()[0]
        print(f"report_local: error: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2
    except (InputError, FileNotFoundError) as error:
        print(f"report_local: error: {error}", file=sys.stderr)
        return 2
    # Trend: earlier runs' report.json in OUT's sibling folders (results/<country>/<run_date>/ in the bucket).
    siblings = [p for p in out.resolve().parent.glob("*/report.json") if p.parent != out.resolve()]
    if siblings:
        report.trend = trend_from_reports(siblings, report.country, report.trend[-1] if report.trend else None)
        write_report(report, out)
    print(
        f"wrote {out / 'report.html'} and {out / 'report.json'}: curation method {report.curation.method}, "
        f"{report.counts.evaluated_users} users evaluated, {len(report.heavy_users)} heavy users shown"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
