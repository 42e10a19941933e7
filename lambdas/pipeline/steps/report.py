"""The run's comparison page: current curation vs Personalize vs popularity for the heaviest users.

Reads the prepared CSVs of this run and the user-personalization batch output from S3 into /tmp, runs the
offline evaluation (evaluation.run) and writes report.html + report.json next to the batch output under
results/<country>/<run_date>/; the run notification links the page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import clients, clock
from dataprep.s3_outputs import split_uri
from evaluation.run import report_from_prepared
from pipeline.jobs import finish_step, start_step
from pipeline.model import RunState

STEP = "report"
PREPARED_FILES = {"interactions": "interactions.csv", "users": "users.csv", "items": "items.csv"}


def _download(uri: str, target: Path) -> None:
    bucket, key = split_uri(uri)
    clients.s3().download_file(bucket, key, str(target))


def _batch_output_files(state: RunState, folder: Path) -> list[Path] | None:
    """Personalize writes <input file name>.out files under the job's output path; None if no such job ran."""
    batch = state.steps.get("batch")
    job = batch.jobs.get("user-personalization") if batch else None
    if not job or not job.detail.get("output"):
        return None
    bucket, prefix = split_uri(job.detail["output"])
    files = []
    paginator = clients.s3().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".out"):
                target = folder / f"batch-{len(files)}.out"
                clients.s3().download_file(bucket, item["Key"], str(target))
                files.append(target)
    return files


def build_report(state: RunState) -> RunState:
    step = start_step(state, STEP)
    settings = state.settings
    with tempfile.TemporaryDirectory() as tmp:
        prepared, out = Path(tmp, "prepared"), Path(tmp, "out")
        prepared.mkdir()
        for output, file_name in PREPARED_FILES.items():
            if output in state.prepared:
                _download(state.prepared[output], prepared / file_name)
        batch_files = _batch_output_files(state, Path(tmp))
        report_from_prepared(prepared, settings.country, state.run.run_date, out, batch_files)
        key_prefix = f"{settings.country}/{state.run.run_date}"
        for name, content_type in (
            ("report.html", "text/html; charset=utf-8"),
            ("report.json", "application/json"),
        ):
            clients.s3().upload_file(
                str(out / name),
                settings.results_bucket,
                f"{key_prefix}/{name}",
                ExtraArgs={"ContentType": content_type},
            )
    state.prepared["report_url"] = f"s3://{settings.results_bucket}/{key_prefix}/report.html"
    finish_step(step, note=f"written at {clock.now().isoformat()}")
    return state
