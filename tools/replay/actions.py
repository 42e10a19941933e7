"""What changes things: redrive a stopped execution, start reruns, and wait for an execution to end.

Each action is planned first (every check, nothing changed: what --dry-run prints), then applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pipeline.jobs import MAX_ATTEMPTS
from pipeline.ledger import DONE_STATUSES
from pipeline.ledger_codec import MALFORMED
from pipeline.model import PipelineInput
from pipeline.runs import failure_from_history
from tools.replay.aws import error_code
from tools.replay.errors import NotFound, OperationFailed, Refused, UsageError
from tools.replay.executions import ACTIVE, UNSUCCESSFUL, utc
from tools.replay.runs import Run, Runs
from tools.replay.runs import rerun_hint as rerun_command

REDRIVABLE_PERIOD = timedelta(days=14)  # Step Functions redrives executions that stopped in the last 14 days
MAX_RANGE_DAYS = 31
MAX_NAME_ATTEMPTS = 20


# ------------------------------------------------------------------------------------------- redrive


@dataclass
class RedrivePlan:
    run: Run
    execution_arn: str  # the run's execution, which plan_redrive found in Step Functions
    resume_state: str | None
    failure: dict[str, Any] | None
    client_token: str

    def summary(self) -> dict[str, Any]:
        execution = self.run.execution or {}
        return {
            "action": "redrive",
            "country": self.run.country,
            "run_date": str(self.run.run_date),
            "execution_arn": self.execution_arn,
            "status": execution.get("status"),
            "resume_state": self.resume_state,
            "failure": self.failure,
            "redrive_count": execution.get("redriveCount", 0) + 1,
        }


def rerun_hint(runs: Runs, run: Run, *, force: bool = False, fresh_attempts: bool = False) -> str:
    return rerun_command(runs.env, run.country, run.run_date, force=force, fresh_attempts=fresh_attempts)


def attempts_exhausted(failure: dict[str, Any] | None) -> bool:
    """Whether a run failed because a job failed on every attempt of its series (pipeline.jobs.ensure_job): a
    replay in the same series fails again at once."""
    detail = (failure or {}).get("detail")
    return isinstance(detail, dict) and detail.get("attempts_exhausted") is True


def plan_redrive(runs: Runs, run: Run) -> RedrivePlan:
    """Every reason Step Functions (or the ledger) would refuse, checked before asking anything."""
    arn, execution = run.execution_arn, run.execution
    if arn is None:
        raise NotFound(
            f"the ledger's record of {run.label} names no execution: there is nothing to redrive; start a new run "
            f"instead: {rerun_hint(runs, run)}"
        )
    if execution is None:
        raise NotFound(
            f"the execution of {run.label} ({run.execution_arn}) is no longer kept by Step Functions; "
            f"start a new run instead: {rerun_hint(runs, run)}"
        )
    status = execution["status"]
    if status in ACTIVE:
        raise Refused(
            f"{run.label} is still running ({arn}); nothing to redrive. Follow it with: "
            f"personalize-runs show --env {runs.env.name} {arn}"
        )
    if run.record and MALFORMED in run.record:
        raise Refused(
            f"{run.record[MALFORMED]}: a redrive would resume on that record; take the date over instead (the "
            f"values that cannot be decoded are kept): {rerun_hint(runs, run, force=True)}"
        )
    if status == "SUCCEEDED":
        raise Refused(
            f"execution {arn} of {run.label} succeeded; there is nothing to redrive. To run the date "
            f"again: {rerun_hint(runs, run, force=True)}"
        )
    if status not in UNSUCCESSFUL:
        raise Refused(f"execution {arn} is {status}; only FAILED, TIMED_OUT or ABORTED executions can be redriven")
    stopped = utc(execution.get("stopDate"))
    if stopped and runs.now() - stopped > REDRIVABLE_PERIOD:
        raise Refused(
            f"execution {arn} of {run.label} stopped on {stopped:%Y-%m-%d}, more than 14 days ago: Step "
            f"Functions can no longer redrive it. Start a new run instead (finished Personalize jobs "
            f"are reused): {rerun_hint(runs, run)}"
        )
    if execution.get("redriveStatus") == "NOT_REDRIVABLE":
        reason = execution.get("redriveStatusReason") or "not redrivable"
        raise Refused(
            f"Step Functions cannot redrive {arn}: {reason}. Start a new run instead: {rerun_hint(runs, run)}"
        )
    holder = (run.record or {}).get("execution_arn")
    if run.record and holder != arn:
        holder_status = run.record.get("status")
        live = runs.describe(holder)
        if live and live["status"] in ACTIVE:
            raise Refused(
                f"another execution is running {run.label} now: {holder}; redriving {arn} would "
                f"compete with it. Follow it: personalize-runs show --env {runs.env.name} {holder}"
            )
        if holder_status in DONE_STATUSES:
            raise Refused(
                f"{run.label} already ended {holder_status} in execution {holder}; nothing to redrive. "
                f"To run the date again: {rerun_hint(runs, run, force=True)}"
            )
        raise Refused(
            f"a newer execution holds {run.label}: {holder} ({holder_status}); redrive that one "
            f"instead: personalize-runs redrive --env {runs.env.name} {holder}"
        )
    events = runs.history(arn)
    resume = next(
        (e["stateEnteredEventDetails"]["name"] for e in reversed(events) if e["type"].endswith("StateEntered")), None
    )
    failure = (run.record or {}).get("failure") if run.ledger_is_ours else None
    failure = failure or failure_from_history(events[::-1], status)
    if attempts_exhausted(failure):
        raise Refused(
            f"{run.label}: all {MAX_ATTEMPTS} attempts of its {failure.get('step')} job "
            f"{(failure.get('detail') or {}).get('job')} failed in this attempt series; a redrive stays in the "
            f"series and would fail again at once. Once the cause is fixed, start a fresh series: "
            f"{rerun_hint(runs, run, fresh_attempts=True)}"
        )
    # Same token for the same attempt: running the command twice within 15 minutes redrives once.
    attempt = execution.get("redriveCount", 0) + 1
    token = f"personalize-runs-{attempt}-{hashlib.sha256(arn.encode()).hexdigest()[:32]}"
    return RedrivePlan(run, arn, resume, failure, token)


def apply_redrive(runs: Runs, plan: RedrivePlan) -> dict[str, Any]:
    try:
        response = runs.sfn.redrive_execution(executionArn=plan.execution_arn, clientToken=plan.client_token)
    except ClientError as error:
        code = error_code(error)
        if code == "ExecutionNotRedrivable":
            message = error.response.get("Error", {}).get("Message", "")
            raise Refused(
                f"Step Functions refused to redrive {plan.execution_arn}: {message}. Start a new "
                f"run instead: {rerun_hint(runs, plan.run)}"
            ) from None
        raise
    return {**plan.summary(), "redrive_date": utc(response.get("redriveDate"))}


# ------------------------------------------------------------------------------------------- rerun


@dataclass
class RerunItem:
    run_date: date
    action: str  # start | skip
    reason: str
    previous: dict[str, Any] | None = None
    execution_name: str | None = None
    execution_arn: str | None = None
    status: str | None = None
    detail: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "run_date": str(self.run_date),
            "action": self.action,
            "reason": self.reason,
            "previous": self.previous,
            "execution_name": self.execution_name,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass
class RerunPlan:
    country: str
    force: bool
    state_machine_arn: str
    schedule: str
    request: dict[str, Any]  # the schedule's input without its fire time
    items: list[RerunItem] = field(default_factory=list)
    fresh_attempts: bool = False  # each run grants the date's jobs a fresh attempt series (PipelineInput)

    @property
    def to_start(self) -> list[RerunItem]:
        return [item for item in self.items if item.action == "start"]


def date_range(first: date, last: date | None) -> list[date]:
    last = last or first
    if last < first:
        raise UsageError(f"--to {last} is before --date {first}")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise UsageError(f"{days} dates asked; rerun at most {MAX_RANGE_DAYS} at once")
    return [first + timedelta(days=offset) for offset in range(days)]


def plan_rerun(
    runs: Runs,
    scheduler: Callable[[], Any],
    country: str,
    dates: list[date],
    *,
    force: bool,
    fresh_attempts: bool = False,
) -> RerunPlan:
    """`scheduler` makes the Scheduler client, once the dates are known to be valid."""
    env = runs.env
    zone = env.config.country(country).time_zone
    today = runs.now().astimezone(ZoneInfo(zone)).date()
    future = [d for d in dates if d > today]
    if future:
        raise UsageError(f"{future[0]} is in the future for {country} (today in {zone} is {today})")
    name = env.schedule(country)
    try:
        schedule = scheduler().get_schedule(Name=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise NotFound(
                f"schedule {name} not found ({runs.where}): is env {env.name} deployed in this account "
                "and region? (check --profile, --region)"
            ) from None
        raise
    target = schedule["Target"]
    machine = target["Arn"]
    if machine.rsplit(":", 1)[-1] != env.state_machine:
        raise OperationFailed(
            f"schedule {name} starts {machine}, not {env.state_machine}: the deployment "
            "differs from this tool's env; nothing started"
        )
    request = json.loads(target.get("Input") or "{}")
    request.pop("scheduled_time", None)  # "<aws.scheduler.scheduled-time>": the run date is explicit here
    try:
        PipelineInput.model_validate({**request, "run_date": str(dates[0])})
    except ValidationError as error:
        raise OperationFailed(
            f"schedule {name}'s input is not a run request ({error.error_count()} problem(s): "
            f"{error.errors()[0]['msg']}); nothing started"
        ) from None
    plan = RerunPlan(country, force, machine, name, request, fresh_attempts=fresh_attempts)
    for run_date in dates:
        item = _decide(runs, country, run_date, force, fresh_attempts)
        if fresh_attempts and item.action == "start":
            item.reason += "; fresh attempt series"
        plan.items.append(item)
    return plan


def _decide(runs: Runs, country: str, run_date: date, force: bool, fresh_attempts: bool) -> RerunItem:
    record = runs.ledger.get_run(country, run_date)
    if record is None:
        return RerunItem(run_date, "start", "no run recorded yet")
    status, holder = record.get("status"), record.get("execution_arn")
    previous = {"status": status, "execution_arn": holder}
    if MALFORMED in record:
        return _decide_malformed(runs, record, run_date, previous, force)
    if status in DONE_STATUSES:
        if force:
            return RerunItem(run_date, "start", f"forced: redo a {status} run", previous)
        return RerunItem(run_date, "skip", f"already {status} (--force runs it again)", previous)
    live = runs.describe(holder)
    if live and live["status"] in ACTIVE:
        what = "being redriven" if status != "RUNNING" else "running"
        return RerunItem(run_date, "skip", f"{what} now: {holder}", previous)
    failure = record.get("failure") or {}
    if attempts_exhausted(failure) and not fresh_attempts:
        return RerunItem(
            run_date,
            "skip",
            f"all {MAX_ATTEMPTS} attempts of its {failure.get('step') or '?'} job failed in this attempt series: "
            "once the cause is fixed, --fresh-attempts starts a fresh series",
            previous,
        )
    if status == "RUNNING":
        return RerunItem(
            run_date,
            "start",
            f"its execution ended {live['status'] if live else 'unknown'} without a final record",
            previous,
        )
    return RerunItem(
        run_date,
        "start",
        f"last run {status} at {failure.get('step') or '?'}: {failure.get('reason') or 'no reason recorded'}",
        previous,
    )


def _decide_malformed(
    runs: Runs, record: dict[str, Any], run_date: date, previous: dict[str, Any], force: bool
) -> RerunItem:
    """A record with fields the code cannot decode: only a forced run takes the date over (BeginRun keeps those
    values, raw, in the record's quarantined list)."""
    holder = record.get("execution_arn")
    live = runs.describe(holder)
    if live and live["status"] in ACTIVE:
        return RerunItem(run_date, "skip", f"running now: {holder}", previous)
    if force:
        return RerunItem(run_date, "start", f"forced: take over; {record[MALFORMED]}", previous)
    return RerunItem(
        run_date, "skip", f"{record[MALFORMED]}; --force takes the date over (those values are kept)", previous
    )


def _rerun_name_prefix(country: str, run_date: date) -> str:
    return f"{country}-{run_date}-rerun-"


def execution_name(country: str, run_date: date, n: int) -> str:
    return f"{_rerun_name_prefix(country, run_date)}{n}"


def execution_name_pattern(country: str, run_date: date) -> str:
    """The name a rerun of the date will get, `<n>` standing for the number start_rerun picks (for dry runs)."""
    return f"{_rerun_name_prefix(country, run_date)}<n>"


def start_rerun(runs: Runs, plan: RerunPlan, item: RerunItem) -> str:
    """Start one date under the next free `<CC>-<date>-rerun-<n>` name (execution names stay taken 90 days).

    Records the name, ARN and RUNNING on `item`; returns the started execution's ARN."""
    prefix = plan.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
    request = {**plan.request, "run_date": str(item.run_date)}
    if plan.force:
        request["force"] = True
    if plan.fresh_attempts:
        request["fresh_attempts"] = True
    n = 1
    for _ in range(MAX_NAME_ATTEMPTS):
        while runs.describe(f"{prefix}:{execution_name(plan.country, item.run_date, n)}") is not None:
            n += 1
        name = execution_name(plan.country, item.run_date, n)
        try:
            started = runs.sfn.start_execution(
                stateMachineArn=plan.state_machine_arn, name=name, input=json.dumps(request)
            )
        except ClientError as error:
            if error_code(error) == "ExecutionAlreadyExists":  # someone took the name just now: next one
                n += 1
                continue
            raise
        arn: str = started["executionArn"]
        item.execution_name, item.execution_arn, item.status = name, arn, "RUNNING"
        return arn
    raise OperationFailed(f"no free execution name for {plan.country} {item.run_date} after {MAX_NAME_ATTEMPTS} tries")


# ------------------------------------------------------------------------------------------- waiting


def wait(
    runs: Runs,
    execution_arn: str,
    label: str,
    *,
    progress: Callable[[str], None],
    poll_seconds: float,
    sleep: Callable[[float], None],
    heartbeat_seconds: float = 300,
) -> dict[str, Any]:
    """Poll until the execution ends; a progress line whenever its state changes (and every 5 min)."""
    last_line: tuple[str, str | None] | None = None
    quiet = 0.0
    while True:
        described = runs.sfn.describe_execution(executionArn=execution_arn)
        status = described["status"]
        if status not in ACTIVE:
            return described
        state = runs.current_state(execution_arn)
        began = utc(described.get("redriveDate")) or utc(described.get("startDate"))
        if (status, state) != last_line or quiet >= heartbeat_seconds:
            elapsed = _clock(runs.now() - began) if began else "?"
            attempt = f" (redrive {described['redriveCount']})" if described.get("redriveCount") else ""
            progress(f"[{elapsed}] {label}: {status}{attempt} in {state or '?'}")
            last_line, quiet = (status, state), 0.0
        sleep(poll_seconds)
        quiet += poll_seconds


def _clock(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def outcome(described: dict[str, Any]) -> tuple[str, str]:
    """(status, detail) of an ended execution: a run that was not admitted succeeds without running."""
    status = described["status"]
    if status == "SUCCEEDED":
        try:
            output = json.loads(described.get("output") or "{}")
        except ValueError:
            output = {}
        run = output.get("run") or {}
        if run.get("admission") not in (None, "ADMITTED"):
            return "NOT_ADMITTED", f"{run['admission']}: {run.get('reason', '')}"
        return (output.get("outcome") or {}).get("status") or status, (output.get("outcome") or {}).get("reason", "")
    return status, f"{described.get('error') or ''}: {_reason(described.get('cause'))}".strip(": ")


def _reason(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        outer = json.loads(cause)
        inner = json.loads(outer.get("errorMessage", "{}"))
        return inner.get("failure_reason") or outer.get("errorMessage", cause)
    except (ValueError, AttributeError, TypeError):
        return cause
