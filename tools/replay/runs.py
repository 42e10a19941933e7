"""Reading runs: which execution a RUN argument means, the runs of an env, and one run in detail.

A run is (country, run date). The ledger has its record (status, failure, steps, metrics, gate decisions);
the execution history has what the ledger lacks for a run that did not finish: step timings, the run
state each step returned (job ARNs and statuses) and the failure (read in tools/replay/executions.py). Redrive
keeps the execution ARN, so an execution's history covers every attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from pipeline.ledger import DONE_STATUSES, attempt_series
from pipeline.ledger_codec import MALFORMED
from pipeline.model import PipelineInput
from pipeline.runs import failure_from_history, run_date_of
from tools.replay.aws import AwsClients, error_code
from tools.replay.env import Env
from tools.replay.errors import NotFound, UsageError
from tools.replay.executions import ACTIVE, UNSUCCESSFUL, latest_run_state, steps_of, utc
from tools.replay.ledger import Ledger

STATUSES = ("RUNNING", "SUCCEEDED", "SKIPPED", "REJECTED", "FAILED", "TIMED_OUT", "ABORTED", "MALFORMED")
# The status shown for a run whose ledger record has fields the code cannot decode (ledger_codec.MALFORMED).
MALFORMED_STATUS = "MALFORMED"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RUN = re.compile(r"^([A-Za-z]{2}):(.+)$")
_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):execution:([^:]+):([^:]+)$")


def parse_date(text: str, option: str) -> date:
    if _DATE.fullmatch(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise UsageError(f"bad date for {option}: {text!r} (expected YYYY-MM-DD, e.g. 2026-11-15)")


@dataclass
class RunRef:
    text: str
    execution_arn: str | None = None
    country: str | None = None
    run_date: date | None = None

    @property
    def label(self) -> str:
        return f"{self.country} {self.run_date}" if self.country else self.text


def parse_run(text: str, env: Env, region: str | None = None) -> RunRef:
    """RUN = an execution ARN of this env's pipeline, or CC:YYYY-MM-DD."""
    text = text.strip()
    arn = _EXECUTION_ARN.fullmatch(text)
    if arn:
        arn_region, account, machine, _ = arn.groups()
        if machine != env.state_machine:
            raise UsageError(f"{text} is not an execution of {env.state_machine} (env {env.name}); wrong --env?")
        if env.config.account and account != env.config.account:
            raise UsageError(f"{text} is in account {account} but env {env.name} is account {env.config.account}")
        if region and arn_region != region:
            raise UsageError(
                f"{text} is in region {arn_region} but this command uses {region}; pass --region {arn_region}"
            )
        return RunRef(text, execution_arn=text)
    run = _RUN.fullmatch(text)
    if run:
        return RunRef(text, country=env.country(run.group(1)), run_date=parse_date(run.group(2), "RUN"))
    raise UsageError(f"RUN must be an execution ARN or CC:YYYY-MM-DD (e.g. KR:2026-11-15), got {text!r}")


def run_of_input(raw: str | None) -> tuple[str, date] | None:
    """(country, run date) an execution's input asks for, as begin_run reads it."""
    try:
        request = PipelineInput.model_validate(json.loads(raw or "{}"))
    except (ValidationError, ValueError):
        return None
    return request.settings.country, run_date_of(request)


def rerun_hint(env: Env, country: str, run_date: date, *, force: bool = False, fresh_attempts: bool = False) -> str:
    """The command that starts a new run of the date."""
    return (
        f"personalize-runs rerun --env {env.name} --country {country} --date {run_date}"
        + (" --force" if force else "")
        + (" --fresh-attempts" if fresh_attempts else "")
    )


@dataclass
class Run:
    country: str
    run_date: date
    execution_arn: str | None
    record: dict[str, Any] | None  # the ledger's record of the date (may belong to another execution)
    execution: dict[str, Any] | None  # DescribeExecution (None once Step Functions forgot it, after 90 days)

    @property
    def label(self) -> str:
        return f"{self.country} {self.run_date}"

    @property
    def ledger_is_ours(self) -> bool:
        return bool(self.record and self.record.get("execution_arn") == self.execution_arn)

    @property
    def status(self) -> str:
        return effective_status(self.record if self.ledger_is_ours else None, self.execution)


