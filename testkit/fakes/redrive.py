"""A Step Functions client with RedriveExecution, for tests: moto executes the definitions, this adds redrive.

moto has no RedriveExecution. This wrapper follows AWS's documented behaviour (API reference:
RedriveExecution, DescribeExecution.redriveStatus / redriveStatusReason, GetExecutionHistory):

- Only STANDARD executions that are FAILED, TIMED_OUT or ABORTED can be redriven; RUNNING and SUCCEEDED
  ones raise `ExecutionNotRedrivable`, as does one stopped more than 14 days ago ("redrivable period"),
  one open for more than a year, or one whose history reached the event limit (25,000).
- A redrive continues at the unsuccessful state with the input that state had; the states that succeeded
  are not run again. The execution keeps its ARN: DescribeExecution / ListExecutions report the same
  execution, RUNNING again, with `redriveCount` + 1 and `redriveDate`; its history continues with an
  `ExecutionRedriven` event and the resumed states.
- A client token makes the call idempotent: the same token within 15 minutes (AWS keeps the last 10)
  returns the first answer without redriving again.

How: the resumed part runs as a moto execution of a copy of the same definition whose StartAt is the
unsuccessful state (a hidden "shadow" state machine). Context-object paths (`$$.Execution.Id`, ...) in the
copy are replaced by the original execution's values, so the resumed states see the original ARN as they
would in AWS. Every view this client gives (describe, list, history, stop) merges the shadow into the
original execution. Redrive of Map/Parallel iterations is not modelled (our pipeline has neither).

`on_status_change(execution_arn, status)` plays the EventBridge rule on execution status changes: it is
called once per unsuccessful end (first attempt and each redrive), the first time this client observes it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

REDRIVABLE_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
REDRIVABLE_PERIOD = timedelta(days=14)
MAX_OPEN_TIME = timedelta(days=365)
HISTORY_EVENT_LIMIT = 25_000
CLIENT_TOKEN_LIFETIME = timedelta(minutes=15)
_EXECUTION_ENDED = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})
REMEMBERED_TOKENS = 10

# The context-object values a resumed state may read; replaced by the original execution's own.
_CONTEXT_PATHS = (
    "$$.Execution.Id",
    "$$.Execution.Name",
    "$$.Execution.StartTime",
    "$$.Execution.Input",
    "$$.StateMachine.Id",
    "$$.StateMachine.Name",
)


@dataclass
class _Attempt:
    shadow_arn: str
    redrive_date: datetime
    resumed_at: str  # state name


@dataclass
class _Redriven:
    attempts: list[_Attempt] = field(default_factory=list)
    tokens: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)  # (token, first use, answer)


class RedrivableStepFunctions:
    """Wraps a (moto) Step Functions client; everything not overridden here passes straight through."""

    def __init__(
        self,
        client: Any,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        history_event_limit: int = HISTORY_EVENT_LIMIT,
        on_status_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self._client = client
        self._now = now
        self._history_event_limit = history_event_limit
        self._on_status_change = on_status_change
        self._redriven: dict[str, _Redriven] = {}
        self._shadows: set[str] = set()  # shadow state machine ARNs (hidden from list_state_machines)
        self._reported: set[tuple[str, int]] = set()  # (execution ARN, redrive count) already delivered
        self._ended_histories: dict[tuple[str, int], list[dict[str, Any]]] = {}  # (ARN, attempts) -> events
        self._lock = threading.Lock()
        self.redrive_calls: list[dict[str, Any]] = []  # every RedriveExecution request, for assertions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @property
    def exceptions(self) -> Any:
        return self._client.exceptions

    # ------------------------------------------------------------------------------------ errors

    def _error(self, code: str, message: str, operation: str) -> ClientError:
        factory = getattr(self._client.exceptions, code, None)
        response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return factory(response, operation) if factory else ClientError(response, operation)

    # ------------------------------------------------------------------------------------ reading

    def describe_execution(self, executionArn: str, **kwargs: Any) -> dict[str, Any]:
        original = self._client.describe_execution(executionArn=executionArn, **kwargs)
        described = self._merged(original)
        self._maybe_report(described)
        return described

    def _merged(self, original: dict[str, Any]) -> dict[str, Any]:
        arn = original["executionArn"]
        out = {k: v for k, v in original.items() if k != "ResponseMetadata"}
        redriven = self._redriven.get(arn)
        if redriven and redriven.attempts:
            latest = redriven.attempts[-1]
            try:
                shadow = self._client.describe_execution(executionArn=latest.shadow_arn)
            except self._client.exceptions.ExecutionDoesNotExist:  # redriven, resumed part not started yet
                shadow = {"status": "RUNNING"}
            for key in ("status", "stopDate", "output", "outputDetails", "error", "cause"):
                out.pop(key, None)
                if key in shadow:
                    out[key] = shadow[key]
            out["redriveCount"] = len(redriven.attempts)
            out["redriveDate"] = latest.redrive_date
        else:
            out["redriveCount"] = 0
        status, reason = self._redrive_status(out)
        out["redriveStatus"] = status
        if reason:
            out["redriveStatusReason"] = reason
        return out

    def _redrive_status(self, described: dict[str, Any]) -> tuple[str, str | None]:
        """DescribeExecution's redriveStatus: NOT_REDRIVABLE exactly when RedriveExecution would refuse."""
        status = described["status"]
        if status == "RUNNING":
            return "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"
        if status == "SUCCEEDED":
            return "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven"
        now = self._now()
        if now - described["startDate"] > MAX_OPEN_TIME:
            return "NOT_REDRIVABLE", "Execution has exceeded the max execution time"
        if described.get("stopDate") and now - described["stopDate"] > REDRIVABLE_PERIOD:
            return "NOT_REDRIVABLE", "Execution redrivable period exceeded"
        if len(self._events(described["executionArn"])) >= self._history_event_limit:
            return "NOT_REDRIVABLE", "Execution history event limit exceeded"
        return "REDRIVABLE", None

    def _maybe_report(self, described: dict[str, Any]) -> None:
        """EventBridge's status-change event, delivered once per unsuccessful end of each attempt."""
        if self._on_status_change is None or described["status"] not in REDRIVABLE_STATUSES:
            return
        key = (described["executionArn"], described.get("redriveCount", 0))
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        self._on_status_change(described["executionArn"], described["status"])

    def _events(self, execution_arn: str) -> list[dict[str, Any]]:
        """The whole history of an execution, redrives included, with ids renumbered as one sequence.

        An execution that has ended keeps its history until it is redriven (a new attempt), so that history
        is read from moto once per attempt: describe_execution reads it for redriveStatus at every poll."""
        redriven = self._redriven.get(execution_arn)
        key = (execution_arn, len(redriven.attempts) if redriven else 0)
        ended = self._ended_histories.get(key)
        if ended is None:
            events = self._read_events(execution_arn)
            if not events or events[-1]["type"] not in _EXECUTION_ENDED:
                return events
            ended = self._ended_histories[key] = events
        return [dict(event) for event in ended]  # callers may change what they get

    def _read_events(self, execution_arn: str) -> list[dict[str, Any]]:
        events = [
            dict(e) for e in self._client.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        ]
        redriven = self._redriven.get(execution_arn)
        if not redriven or not redriven.attempts:
            return events
        for count, attempt in enumerate(redriven.attempts, start=1):
            events.append(
                {
                    "timestamp": attempt.redrive_date,
                    "type": "ExecutionRedriven",
                    "executionRedrivenEventDetails": {"redriveCount": count},
                }
            )
            try:
                shadow = self._client.get_execution_history(executionArn=attempt.shadow_arn, maxResults=1000)["events"]
            except self._client.exceptions.ExecutionDoesNotExist:
                shadow = []
            # the redriven execution did not start again: its shadow's ExecutionStarted is not part of it
            events.extend(dict(e) for e in shadow if e["type"] != "ExecutionStarted")
        for index, event in enumerate(events, start=1):  # one contiguous sequence, as AWS numbers it
            event["id"], event["previousEventId"] = index, index - 1
        return events

    def get_execution_history(
        self,
        executionArn: str,
        maxResults: int = 100,
        reverseOrder: bool = False,
        nextToken: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        events = self._events(executionArn)
        if reverseOrder:
            events.reverse()
        start = int(nextToken or 0)
        size = maxResults or 100
        page = events[start : start + size]
        out: dict[str, Any] = {"events": page}
        if start + size < len(events):
            out["nextToken"] = str(start + size)
        return out

    def list_executions(
        self,
        stateMachineArn: str,
        statusFilter: str | None = None,
        redriveFilter: str | None = None,
        maxResults: int = 100,
        nextToken: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"stateMachineArn": stateMachineArn}
        while True:
            page = self._client.list_executions(**kwargs)
            items.extend(page["executions"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        merged = []
        for item in items:
            described = self._merged(self._client.describe_execution(executionArn=item["executionArn"]))
            row = {
                k: described[k]
                for k in (
                    "executionArn",
                    "stateMachineArn",
                    "name",
                    "status",
                    "startDate",
                    "stopDate",
                    "redriveCount",
                    "redriveDate",
                )
                if k in described
            }
            if statusFilter and row["status"] != statusFilter:
                continue
            if redriveFilter == "REDRIVEN" and not row["redriveCount"]:
                continue
            if redriveFilter == "NOT_REDRIVEN" and row["redriveCount"]:
                continue
            merged.append(row)
        merged.sort(key=lambda r: r["startDate"], reverse=True)
        start = int(nextToken or 0)
        size = maxResults or 100
        out: dict[str, Any] = {"executions": merged[start : start + size]}
        if start + size < len(merged):
            out["nextToken"] = str(start + size)
        return out

    def list_state_machines(self, **kwargs: Any) -> dict[str, Any]:
        page = self._client.list_state_machines(**kwargs)
        page["stateMachines"] = [m for m in page["stateMachines"] if m["stateMachineArn"] not in self._shadows]
        return page

    def get_paginator(self, operation: str) -> Any:
        raise NotImplementedError(f"the redrive fake does not page {operation} with a paginator; call it directly")

    # ------------------------------------------------------------------------------------ changing

    def stop_execution(self, executionArn: str, **kwargs: Any) -> dict[str, Any]:
        redriven = self._redriven.get(executionArn)
        target = redriven.attempts[-1].shadow_arn if redriven and redriven.attempts else executionArn
        return self._client.stop_execution(executionArn=target, **kwargs)

    def redrive_execution(self, executionArn: str, clientToken: str | None = None) -> dict[str, Any]:
        self.redrive_calls.append({"executionArn": executionArn, "clientToken": clientToken})
        now = self._now()
        with self._lock:
            redriven = self._redriven.setdefault(executionArn, _Redriven())
            redriven.tokens = [t for t in redriven.tokens if now - t[1] <= CLIENT_TOKEN_LIFETIME]
            for token, _, response in redriven.tokens:
                if clientToken and token == clientToken:
                    return dict(response)
        described = self.describe_execution(executionArn=executionArn)
        machine = self._client.describe_state_machine(stateMachineArn=described["stateMachineArn"])
        if machine.get("type") == "EXPRESS":
            raise self._error(
                "ValidationException", "RedriveExecution is not supported by EXPRESS state machines", "RedriveExecution"
            )
        status, reason = self._redrive_status(described)
        if status != "REDRIVABLE":
            raise self._error("ExecutionNotRedrivable", reason or "not redrivable", "RedriveExecution")

        state, state_input = self._unsuccessful_state(executionArn)
        definition = json.loads(machine["definition"])
        if state not in definition["States"]:
            raise NotImplementedError(f"state {state!r} is inside a Map/Parallel state: not modelled by this fake")
        definition["StartAt"] = state
        definition = _pin_context(
            definition,
            {
                "$$.Execution.Id": executionArn,
                "$$.Execution.Name": described["name"],
                "$$.Execution.StartTime": described["startDate"].isoformat(),
                "$$.Execution.Input": json.loads(described.get("input") or "{}"),
                "$$.StateMachine.Id": described["stateMachineArn"],
                "$$.StateMachine.Name": described["stateMachineArn"].rsplit(":", 1)[-1],
            },
        )
        count = len(self._redriven[executionArn].attempts) + 1
        shadow_machine = self._client.create_state_machine(
            name=f"redrive-{described['name']}-{count}"[:80],
            definition=json.dumps(definition),
            roleArn=machine["roleArn"],
        )["stateMachineArn"]
        self._shadows.add(shadow_machine)
        shadow_name = described["name"]
        shadow = shadow_machine.replace(":stateMachine:", ":execution:", 1) + ":" + shadow_name
        response = {"redriveDate": now}
        # Registered before the resumed states run, as in AWS (the call returns while the execution runs):
        # an execution runner that runs executions inside StartExecution still shows it RUNNING meanwhile.
        with self._lock:
            self._redriven[executionArn].attempts.append(_Attempt(shadow, now, state))
            if clientToken:
                self._redriven[executionArn].tokens = (
                    self._redriven[executionArn].tokens + [(clientToken, now, response)]
                )[-REMEMBERED_TOKENS:]
        started = self._client.start_execution(stateMachineArn=shadow_machine, name=shadow_name, input=state_input)
        assert started["executionArn"] == shadow, (started["executionArn"], shadow)
        return dict(response)

    def _unsuccessful_state(self, execution_arn: str) -> tuple[str, str]:
        """(name, input) of the state the execution stopped in: the last one entered."""
        for event in reversed(self._events(execution_arn)):
            if event["type"].endswith("StateEntered"):
                details = event["stateEnteredEventDetails"]
                return details["name"], details["input"]
        raise self._error("ExecutionNotRedrivable", "no state was entered", "RedriveExecution")


def _pin_context(node: Any, values: dict[str, Any]) -> Any:
    """Replace `"key.$": "$$.Execution.Id"`-style context references by the original execution's values."""
    if isinstance(node, list):
        return [_pin_context(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.endswith(".$") and isinstance(value, str) and value in values and value in _CONTEXT_PATHS:
            out[key[:-2]] = values[value]
        else:
            out[key] = _pin_context(value, values)
    return out
