"""Record an execution that did not reach the end (FAILED, TIMED_OUT, ABORTED).

Failing steps are not caught inside the state machine, on purpose: Step Functions redrive resumes an
execution at its failed state, which only helps if that state is the step that failed (a catch-all
routing to a Fail state would make every redrive fail again at once). EventBridge delivers the status
change here instead; the execution history tells which state failed and why (our step errors carry a JSON
cause with Personalize's failureReason).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from pydantic import ValidationError

from common import clients, clock
from pipeline import ledger
from pipeline.model import PipelineInput
from pipeline.notify import notification
from pipeline.runs import failure_from_history, run_date_of


def _history(execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": 200}
    while True:
        page = clients.stepfunctions().get_execution_history(**kwargs)
        events.extend(page["events"])
        # The failure is near the end; 1,000 events back is far more than one step's polling.
        if "nextToken" not in page or len(events) >= 1000:
            # Newest first by event id, whatever order the pages came in.
            return sorted(events, key=lambda event: event["id"], reverse=True)
        kwargs["nextToken"] = page["nextToken"]


def record_failure(detail: dict[str, Any], env: str) -> dict[str, Any]:
    execution_arn, status = detail["executionArn"], detail["status"]
    failure = failure_from_history(_history(execution_arn), status)
    try:
        request = PipelineInput.model_validate(json.loads(detail.get("input") or "{}"))
        country, run_date = request.settings.country, run_date_of(request)
    except (ValidationError, ValueError):
        # Not a run request at all (hand-started with bad input): nothing to record, but still tell people.
        country, run_date = "??", date.today()
    record = {
        "env": env,
        "country": country,
        "run_date": str(run_date),
        "status": status,
        "execution_arn": execution_arn,
        "finished_at": clock.now().isoformat(),
        "failure": failure,
    }
    if country != "??":
        try:
            ledger.write_run(country, run_date, record, execution_arn=execution_arn, unless_done=True)
        except clients.dynamodb().exceptions.ConditionalCheckFailedException:
            current = ledger.get_run(country, run_date) or {}
            if current.get("execution_arn") == execution_arn and current.get("status") in ledger.DONE_STATUSES:
                return notification(_late_failure(country, run_date, record, current))
            # Another execution holds this date now (e.g. a rerun already started): keep its record.
            record["note"] = "ledger not updated: another execution holds this date"
    return notification(record)


def _late_failure(country: str, run_date: date, record: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The execution stopped after Finish had recorded the run (e.g. aborted while notifying): the run keeps
    its status, the failure is kept beside it, and the notification says both."""
    failure = record["failure"]
    ledger.write_run(country, run_date, {"late_failure": failure}, execution_arn=record["execution_arn"])
    return {
        **record,
        "status": current["status"],
        "failure": None,
        "reason": f"the run was recorded {current['status']}; afterwards the execution ended {record['status']} "
        f"in {failure.get('state') or 'an unknown state'} ({failure.get('error')}): {failure.get('reason')}",
        "report_url": current.get("report_url"),
    }
