"""Entry point for the pipeline's report step: prepared CSVs + batch output files -> report.html/report.json.

The step Lambda (wired by the pipeline) downloads the run's prepared CSVs and batch-inference output to
/tmp, calls `report_from_prepared`, and uploads the two files to results/<country>/<run_date>/.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from evaluation.data import load_prepared, read_batch_output
from evaluation.page import render
from evaluation.report import Report, ReportOptions, build_report

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
