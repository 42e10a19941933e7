"""Athena queries as pipeline jobs: the polling the Prepare and Report steps share.

A failed query fails its step once (the ledger remembers it was reported), so a redrive or rerun starts the
step's next attempt instead of failing on the same query again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from common import clients
from common.aws_errors import transient_errors_named
from pipeline import cost_drivers, ledger
from pipeline.errors import PipelineFailure
from pipeline.model import Job, RunState, Step

DONE, FAILED = "SUCCEEDED", ("FAILED", "CANCELLED")


def attempt_of(jobs: dict[str, Job]) -> int:
    """The attempt a step's queries belong to (every query of one attempt carries it in its detail)."""
    return next(iter(jobs.values())).detail["attempt"]


def advance_queries(
    state: RunState,
    step: Step,
    start: Callable[[RunState, int], dict[str, Job]],
    error: type[PipelineFailure],
    name: str,
) -> None:
    """Start the step's first attempt, or refresh its queries. A failed query met again (reported already: a
    replay asking for another attempt) starts the next attempt; one failing for the first time raises `error`."""
    if not step.jobs:
        step.jobs = start(state, 1)
        return
    refresh_queries(state, step.jobs, error, name)
    if any(job.status == "FAILED" for job in step.jobs.values()):
        step.jobs = start(state, attempt_of(step.jobs) + 1)


def refresh_queries(state: RunState, jobs: dict[str, Job], error: type[PipelineFailure], step: str) -> None:
    """Describe every unfinished query; raise `error(step, reason, query=...)` for one that failed."""
    for output, job in jobs.items():
        if job.status == DONE:
            continue
        if job.arn is None:
            # A query job is recorded only once Athena has given it an execution id: this state was not written
            # by this step.
            raise error(step, f"{output} query has no Athena execution id")
        with transient_errors_named():
            execution = clients.athena().get_query_execution(QueryExecutionId=job.arn)["QueryExecution"]
        status = execution["Status"]["State"]
        if status in FAILED:
            reason = execution["Status"].get("StateChangeReason") or status
            if not ledger.was_reported(state.settings.country, state.run.run_date, job.arn):
                ledger.mark_reported(state.settings.country, state.run.run_date, job.arn)
                raise error(step, f"{output} query {status}: {reason}", query=job.arn)
            job.status = "FAILED"
        else:
            job.status = DONE if status == DONE else "RUNNING"
            engine_ms = execution.get("Statistics", {}).get("EngineExecutionTimeInMillis")
            if engine_ms is not None:
                job.detail["engine_seconds"] = engine_ms / 1000
            scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
            if scanned is not None:  # the bytes Athena bills the query for (pipeline.cost_drivers)
                job.detail[cost_drivers.SCANNED_BYTES] = scanned


def start_query(state: RunState, sql: str, *, token_key: str) -> str:
    """Start one query in the run's workgroup and return its execution id. The idempotency token is derived from
    the execution and `token_key`, so a retried invocation gets the query it already started, not a second one."""
    token = hashlib.sha256(f"{state.run.execution_arn}/{token_key}".encode()).hexdigest()[:64]
    with transient_errors_named():
        return clients.athena().start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": state.settings.athena_database},
            WorkGroup=state.settings.athena_workgroup,
            ClientRequestToken=token,
        )["QueryExecutionId"]
