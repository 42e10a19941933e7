"""What a run is, read from outside it: its run date and, for an execution that stopped, which step failed and
why. The failure recorder (pipeline.steps.failure) and the operators' tool (tools/replay) read runs the same way.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from common import clock
from pipeline.model import PipelineInput
from pipeline.step_names import step_key


def run_date_of(request: PipelineInput) -> date:
    """An explicit date wins; otherwise the schedule's fire time read in the country's own time zone."""
    if request.run_date:
        return request.run_date
    moment = request.scheduled_time or clock.now()
    return moment.astimezone(ZoneInfo(request.settings.time_zone)).date()


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
