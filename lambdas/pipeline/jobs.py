"""What every long-running step shares: its timer, its polling interval, and how it drives Personalize jobs.

A step handler is called once per poll (Wait -> handler -> Choice). Each call re-derives everything from
Personalize (describe first, create only if missing), so a poll, a retry, a redrive or a rerun of the same
date never creates a job twice.

Failed jobs and timeouts are reported by failing the execution, once: the failure is remembered in the run
ledger first. A later invocation that meets the same failure again can only be a replay (redrive or rerun)
asking for another try, so it moves on to the next attempt (`<name>-r2`, ...) or restarts the timer.

A job is tried at most MAX_ATTEMPTS times per attempt series: replays stop creating jobs that keep failing. A run
started with `fresh_attempts` (once the cause is fixed) grants the date's jobs the next series: the attempt numbers
go on (`-r4` ... in series 2), so its jobs get new deterministic names, while every job that already succeeded
under an earlier attempt is found and reused as before. New names are needed because a name is never free again:
the Personalize API reference lists ResourceAlreadyExistsException for its Create* job calls ("The specified
resource already exists."), and a failed import or batch job cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from common import clock
from common.aws_errors import PersonalizeLimitExceeded
from common.personalize_resources import Phase, attempt_name, ensure
from pipeline import ledger
from pipeline.errors import PersonalizeJobFailed, StepTimedOut
from pipeline.model import Job, RunState, Step, StepStatus
from pipeline.step_names import StepName

MAX_ATTEMPTS = 3


def start_step(state: RunState, name: str) -> Step:
    """The step's state, created on its first poll; a timer already reported as timed out restarts."""
    step = state.steps.get(name)
    if step is None:
        step = Step(started_at=clock.now())
        state.steps[name] = step
    elif ledger.was_reported(state.settings.country, state.run.run_date, _timeout_marker(name, step.started_at)):
        step.started_at, step.polls = clock.now(), 0
    return step


def _timeout_marker(name: str, started_at: datetime) -> str:
    return f"timeout:{name}:{started_at.isoformat()}"


def check_timeout(
    state: RunState, name: str, limit: timedelta, *, stop: Callable[[Job], bool] | None = None
) -> None:
    """Fail the step once it has run longer than `limit`.

    `stop(job)` (where Personalize can stop that kind of job: only trainings, StopSolutionVersionCreation)
    is called for each unfinished job first and returns whether it stopped it, so a timed-out job does not
    keep running and billing. A stopped job is marked reported too: a replay then starts its next attempt
    instead of reporting the stopped job as a new failure.
    """
    step = state.steps[name]
    if clock.now() - step.started_at <= limit:
        return
    country, run_date = state.settings.country, state.run.run_date
    ledger.mark_reported(country, run_date, _timeout_marker(name, step.started_at))
    unfinished = {key: job for key, job in step.jobs.items() if job.status != Phase.SUCCEEDED.value}
    stopped = []
    for key, job in unfinished.items():
        if stop is not None and job.arn and job.status in (Phase.PENDING.value, Phase.RUNNING.value) and stop(job):
            ledger.mark_reported(country, run_date, job.arn)
            job.status = "STOPPED"
            stopped.append(key)
    hours = f"{limit.total_seconds() / 3600:g} h"
    reason = f"{name} did not finish within {hours}"
    if stopped:
        reason += f"; stopped after the {hours} timeout: {', '.join(stopped)}"
    raise StepTimedOut(
        name, reason, unfinished={key: job.arn or job.name for key, job in unfinished.items()}, stopped=stopped
    )


def next_poll(step: Step, name: StepName) -> None:
    """Growing intervals from the step's poll bounds (pipeline.step_names): first wait, 2x, 4x ... capped at its
    maximum (few transitions for day-long jobs)."""
    if not name.polls:
        raise ValueError(f"step {name.key} does not poll: it has no Wait state")
    step.wait_seconds = int(min(name.max_wait_s, name.first_wait_s * 2 ** min(step.polls, 20)))
    step.polls += 1


def finish_step(step: Step, status: StepStatus = StepStatus.SUCCEEDED, note: str = "") -> None:
    step.status = status
    step.finished_at = clock.now()
    step.wait_seconds = 0
    if note:
        step.note = note


def ensure_job(
    client: Any,
    state: RunState,
    *,
    step: str,
    key: str,
    kind: str,
    name: str,
    create_args: dict[str, Any],
    not_before: datetime | None = None,
) -> Job:
    """Describe-or-create one job, walking past attempts whose failure was already reported, up to the last attempt
    of the run's attempt series."""
    country, run_date, series = state.settings.country, state.run.run_date, state.run.attempt_series
    for attempt in range(1, MAX_ATTEMPTS * series + 1):
        this_name = attempt_name(name, attempt)
        try:
            result = ensure(client, kind, name=this_name, create_args=create_args, not_before=not_before)
        except PersonalizeLimitExceeded as quota:
            # A region quota (5 running imports or batch jobs, other countries included) is full: wait for
            # a slot on the next poll; the step's timeout bounds the wait.
            return Job(kind=kind, name=this_name, status="WAITING", detail={"waiting_for": str(quota)})
        if result.phase is Phase.FAILED:
            if ledger.was_reported(country, run_date, result.arn):
                continue
            ledger.mark_reported(country, run_date, result.arn)
            # The series' last attempt: say so, so the operators' tool offers a fresh series, not a redrive.
            last = {"attempts_exhausted": True} if attempt == MAX_ATTEMPTS * series else {}
            raise PersonalizeJobFailed(step, result.failure_reason or "failed", job=key, arn=result.arn, **last)
        return Job(kind=kind, name=this_name, arn=result.arn, status=result.phase.value, created=result.created)
    raise PersonalizeJobFailed(
        step,
        f"all {MAX_ATTEMPTS} attempts of {name} in attempt series {series} failed (see earlier reports); once the "
        "cause is fixed, rerun the date with fresh attempts",
        job=key,
        attempts_exhausted=True,
    )


def all_succeeded(jobs: dict[str, Job]) -> bool:
    return all(job.status == Phase.SUCCEEDED.value for job in jobs.values())
