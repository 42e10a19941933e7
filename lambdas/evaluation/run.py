"""Prepared CSVs + batch output files -> report.html/report.json, two ways that give the same report:

- `report_from_prepared_sql`: the report SQL (evaluation/sql) on DuckDB, then evaluation.sql_report on its small
  outputs: what the pipeline does on Athena (pipeline.steps.report), and what `make report` runs;
- `report_from_prepared`: everything in memory (evaluation.report), the reference the tests compare with.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from evaluation.data import load_prepared, read_batch_output
from evaluation.page import render
from evaluation.queries import ReportQueryParams
from evaluation.report import build_report
from evaluation.report_model import Report, ReportOptions

HTML_NAME = "report.html"
JSON_NAME = "report.json"


def write_report(report: Report, out_dir: Path | str) -> tuple[Path, Path]:
    """Write report.html and report.json (the same data) into `out_dir`; returns both paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, json_path = folder / HTML_NAME, folder / JSON_NAME
    html_path.write_text(render(report), encoding="utf-8")
    json_path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    return html_path, json_path


def report_from_prepared(
    prepared_dir: Path | str,
    country: str,
    run_date: date,
    out_dir: Path | str,
    batch_files: Sequence[Path | str] | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """Evaluate one country/run from prepared CSVs (and Personalize batch output when given); write the page.

    `batch_files=None` means no Personalize output; an empty list means output was expected but none exists,
    which is reported as such rather than silently dropping the Personalize column.
    """
    dataset = load_prepared(prepared_dir)
    personalize = read_batch_output(batch_files) if batch_files is not None else None
    report = build_report(dataset, country, run_date, personalize, options)
    if batch_files is not None and not batch_files:
        report.notes.insert(0, "Personalize batch output was expected but no output file was found.")
    write_report(report, out_dir)
    return report


def sql_params(country: str, run_date: date, with_personalize: bool, options: ReportOptions) -> ReportQueryParams:
    """The report SQL's parameters for a local run (one prepared folder: execution and attempt are fixed)."""
    shared = set(ReportQueryParams.model_fields) & set(ReportOptions.model_fields)
    return ReportQueryParams(
        country=country,
        run_date=run_date,
        execution="local",
        attempt="a1",
        with_personalize=with_personalize,
        **options.model_dump(include=shared),
    )


def report_from_prepared_sql(
    prepared_dir: Path | str,
    country: str,
    run_date: date,
    out_dir: Path | str,
    batch_files: Sequence[Path | str] | None = None,
    options: ReportOptions | None = None,
    threads: int | None = None,
) -> Report:
    """The report SQL on DuckDB over a prepared folder (outputs under out_dir/sql/), then the page."""
    from evaluation.local_sql import report_outputs  # DuckDB: not in the report step's image
    from evaluation.sql_report import build_report_from_outputs, read_output_folder, train_open_baseline

    opts = options or ReportOptions()
    params = sql_params(country, run_date, batch_files is not None, opts)
    outputs = Path(out_dir) / "sql"
    started = time.perf_counter()
    report_outputs(prepared_dir, params, outputs, batch_files, threads=threads)
    inputs = read_output_folder(outputs)
    inputs.query_seconds = time.perf_counter() - started
    with_personalize = batch_files is not None
    # The open baseline trains on the report SQL's bounded history output, exactly as the report step does.
    baseline, notes = train_open_baseline(inputs, opts)
    inputs.notes.extend(notes)
    report = build_report_from_outputs(
        inputs, country, run_date, with_personalize=with_personalize, options=opts, open_baseline=baseline
    )
    write_report(report, out_dir)
    return report
