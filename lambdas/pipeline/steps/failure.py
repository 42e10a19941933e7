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
from pipeline.step_names import step_key
from pipeline.steps.begin import run_date_of

FAILED_EVENT_TYPES = {
    "TaskFailed": "taskFailedEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "FailStateEntered": None,
}


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


def _parse_cause(cause: str | None) -> dict[str, Any]:
    """Lambda errors arrive as {"errorType", "errorMessage", ...}; our messages are JSON themselves."""
    if not cause:
        return {}
    try:
        outer = json.loads(cause)
    except ValueError:
        return {"reason": cause}
    message = outer.get("errorMessage", outer) if isinstance(outer, dict) else outer
    try:
        inner = json.loads(message) if isinstance(message, str) else message
    except ValueError:
        return {"reason": message}
    if isinstance(inner, dict):
        return {
            "step": inner.get("step"),
            "reason": inner.get("failure_reason") or inner.get("errorMessage"),
            "detail": {k: v for k, v in inner.items() if k not in ("step", "failure_reason")},
        }
    return {"reason": str(inner)}


def failure_from_history(events: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """{step, state, error, reason} of a stopped execution; `events` newest first. `step` is the run-state key
    (pipeline/step_names.py), or the state's own name for a state that is no step's (Notify, ...).

    FAILED: the newest task/state failure (the one retries did not absorb) and the state it happened in.
    TIMED_OUT / ABORTED: the execution event itself, and the state that was running then.
    """
    failure: dict[str, Any] = {
        "error": status,
        "reason": f"execution {status.lower()}",
        "state": None,
        "step": None,
    }
    wanted = (
        {"ExecutionTimedOut", "ExecutionAborted"}
        if status in ("TIMED_OUT", "ABORTED")
        else set(FAILED_EVENT_TYPES) - {"ExecutionTimedOut", "ExecutionAborted", "ExecutionFailed"}
    )
    for index, event in enumerate(events):
        if event["type"] not in wanted:
            continue
        details = event.get(FAILED_EVENT_TYPES[event["type"]] or "", {}) or {}
        failure["error"] = details.get("error") or failure["error"]
        failure.update({k: v for k, v in _parse_cause(details.get("cause")).items() if v})
        for earlier in events[index:]:
            if earlier["type"].endswith("StateEntered"):
                failure["state"] = earlier["stateEnteredEventDetails"]["name"]
                break
        break
    # A step that crashed (no JSON cause naming it) or a stop while it waited: the step its state belongs to.
    failure["step"] = failure["step"] or (step_key(failure["state"]) if failure["state"] else None)
    return failure


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
