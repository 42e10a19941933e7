"""Local preparation speed and the size of the daily batch input.

Figures:
- prepare_rows_per_s: raw interaction rows (purchases + views, all countries; the SQL reads them all to
  split by country) divided by the wall time of one `dataprep.local.prepare` run for KR from nothing converted:
  every raw day of the window parsed into the columnar days, the run window, every output. Data:
  dataprep.sample_data with 380,000 users, 10,000 items, 190 days (>= 10 M rows), generated once and cached
  under .bench/ (delete the folder to regenerate).
- prepare_input_rows, prepare_seconds: the two numbers behind that rate (the first run, a backfill).
- prepare_seconds_daily: the next day's run over the same converted days: only the new day is converted (what
  every run after the first does).
- prepare_athena_scan_gb_per_run (goal <= 10 GB; 189 GB when every output read the window's CSV): what the
  Prepare step's Athena queries scan on a daily run at the trial's size, estimated by bench.prepare_scan from
  the columnar days and run window this bench's last run wrote; _window and _outputs split it, _first_run is the
  run that converts the whole window (once, or after a layout change).
- batch_users_share: changed users / all KR users for run date = the day after the data ends and the
  previous run the day before: the share of users the daily batch-inference job scores. Goal <= 0.15.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.prepare_scan import prepare_scan_gb
from dataprep.columnar import WINDOW_FOLDER
from dataprep.local import prepare
from dataprep.local_columnar import CATALOG
from dataprep.queries import PrepareParams
from dataprep.sample_data import generate

ROOT = Path(__file__).resolve().parent.parent / ".bench"
# Keyword arguments of sample_data.generate (and the cache folder's name).
PARAMS: dict[str, Any] = {"users": 380_000, "items": 10_000, "days": 190, "seed": 42, "end_date": "2025-07-01"}
MIN_ROWS = 10_000_000


def _dataset() -> tuple[Path, dict[str, int]]:
    name = "prepare-" + "-".join(f"{k}{v}" for k, v in PARAMS.items())
    folder = ROOT / name
    marker = folder / "summary.json"
    if marker.exists():
        return folder / "raw", json.loads(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    summary = generate(folder / "raw", **PARAMS)
    if summary["interactions"] < MIN_ROWS:
        raise RuntimeError(f"generated only {summary['interactions']} interaction rows, need {MIN_ROWS}")
    marker.write_text(json.dumps(summary))  # written last: a half-generated folder is never reused
    return folder / "raw", summary


def _deliver_next_day(raw: Path, end: date) -> None:
    """The export of `end` (the day after the data): each events table's last day again under the new date."""
    for table in ("purchases", "views"):
        source = raw / table / f"dt={end - timedelta(days=1)}"
        target = raw / table / f"dt={end}"
        if not target.exists():
            shutil.copytree(source, target)


def figures() -> Iterator[tuple[str, float | int, str]]:
    raw, summary = _dataset()
    end = date.fromisoformat(str(PARAMS["end_date"]))
    out = ROOT / "prepare-out"
    columnar_dir = ROOT / "prepare-columnar"
    shutil.rmtree(columnar_dir, ignore_errors=True)  # the first run converts every day
    start = time.perf_counter()
    counts = prepare(raw, out, "KR", end, previous_run_date=end - timedelta(days=1), columnar_dir=columnar_dir)
    seconds = time.perf_counter() - start
    rows = summary["interactions"]
    yield "prepare_rows_per_s", rows / seconds, "rows/s"
    yield "prepare_input_rows", rows, "rows"
    yield "prepare_seconds", seconds, "s"
    # The day after: yesterday's conversions are kept, the new day is converted (a copy of the last day's files
    # stands in for the new export), and the window moves by one day.
    _deliver_next_day(raw, end)
    start = time.perf_counter()
    prepare(raw, out, "KR", end + timedelta(days=1), previous_run_date=end, columnar_dir=columnar_dir)
    yield "prepare_seconds_daily", time.perf_counter() - start, "s"
    yield "batch_users_share", counts.changed_users / max(1, counts.country_users), "ratio"
    for name, value in scan_figures().items():
        yield name, value, "GB"


def scan_figures() -> dict[str, float]:
    """bench.prepare_scan's figures, measured on this bench's columnar days and the window of its last run (made
    by one run first when none was)."""
    raw, _ = _dataset()
    out, columnar_dir = ROOT / "prepare-out", ROOT / "prepare-columnar"
    report = out / "counts.json"
    if not report.exists() or not (columnar_dir / CATALOG).exists():
        end = date.fromisoformat(str(PARAMS["end_date"]))
        prepare(raw, out, "KR", end, previous_run_date=end - timedelta(days=1), columnar_dir=columnar_dir)
    run_date = date.fromisoformat(json.loads(report.read_text(encoding="utf-8"))["run_date"])
    params = PrepareParams(country="KR", run_date=run_date, previous_run_date=run_date - timedelta(days=1))
    return prepare_scan_gb(raw, columnar_dir, out / WINDOW_FOLDER, params)
