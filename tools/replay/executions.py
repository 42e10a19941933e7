"""What Step Functions says about a run's execution: its status groups, its timestamps, and the run's steps as
its history shows them (the tool's `show` and `redrive` read them; the ledger has the rest, tools/replay/runs.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.step_names import step_key

UNSUCCESSFUL = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
ACTIVE = frozenset({"RUNNING", "PENDING_REDRIVE"})


def utc(value: Any) -> datetime | None:
    """History timestamps (datetime), ledger/run-state timestamps (ISO strings) -> aware UTC datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def latest_run_state(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest run state a step passed on (a Task's output, or the failed Task's input)."""
    for event in reversed(events):
        if event["type"] == "TaskStateExited":
            raw = event["stateExitedEventDetails"].get("output")
        elif event["type"] == "TaskStateEntered":
            raw = event["stateEnteredEventDetails"].get("input")
        else:
            continue
        try:
            state = json.loads(raw or "null")
        except ValueError:
            continue
        if isinstance(state, dict) and "run" in state and "settings" in state:
            return state
    return None


def steps_of(
    events: list[dict[str, Any]],
    state: dict[str, Any],
    record: dict[str, Any] | None,
    status: str,
    now: Callable[[], datetime],
    *,
    failure: dict[str, Any] | None = None,
    stopped: datetime | None = None,
) -> list[dict[str, Any]]:
    """One row per step (Task state) in the order the run reached them.

    Timings and jobs come from the step's own record (the run state; the ledger for finished runs), which
    spans its polls and waits; steps without one (begin, gate, finish) are timed from the history.
    """
    recorded: dict[str, Any] = {**(state.get("steps") or {}), **((record or {}).get("steps") or {})}
    spans: dict[str, dict[str, Any]] = {}
    failed_state = None
    for event in events:
        kind = event["type"]
        if kind == "TaskStateEntered":
            name = event["stateEnteredEventDetails"]["name"]
            span = spans.setdefault(name, {"entered": event["timestamp"], "exited": None, "entries": 0})
            span["entries"] += 1
            span["open"] = True
            failed_state = name
        elif kind == "TaskStateExited":
            name = event["stateExitedEventDetails"]["name"]
            if name in spans:
                spans[name]["exited"] = event["timestamp"]
                spans[name]["open"] = False
    rows = []
    names = list(spans) or [n for n in recorded]
    for name in names:
        span = spans.get(name, {})
        key = step_key(name) if span else name
        own = recorded.get(key) or {}
        failed_here = name == failed_state and status in UNSUCCESSFUL and span.get("open")
        if failed_here:
            step_status = status
        elif own.get("status"):
            step_status = own["status"]
        elif span.get("open"):
            step_status = "RUNNING" if status == "RUNNING" else status
        else:
            step_status = "SUCCEEDED"
        started = utc(own.get("started_at")) or utc(span.get("entered"))
        finished = utc(own.get("finished_at")) or (utc(span.get("exited")) if not span.get("open") else None)
        if failed_here and finished is None:
            finished = stopped  # when the run stopped (the failure recorder's time)
        end = finished or (now() if step_status == "RUNNING" else None)
        jobs = []
        for job_key, job in (own.get("jobs") or {}).items():
            row = {
                "job": job_key,
                "name": job.get("name"),
                "arn": job.get("arn"),
                "status": job.get("status"),
                "failure_reason": job.get("failure_reason"),
            }
            detail = (failure or {}).get("detail") or {}
            # The run state predates the failure: the job failed.
            if failure is not None and failed_here and detail.get("job") == job_key:
                row.update(status="FAILED", arn=detail.get("arn") or row["arn"], failure_reason=failure.get("reason"))
            jobs.append(row)
        rows.append(
            {
                "step": key,
                "state": name if span else None,
                "status": step_status,
                "started_at": started,
                "finished_at": finished,
                "seconds": round((end - started).total_seconds()) if started and end else None,
                "polls": own.get("polls"),
                "note": own.get("note") or "",
                "jobs": jobs,
            }
        )
    return rows
