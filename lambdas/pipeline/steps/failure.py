"""Record an execution that did not reach the end (FAILED, TIMED_OUT, ABORTED).

Failing steps are not caught inside the state machine, on purpose: Step Functions redrive resumes an
execution at its failed state, which only helps if that state is the step that failed (a catch-all
routing to a Fail state would make every redrive fail again at once). EventBridge delivers the status
change here instead; the execution history tells which state failed and why (our step errors carry a JSON
cause with Personalize's failureReason).

Each status-change event is recorded once: the ledger keeps its EventBridge id, so a copy delivered again
writes, notifies and counts nothing. An event about an attempt the execution has since left behind (it was
redriven: running again, or ended again) changes nothing either; the newer attempt reports its own end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import clients, clock
from common.observability import logger, metrics
from pipeline import ledger, status_changes
from pipeline.environment import environment
from pipeline.model import PipelineInput
from pipeline.notify import notification
from pipeline.runs import failure_from_history, run_date_of
from pipeline.step_handler import entry_point


class StatusChangeDetail(BaseModel):
    """`detail` of EventBridge's "Step Functions Execution Status Change" event: the fields the recorder reads.

    Step Functions guide (cw-events): "the `detail` section in the event data provides the same information as
    the DescribeExecution API", so a redriven execution's event names its attempt in `redriveCount`. `input`
    may be absent: "If the combined escaped input and escaped output sent to EventBridge exceeds 248KB, then
    the input will be excluded", and "For Standard Workflows, you can see the full input and output by using
    DescribeExecution"."""

    model_config = ConfigDict(populate_by_name=True)

    execution_arn: str = Field(alias="executionArn", min_length=1)
    status: str = Field(min_length=1)
    input: str | None = None
    redrive_count: int | None = Field(default=None, alias="redriveCount", ge=0)


class StatusChange(BaseModel):
    id: str = Field(min_length=1)  # EventBridge's id of the event: the same in every delivery of it
    time: datetime
    detail: StatusChangeDetail

    @classmethod
    def of(cls, event: dict[str, Any]) -> StatusChange:
        try:
            return cls.model_validate(event)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "event"
            raise InvalidStatusChange(f"not a Step Functions status-change event: {where}: {first['msg']}") from None


class InvalidStatusChange(ValueError):
    """Raised, not dropped: Lambda retries, then keeps the event in the recorder's on-failure queue."""


class NotRecordedYet(RuntimeError):
    """The event cannot be recorded now; raised so that Lambda delivers it again later."""


class Outcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # this event was recorded before: a copy delivered again
    SUPERSEDED = "superseded"  # the execution has moved on since this event (redriven)


def record_once(
    event: dict[str, Any], env: str, *, deadline: datetime, announce: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Record one status-change event at most once and `announce` its notification (publish, count).

    `deadline`: when this invocation is over at the latest; until then a second delivery of the same event is
    told to come back later (raises NotRecordedYet), after it the claim of an invocation that died is taken
    over. Recording that raises gives the claim up, so Lambda's retry records the event; only an announcement
    that raises after publishing can be announced twice. Returns the notification with `outcome`, or why not.
    """
    change = StatusChange.of(event)
    holder = status_changes.claim_status_change(change.id, change.detail.execution_arn, until=deadline)
    if holder is not None:
        if holder == status_changes.STATUS_CHANGE_RECORDED:
            return {"outcome": Outcome.DUPLICATE, "event_id": change.id}
        raise NotRecordedYet(f"event {change.id} is being recorded by another invocation: deliver it again later")
    try:
        execution = clients.stepfunctions().describe_execution(executionArn=change.detail.execution_arn)
        moved_on = _moved_on(change, execution)
        if moved_on:
            result: dict[str, Any] = {"outcome": Outcome.SUPERSEDED, "event_id": change.id, "reason": moved_on}
        else:
            message = record_failure(change, execution, env)
            announce(message)
            result = {**message, "outcome": Outcome.RECORDED, "event_id": change.id}
    except Exception:
        status_changes.release_status_change(change.id)
        raise
    status_changes.status_change_recorded(change.id)
    return result


def _moved_on(change: StatusChange, execution: dict[str, Any]) -> str | None:
    """Why the event is older than the execution's current state (None: the event is its current state).

    A redrive keeps the execution ARN and adds 1 to DescribeExecution's `redriveCount` ("The number of times
    you've redriven an execution. If you have not yet redriven an execution, the redriveCount is 0", API
    reference, ExecutionRedrivenEventDetails). An event without `redriveCount` is placed by its time against
    `redriveDate`, the last redrive's."""
    redrives = execution.get("redriveCount") or 0
    if change.detail.redrive_count is not None:
        redriven_since = redrives > change.detail.redrive_count
    else:
        redriven_at = execution.get("redriveDate")
        redriven_since = redriven_at is not None and redriven_at > change.time
    if redriven_since:
        return (
            f"{change.detail.status} event of an earlier attempt: the execution was redriven since "
            f"({redrives} redrives) and is {execution['status']} now"
        )
    if execution["status"] == "RUNNING":
        # "This operation is eventually consistent. The results are best effort and may not reflect very recent
        # updates and changes" (API reference, DescribeExecution): the end this event reports is not visible yet.
        raise NotRecordedYet(
            f"DescribeExecution still shows {change.detail.execution_arn} RUNNING in the attempt this "
            f"{change.detail.status} event ended: deliver it again later"
        )
    return None


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


def record_failure(change: StatusChange, execution: dict[str, Any], env: str) -> dict[str, Any]:
    """The ledger record of the failed run and its notification. `execution`: DescribeExecution of it, whose
    `input` stands in for an event that came without one."""
    execution_arn, status = change.detail.execution_arn, change.detail.status
    failure = failure_from_history(_history(execution_arn), status)
    try:
        request = PipelineInput.model_validate(json.loads(change.detail.input or execution.get("input") or "{}"))
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


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Target of the EventBridge rule on this state machine's FAILED / TIMED_OUT / ABORTED executions: each event
    is recorded, notified and counted once (record_once)."""
    settings = environment()
    topic_arn = settings.topic_arn
    if not topic_arn:
        raise RuntimeError("pipeline function misconfigured: environment variable(s) TOPIC_ARN")
    logger.append_keys(step="failure", event_id=event.get("id"))

    def announce(message: dict[str, Any]) -> None:
        logger.warning("run did not finish", extra={"subject": message["subject"]})
        clients.sns().publish(TopicArn=topic_arn, Subject=message["subject"], Message=message["message"])
        clients.events().put_events(
            Entries=[
                {
                    "Source": message["source"],
                    "DetailType": message["detail_type"],
                    "Detail": message["detail"],
                    "EventBusName": settings.event_bus_name,
                }
            ]
        )
        metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)

    deadline = clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
    result = record_once(event, settings.env_name, deadline=deadline, announce=announce)
    logger.info("status change handled", extra={"outcome": result["outcome"], "reason": result.get("reason")})
    return result
