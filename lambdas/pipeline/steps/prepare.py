"""Prepare the run's data on Athena: start one query per output, poll them, assemble the files, read counts.

Each attempt writes under its own prefix (`athena/runs/<country>/<run_date>/<execution>/a<n>/`) because UNLOAD refuses
a non-empty target; a query failure is reported once (failing the execution) and a replay starts attempt
n+1. The guard decision (Personalize minimums) is taken here from the counts query, and the data-quality query's
result goes to `state.data_quality`; a broken `data.quality` threshold fails the step once with DataQualityFailed
(naming the file, the reason and the count), and a redrive after the raw data was fixed runs the next attempt.
"""

from __future__ import annotations

from datetime import timedelta

from common import clients
from common.aws_errors import transient_errors_named
from dataprep.counts import Counts
from dataprep.headers import check_headers, s3_files
from dataprep.quality import DataQuality, DataQualityError, check
from dataprep.queries import Output, PrepareParams, athena_statements
from dataprep.s3_outputs import assemble_csv, publish_genre_mapping, split_uri
from pipeline import ledger, step_names
from pipeline.athena_jobs import DONE, advance_queries, attempt_of, start_query
from pipeline.errors import DataQualityFailed, PreparationFailed
from pipeline.jobs import check_timeout, finish_step, next_poll, start_step
from pipeline.model import Guard, Job, RunState
from pipeline.step_handler import step_handler

STEP = step_names.PREPARE.key


def _prefix(state: RunState, attempt: int) -> str:
    s = state.settings
    # Under athena/: the workgroup's result area, the only prefix the prepare role may write.
    return (
        f"s3://{s.prepared_bucket}/athena/runs/{s.country}/{state.run.run_date}/{state.run.execution_name}/a{attempt}"
    )


def prepare_params(state: RunState) -> PrepareParams:
    """What the run prepares: the country's window and recipes, the previous successful run and the interactions
    high-water mark from the ledger. The queries and the header check read the partitions these name."""
    settings, run = state.settings, state.run
    return PrepareParams(
        country=settings.country,
        run_date=run.run_date,
        window_days=settings.window_days,
        previous_run_date=run.previous_success_date,
        imported_before=run.interactions_imported_before,
        recipes=tuple(r.value for r in settings.recipes),
    )


def _start(state: RunState, attempt: int) -> dict[str, Job]:
    settings = state.settings
    params = prepare_params(state)
    statements = athena_statements(params, _prefix(state, attempt))
    # Raw columns are read by position: a file whose header names other columns fails the step before any query
    # (dataprep.headers). The mapping object lives in the raw bucket, so its URI names that bucket.
    raw_bucket, _ = split_uri(settings.genre_mapping_uri)
    try:
        check_headers(s3_files(clients.s3(), raw_bucket, params))
    except DataQualityError as error:
        raise DataQualityFailed(STEP, str(error), problems=error.problems, **error.detail) from None
    # The genre_mapping table reads this object; the packaged mapping is the source of truth (same bytes).
    publish_genre_mapping(clients.s3(), *split_uri(settings.genre_mapping_uri))
    jobs = {}
    for output, statement in statements.items():
        query_id = start_query(state, statement.sql, token_key=f"a{attempt}/{output.value}")
        jobs[output.value] = Job(
            kind="athena-query",
            name=output.value,
            arn=query_id,
            status="RUNNING",
            created=True,
            detail={"attempt": attempt, **statement.model_dump(exclude={"sql", "output"})},
        )
    return jobs


def _collect(state: RunState, jobs: dict[str, Job]) -> bool:
    """Assemble the outputs and read counts and quality; False when a reported quality failure is met again
    (a redrive: the caller starts the next attempt on the data as it is now)."""
    attempt = attempt_of(jobs)
    prepared = {}
    for output, job in jobs.items():
        if job.detail.get("kind") != "unload":
            continue
        if job.detail.get("header"):
            # Personalize wants one CSV with an unquoted header: header + UNLOAD parts, copied server side.
            target = f"{_prefix(state, attempt)}/{job.detail['file_name']}"
            assemble_csv(clients.s3(), job.detail["location"], job.detail["header"], target)
            prepared[output] = target
        else:
            # JSON lines batch inputs: a batch job reads every file under the UNLOAD folder.
            prepared[output] = job.detail["location"]
    with transient_errors_named():
        result = clients.athena().get_query_results(QueryExecutionId=jobs[Output.COUNTS.value].arn)
    counts = Counts.from_athena_result(result)
    with transient_errors_named():
        quality_result = clients.athena().get_query_results(QueryExecutionId=jobs[Output.QUALITY.value].arn)
    quality = DataQuality.from_athena_result(quality_result)
    counts = counts.model_copy(update={"malformed_csv_rows": quality.malformed_lines})
    ok, reason = counts.meets_minimum()
    state.prepared = prepared
    state.counts = counts.model_dump()
    state.data_quality = quality.model_dump()
    state.guard = Guard(ok=ok, reason=reason)
    last_day = (state.run.run_date - timedelta(days=1)).isoformat()
    try:
        checked = check(quality, counts, state.settings.quality, state.settings.country, last_day)
        state.data_quality = checked.model_dump()
    except DataQualityError as error:
        marker = f"quality/{state.run.execution_name}/a{attempt}"
        if ledger.was_reported(state.settings.country, state.run.run_date, marker):
            return False
        ledger.mark_reported(state.settings.country, state.run.run_date, marker)
        raise DataQualityFailed(STEP, str(error), problems=error.problems, **error.detail) from None
    return True


def prepare(state: RunState) -> RunState:
    step = start_step(state, STEP)
    check_timeout(state, STEP, timedelta(minutes=state.settings.timeouts.prepare_minutes))
    advance_queries(state, step, _start, PreparationFailed, STEP)
    if all(job.status == DONE for job in step.jobs.values()):
        if _collect(state, step.jobs):
            finish_step(step, note=state.guard.reason if state.guard else "")
            return state
        # A reported quality failure met again (a replay): the next attempt prepares the data as it is now.
        step.jobs = _start(state, attempt_of(step.jobs) + 1)
    next_poll(step, step_names.PREPARE)
    return state


handler = step_handler(step_names.PREPARE, prepare)