def effective_status(record: dict[str, Any] | None, execution: dict[str, Any] | None) -> str:
    """What is true now: the ledger, corrected by the execution where the ledger cannot know yet.

    A redriven execution runs again while its record still says FAILED; an execution that just failed is
    still RUNNING in the ledger until the failure recorder has run.
    """
    ledger_status = record.get("status") if record else None
    live = execution.get("status") if execution else None
    if live in ACTIVE:
        return "RUNNING"
    if record and MALFORMED in record:
        return MALFORMED_STATUS
    if ledger_status == "RUNNING" and live in UNSUCCESSFUL:
        return live
    if ledger_status:
        return ledger_status
    return live or "UNKNOWN"


class Runs:
    def __init__(self, env: Env, clients: AwsClients, now: Callable[[], datetime]) -> None:
        self.env = env
        self._clients = clients
        self.where = clients.where
        self.now = now

    # Made at first use, so a command refused for its arguments makes no client (and looks up no credentials).
    @cached_property
    def sfn(self) -> Any:
        return self._clients.stepfunctions()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self._clients.dynamodb(), self.env.ledger_table, self.where)

    # ----------------------------------------------------------------------------- executions

    def describe(self, execution_arn: str | None) -> dict[str, Any] | None:
        if not execution_arn:
            return None
        try:
            return self.sfn.describe_execution(executionArn=execution_arn)
        except ClientError as error:
            if error_code(error) == "ExecutionDoesNotExist":
                return None
            raise

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event, oldest first (all attempts of a redriven execution)."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def current_state(self, execution_arn: str) -> str | None:
        """The state an execution is in now (the newest state entered)."""
        page = self.sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=50)
        for event in page["events"]:
            if event["type"].endswith("StateEntered"):
                return event["stateEnteredEventDetails"]["name"]
        return None

    # ----------------------------------------------------------------------------- finding runs

    def find(self, ref: RunRef) -> Run:
        if ref.execution_arn:
            execution = self.describe(ref.execution_arn)
            if execution is None:
                raise NotFound(
                    f"no execution {ref.execution_arn} ({self.where}); Step Functions keeps executions "
                    f"90 days after they end; the ledger keeps every run: personalize-runs list "
                    f"--env {self.env.name}"
                )
            asked = run_of_input(execution.get("input"))
            if asked is None:
                raise NotFound(f"execution {ref.execution_arn} was not started with a run request; it is not a run")
            country, run_date = asked
            return Run(country, run_date, ref.execution_arn, self.ledger.get_run(country, run_date), execution)
        if ref.country is None or ref.run_date is None:
            raise UsageError(f"RUN {ref.text!r} names neither an execution ARN nor a country and date (CC:YYYY-MM-DD)")
        record = self.ledger.get_run(ref.country, ref.run_date)
        if record is None:
            raise NotFound(
                f"no run of {ref.label} in env {self.env.name}: the ledger ({self.env.ledger_table}) has "
                f"no record of it; see `personalize-runs list --env {self.env.name} --country "
                f"{ref.country}`, or start it with `personalize-runs rerun --env {self.env.name} "
                f"--country {ref.country} --date {ref.run_date}`"
            )
        arn = record.get("execution_arn")
        return Run(ref.country, ref.run_date, arn, record, self.describe(arn))

    # ----------------------------------------------------------------------------- list

    def list(
        self, countries: list[str], statuses: set[str], since: date | None, until: date | None, limit: int
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for country in countries:
            # Without a status filter the newest `limit` of each country are enough; with one, read all.
            records = self.ledger.runs(country, since=since, until=until, limit=None if statuses else limit)
            for record in records:
                if record.get("sk", "").count("-") != 2:
                    continue
                row = self.row(country, record)
                if not statuses or row["status"] in statuses:
                    rows.append(row)
        rows.sort(key=lambda r: (r["run_date"], r["country"]), reverse=True)
        return rows[:limit]

    def row(self, country: str, record: dict[str, Any]) -> dict[str, Any]:
        status = record.get("status", "UNKNOWN")
        execution = None
        if status == "RUNNING" or status in UNSUCCESSFUL:  # a redrive or the failure recorder may be under way
            execution = self.describe(record.get("execution_arn"))
        live = effective_status(record, execution)
        failure = record.get("failure") or {}
        unsuccessful = live in UNSUCCESSFUL
        note = ""
        if execution and live != status and live != MALFORMED_STATUS:
            note = "redrive running" if live == "RUNNING" and status in UNSUCCESSFUL else f"ledger says {status}"
        reason = (failure.get("reason") if unsuccessful else record.get("reason")) or ""
        if live == MALFORMED_STATUS:
            reason = record[MALFORMED]
        return {
            "country": country,
            "run_date": record["sk"],
            "status": live,
            "failed_step": failure.get("step") if unsuccessful else None,
            "reason": reason,
            "seconds": self._seconds(record, live),
            "mode": record.get("mode"),
            "execution_arn": record.get("execution_arn"),
            "redrive_count": (execution or {}).get("redriveCount", 0),
            "ledger_status": status,
            "note": note,
        }

    def _seconds(self, record: dict[str, Any], status: str) -> int | None:
        started = utc(record.get("started_at"))
        if status == "RUNNING":
            return round((self.now() - started).total_seconds()) if started else None
        if isinstance(record.get("seconds"), int):
            return record["seconds"]
        finished = utc(record.get("finished_at"))
        return round((finished - started).total_seconds()) if started and finished else None

    # ----------------------------------------------------------------------------- show

    def details(self, run: Run) -> dict[str, Any]:
        execution = run.execution or {}
        events = self.history(run.execution_arn) if run.execution and run.execution_arn else []
        record = run.record if run.ledger_is_ours else None
        state = latest_run_state(events) or {}
        status = run.status
        admission = (state.get("run") or {}).get("admission")
        if admission and admission != "ADMITTED":  # begin_run turned it away: it ran nothing
            status = "NOT_ADMITTED"
        failure = None
        if status in UNSUCCESSFUL:
            failure = (record or {}).get("failure") or failure_from_history(events[::-1], status)
        earlier = (record or {}).get("earlier_failure") or (
            (record or {}).get("failure") if status in DONE_STATUSES else None
        )
        gate = (record or {}).get("gate") or state.get("gate") or []
        started = utc((record or {}).get("started_at")) or utc(execution.get("startDate"))
        finished = utc((record or {}).get("finished_at")) if status not in ("RUNNING",) else None
        if finished is None and status != "RUNNING":
            finished = utc(execution.get("stopDate"))
        details: dict[str, Any] = {
            "env": self.env.name,
            "country": run.country,
            "run_date": str(run.run_date),
            "status": status,
            "mode": (record or {}).get("mode") or (state.get("run") or {}).get("mode"),
            "execution_arn": run.execution_arn,
            "execution_status": execution.get("status"),
            "redrive_count": execution.get("redriveCount", 0),
            "redrive_date": utc(execution.get("redriveDate")),
            "started_at": started,
            "finished_at": finished,
            "seconds": round(((finished or self.now()) - started).total_seconds()) if started else None,
            "reason": (record or {}).get("reason") or (state.get("run") or {}).get("reason") or "",
            "failure": failure,
            "earlier_failure": earlier,
            "steps": steps_of(events, state, record, status, self.now, failure=failure, stopped=finished),
            "gate": gate,
            "metrics": (record or {}).get("metrics") or {d["recipe"]: d.get("new_metrics") for d in gate},
            "promoted": (record or {}).get("promoted") or state.get("promoted") or {},
            "counts": (record or {}).get("counts") or state.get("counts") or {},
            "report_url": (record or {}).get("report_url"),
            # Cost drivers and the estimated cost (pipeline.pricing); written by finish.
            "cost": (record or {}).get("cost") or {},
            "attempt_series": attempt_series(run.record),
            # Values a takeover could not decode, kept raw (pipeline.ledger.claim_run).
            "quarantined": (run.record or {}).get("quarantined") or [],
            "notes": [],
        }
        if run.record and not run.ledger_is_ours:
            details["notes"].append(
                f"the ledger's record of {run.label} belongs to execution "
                f"{run.record.get('execution_arn')} ({run.record.get('status')})"
            )
        if not run.execution:
            details["notes"].append(
                "execution history no longer available (Step Functions keeps 90 days): steps from the ledger only"
            )
        if run.record and MALFORMED in run.record:
            details["notes"].append(
                f"{run.record[MALFORMED]}; take the date over (the values that cannot be decoded are kept): "
                f"{rerun_hint(self.env, run.country, run.run_date, force=True)}"
            )
        quarantined = (run.record or {}).get("quarantined") or []
        if quarantined:
            fields = ", ".join(sorted({str(q.get("field")) for q in quarantined if isinstance(q, dict)}))
            details["notes"].append(
                f"{len(quarantined)} value(s) that could not be decoded are kept in the record's quarantined list "
                f"({fields})"
            )
        return details
