"""Prepare the run's data on Athena in three phases, each a set of queries the step starts and polls (its jobs,
`detail["phase"]`): convert the raw days not converted yet (dataprep.columnar), build the run window, then one
query per output; then assemble the files and read counts.

Convert: the step plans the days (pipeline.columnar_days), writes the plan (each day's raw digest) under the
attempt's prefix and starts each table's conversion UNLOADs. Only when every conversion of the attempt
succeeded are the days' Glue partitions moved to it (commit), so a failed attempt leaves nothing visible and the
next one plans again: days committed earlier are never converted twice. Progress is the step's note
("days converted <done>/<to convert>"), shown by `personalize-runs show`.

Each attempt writes under its own prefix (`athena/runs/<country>/<run_date>/<execution>/a<n>/`) because UNLOAD refuses
a non-empty target; a query failure is reported once (failing the execution) and a replay starts attempt
n+1. The guard decision (Personalize minimums) is taken here from the counts query, and the data-quality query's
result goes to `state.data_quality`; a broken `data.quality` threshold fails the step once with DataQualityFailed
(naming the file, the reason and the count), and a redrive after the raw data was fixed runs the next attempt.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from common import clients, clock
from common.aws_errors import transient_errors_named
from dataprep import columnar
from dataprep.counts import Counts
from dataprep.headers import check_headers, s3_files
from dataprep.quality import DataQuality, DataQualityError, check
from dataprep.queries import (
    Output,
    PrepareParams,
    WindowRun,
    athena_statements,
    conversion_statements,
    window_statement,
)
from dataprep.s3_outputs import assemble_csv, publish_genre_mapping, split_uri
from pipeline import columnar_days, cost_drivers, ledger, step_names
from pipeline.athena_jobs import DONE, advance_queries, attempt_of, start_query
from pipeline.errors import DataQualityFailed, PreparationFailed
from pipeline.jobs import check_timeout, finish_step, next_poll, start_step
from pipeline.model import Guard, Job, RunState
from pipeline.step_handler import step_handler

STEP = step_names.PREPARE.key
CONVERT, WINDOW, OUTPUTS = "convert", "window", "outputs"  # the step's phases, in order (Job.detail["phase"])
PHASE = "phase"
_PLAN_FILE = "columnar-plan.json"


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


def _query_job(state: RunState, attempt: int, name: str, sql: str, detail: dict) -> Job:
    query_id = start_query(state, sql, token_key=f"a{attempt}/{name}")
    return Job(
        kind="athena-query",
        name=name,
        arn=query_id,
        status="RUNNING",
        created=True,
        detail={"attempt": attempt, **detail},
    )


def _conversion_id(state: RunState, attempt: int) -> str:
    """The attempt's conversion folder name: S3-key-safe and unique per execution and attempt (the folder is
    per table: columnar/<table>_parsed/<conversion>/)."""
    run = state.run
    name = re.sub(r"[^A-Za-z0-9_-]", "-", run.execution_name)
    return f"{state.settings.country}-{run.run_date.isoformat()}-{name}-a{attempt}"


def _plan_uri(state: RunState, attempt: int) -> str:
    return f"{_prefix(state, attempt)}/{_PLAN_FILE}"


def _start(state: RunState, attempt: int) -> dict[str, Job]:
    """The attempt's first phase: check the headers, plan the days, start their conversions (or, with nothing to
    convert, the window at once)."""
    settings = state.settings
    params = prepare_params(state)
    # Raw columns are read by position: a file whose header names other columns fails the step before any query
    # (dataprep.headers). The mapping object lives in the raw bucket, so its URI names that bucket.
    raw_bucket, _ = split_uri(settings.genre_mapping_uri)
    try:
        check_headers(s3_files(clients.s3(), raw_bucket, params))
    except DataQualityError as error:
        raise DataQualityFailed(STEP, str(error), problems=error.problems, **error.detail) from None
    # The genre_mapping table reads this object; the packaged mapping is the source of truth (same bytes).
    publish_genre_mapping(clients.s3(), *split_uri(settings.genre_mapping_uri))
    plans = columnar_days.plan(
        clients.s3(),
        clients.glue(),
        raw_bucket=raw_bucket,
        database=settings.athena_database,
        params=params,
        now=clock.now(),
    )
    planned = {p.table: {d.isoformat(): p.digests[d] for d in p.to_convert} for p in plans if p.to_convert}
    bucket, key = split_uri(_plan_uri(state, attempt))
    with transient_errors_named():
        clients.s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(planned, sort_keys=True).encode())
    conversion = _conversion_id(state, attempt)
    jobs = {}
    for table, days in planned.items():
        statements = conversion_statements(
            table, [date.fromisoformat(d) for d in days], settings.prepared_bucket, conversion
        )
        for statement in statements:
            name = f"{CONVERT} {statement.table} {statement.days[0].isoformat()}+{len(statement.days)}d"
            detail = {PHASE: CONVERT, "table": table, "glue_table": statement.table, "location": statement.location}
            jobs[name] = _query_job(state, attempt, name, statement.sql, {**detail, "days": len(statement.days)})
    if not jobs:
        jobs[WINDOW] = _start_window(state, attempt)
    return jobs


def _start_window(state: RunState, attempt: int) -> Job:
    statement = window_statement(prepare_params(state), _prefix(state, attempt))
    return _query_job(state, attempt, WINDOW, statement.sql, {PHASE: WINDOW, "location": statement.location})


def _start_outputs(state: RunState, attempt: int) -> dict[str, Job]:
    run = WindowRun(execution=state.run.execution_name, attempt=f"a{attempt}")
    statements = athena_statements(prepare_params(state), _prefix(state, attempt), run)
    return {
        output.value: _query_job(
            state,
            attempt,
            output.value,
            statement.sql,
            {PHASE: OUTPUTS, **statement.model_dump(exclude={"sql", "output"})},
        )
        for output, statement in statements.items()
    }


def _commit_conversions(state: RunState, jobs: dict[str, Job]) -> None:
    """Every conversion of the attempt succeeded: point each converted day's partitions at it, with the digest
    the day was planned from (the plan file)."""
    attempt = attempt_of(jobs)
    bucket, key = split_uri(_plan_uri(state, attempt))
    with transient_errors_named():
        planned = json.loads(clients.s3().get_object(Bucket=bucket, Key=key)["Body"].read())
    conversions = [job for job in jobs.values() if job.detail.get(PHASE) == CONVERT]
    for table, days in planned.items():
        folders: dict[str, list[str]] = {columnar.parsed_table(table): [], columnar.files_table(table): []}
        for job in conversions:
            if job.detail["table"] == table:
                folders[job.detail["glue_table"]].append(job.detail["location"])
        # conversion_statements splits a table's days into chunks in day order, one folder per chunk
        chunked = columnar.chunks(sorted(date.fromisoformat(d) for d in days))
        parsed, files = folders[columnar.parsed_table(table)], folders[columnar.files_table(table)]
        for chunk, parsed_location, files_location in zip(chunked, parsed, files, strict=True):
            columnar_days.commit(
                clients.glue(),
                database=state.settings.athena_database,
                table=table,
                parsed_location=parsed_location,
                files_location=files_location,
                digests={day: days[day.isoformat()] for day in chunk},
                conversion=parsed_location.rstrip("/").rsplit("/", 1)[-1],
                now=clock.now(),
            )


def _progress(jobs: dict[str, Job]) -> str:
    """Days converted by the attempt so far / days it converts (each day counted once, on its parsed table)."""
    parsed = [
        j
        for j in jobs.values()
        if j.detail.get(PHASE) == CONVERT and j.detail["glue_table"].endswith(columnar.PARSED_SUFFIX)
    ]
    done = sum(j.detail["days"] for j in parsed if j.status == DONE)
    return f"days converted {done}/{sum(j.detail['days'] for j in parsed)}"


def _phase(jobs: dict[str, Job]) -> str:
    phases = {job.detail.get(PHASE, OUTPUTS) for job in jobs.values()}
    return next(p for p in (OUTPUTS, WINDOW, CONVERT) if p in phases)


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
            written = assemble_csv(clients.s3(), job.detail["location"], job.detail["header"], target)
            job.detail[cost_drivers.ASSEMBLED_BYTES] = written["bytes"]  # what an import of it ingests
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
    jobs = step.jobs
    converting = any(job.detail.get(PHASE) == CONVERT for job in jobs.values())
    if converting:
        step.note = _progress(jobs)
    if all(job.status == DONE for job in jobs.values()):
        attempt, phase = attempt_of(jobs), _phase(jobs)
        if phase == CONVERT:
            _commit_conversions(state, jobs)
            jobs[WINDOW] = _start_window(state, attempt)
        elif phase == WINDOW:
            jobs.update(_start_outputs(state, attempt))
        elif _collect(state, {name: job for name, job in jobs.items() if job.detail.get(PHASE, OUTPUTS) == OUTPUTS}):
            reason = state.guard.reason if state.guard else ""
            finish_step(step, note="; ".join(n for n in (reason, _progress(jobs) if converting else "") if n))
            return state
        else:
            # A reported quality failure met again (a replay): the next attempt prepares the data as it is now.
            step.jobs = _start(state, attempt + 1)
    next_poll(step, step_names.PREPARE)
    return state


handler = step_handler(step_names.PREPARE, prepare)
