"""The pipeline's state machine definition (ASL), built from the step declarations (stacks/pipeline_steps.py).

Each step gets its Task state (its Lambda, through `${<State>FunctionArn}`); a polling step also gets its
`<State>Finished?` Choice and its Wait state, which loop back to the Task while the step says RUNNING; a step
may be followed by a guard (Admitted?, EnoughData?). After the last step come the fixed notification states.
Every Lambda task retries with the one policy below.

The output of the declarations is checked in as statemachines/pipeline.asl.json: stacks/definition_file.py
writes and checks it (`make asl`). Pure Python: building a definition needs no CDK, and this module imports no
declarations (they import its guards).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from pipeline.notify import NOTIFICATION_FIELDS
from pipeline.step_names import StepName

# The CountNotificationFailure state puts NotificationsFailed (dimension StateMachine) in this namespace.
NOTIFICATION_METRIC_NAMESPACE = "PersonalizeRecommendations"
# Substitutions the stack fills in (DefinitionSubstitutions) besides each step's function ARN.
NOTIFICATION_TOPIC = "NotificationTopicArn"
EVENT_BUS = "EventBusName"

EXECUTION_TIMEOUT_SECONDS = 7 * 24 * 3600
# Lambda's maximum function timeout (15 minutes): no step's invocation runs longer (each function has its own
# timeout of 5 or 15 minutes); this bounds a task whose result never arrives.
LAMBDA_TASK_TIMEOUT_SECONDS = 900
DEFAULT_WAIT_COMMENT = "Interval chosen by the step: grows from minutes to an hour for long trainings."

State = dict[str, Any]
States = dict[str, State]


def _transient(errors: list[str], *, max_attempts: int = 6, max_delay_seconds: int = 300) -> dict[str, Any]:
    """Retry `errors` after 5 s, doubling, with full jitter: what a transient error of any integration gets."""
    return {
        "ErrorEquals": errors,
        "IntervalSeconds": 5,
        "BackoffRate": 2.0,
        "MaxAttempts": max_attempts,
        "MaxDelaySeconds": max_delay_seconds,
        "JitterStrategy": "FULL",
    }


# The one retry policy of every Lambda task (the error names: tests/infra/test_pipeline_stack.py quotes the
# Step Functions guide). Step failures are not caught: the execution fails at the step, so redrive resumes there.
LAMBDA_TASK_RETRY: list[dict[str, Any]] = [
    # Our handlers' own transient errors (their class names) and Lambda's service errors and throttling.
    _transient(
        [
            "PersonalizeThrottled",
            "PersonalizeResourceInUse",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "Lambda.ClientExecutionTimeoutException",
        ]
    ),
    {
        # A full Personalize quota (e.g. 5 running import jobs per region, not adjustable) means wait, not fail.
        "ErrorEquals": ["PersonalizeLimitExceeded"],
        "IntervalSeconds": 300,
        "BackoffRate": 1.5,
        "MaxAttempts": 12,
        "MaxDelaySeconds": 1800,
        "JitterStrategy": "FULL",
    },
    {
        # Lambda.Unknown (out of memory, the function's timeout) and the task's own timeout: twice more, then fail.
        "ErrorEquals": ["Lambda.Unknown", "States.Timeout"],
        "IntervalSeconds": 30,
        "BackoffRate": 2.0,
        "MaxAttempts": 2,
        "JitterStrategy": "FULL",
    },
]
SNS_PUBLISH_RETRY: list[dict[str, Any]] = [
    _transient(["SNS.ThrottledException", "SNS.KMSThrottlingException", "SNS.InternalErrorException"])
]
EVENTBRIDGE_PUT_EVENTS_RETRY: list[dict[str, Any]] = [
    _transient(["EventBridge.FailedEntry", "EventBridge.ThrottlingException", "EventBridge.InternalException"])
]
PUT_METRIC_DATA_RETRY: list[dict[str, Any]] = [_transient(["States.TaskFailed"], max_attempts=3, max_delay_seconds=60)]

# A guard between a step and the next: (the next step's state, the last step's state) -> its states, the
# first of which is the one entered.
Guard = Callable[[str, str], States]


class StepStates(Protocol):
    """What the builder reads of a step declaration."""

    @property
    def name(self) -> StepName: ...
    @property
    def state_comment(self) -> str: ...
    @property
    def wait_comment(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, str] | None: ...
    @property
    def then(self) -> Guard | None: ...


def function_arn_substitution(state: str) -> str:
    """The DefinitionSubstitutions name of the function a step's Task state invokes."""
    return f"{state}FunctionArn"


def admitted(next_state: str, _last_state: str) -> States:
    """BeginRun's verdict: a duplicate or already finished (country, date) ends the execution here."""
    return {
        "Admitted?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.run.admission", "StringEquals": "ADMITTED", "Next": next_state}],
            "Default": "NotAdmitted",
        },
        "NotAdmitted": {
            "Type": "Succeed",
            "Comment": "Another execution runs this date, or it already finished (see $.run.reason).",
        },
    }


def enough_data(next_state: str, last_state: str) -> States:
    """Prepare's guard: below Personalize's minimums the run goes straight to the last step (SKIPPED)."""
    return {
        "EnoughData?": {
            "Type": "Choice",
            "Comment": "Personalize minimums: 1,000 interactions, 25 users with >= 2.",
            "Choices": [{"Variable": "$.guard.ok", "BooleanEquals": False, "Next": last_state}],
            "Default": next_state,
        }
    }


def lambda_task(step: StepStates, next_state: str) -> State:
    payload: dict[str, Any] = {"Payload": dict(step.payload)} if step.payload is not None else {"Payload.$": "$"}
    return {
        "Type": "Task",
        "Comment": step.state_comment,
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${" + function_arn_substitution(step.name.state) + "}", **payload},
        "ResultSelector": {"state.$": "$.Payload"},
        "OutputPath": "$.state",
        "TimeoutSeconds": LAMBDA_TASK_TIMEOUT_SECONDS,
        "Retry": copy.deepcopy(LAMBDA_TASK_RETRY),
        "Next": next_state,
    }


def step_states(step: StepStates, next_state: str, last_state: str) -> States:
    """The step's Task (+ Choice and Wait when it polls) and its guard, wired to `next_state`."""
    name = step.name
    guard = step.then(next_state, last_state) if step.then else {}
    after = next(iter(guard), next_state)
    if not name.polls:
        return {name.state: lambda_task(step, after), **guard}
    assert name.choice_state and name.wait_state
    return {
        name.state: lambda_task(step, name.choice_state),
        name.choice_state: {
            "Type": "Choice",
            "Choices": [{"Variable": f"$.steps.{name.key}.status", "StringEquals": "RUNNING", "Next": name.wait_state}],
            "Default": after,
        },
        name.wait_state: {
            "Type": "Wait",
            "Comment": step.wait_comment,
            "SecondsPath": f"$.steps.{name.key}.wait_seconds",
            "Next": name.state,
        },
        **guard,
    }


# $.notify_failure's Error when Finish's output has no complete notification.
NOTIFICATION_MISSING = "NotificationMissing"


def notification_states() -> States:
    """After the last step recorded the run: notify (SNS), announce (EventBridge), count a failure of either,
    end by the recorded outcome. Nothing here may fail the run: every failure is caught into the output, and what
    no Catch can take is guarded against (a path absent from the input is a States.Runtime error, which
    States.ALL does not catch)."""
    return {
        "Notifiable?": {
            "Type": "Choice",
            "Comment": "Notify and Announce read these fields: without them the run is not notified (counted as a "
            "notification failure) instead of failing after Finish recorded it.",
            "Choices": [
                {
                    "And": [{"Variable": f"$.notification.{name}", "IsPresent": True} for name in NOTIFICATION_FIELDS],
                    "Next": "Notify",
                }
            ],
            "Default": "NotificationMissing",
        },
        "NotificationMissing": {
            "Type": "Pass",
            "Result": {
                "Error": NOTIFICATION_MISSING,
                "Cause": "Finish's output has no complete $.notification: nothing was published.",
            },
            "ResultPath": "$.notify_failure",
            "Next": "CountNotificationFailure",
        },
        "Notify": {
            "Type": "Task",
            "Comment": "The run is recorded (Finish): from here a notification failure must not fail the run. "
            "Retries what SNS reports as transient (Step Functions names an optimized SNS integration's error "
            "SNS.<error code>Exception, e.g. SNS.ThrottledException); anything else, or retries used up, is "
            "caught into $.notify_failure.",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${" + NOTIFICATION_TOPIC + "}",
                "Subject.$": "$.notification.subject",
                "Message.$": "$.notification.message",
            },
            "ResultPath": None,
            "Retry": copy.deepcopy(SNS_PUBLISH_RETRY),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_failure", "Next": "Announce"}],
            "Next": "Announce",
        },
        "Announce": {
            "Type": "Task",
            "Comment": "Publish the run record as an event. A PutEvents response with FailedEntryCount > 0 fails "
            "the task as EventBridge.FailedEntry (its entries' retryable codes: ThrottlingException, "
            "InternalFailure); failures are caught into $.announce_failure.",
            "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {
                "Entries": [
                    {
                        "Source.$": "$.notification.source",
                        "DetailType.$": "$.notification.detail_type",
                        "Detail.$": "States.StringToJson($.notification.detail)",
                        "EventBusName": "${" + EVENT_BUS + "}",
                    }
                ]
            },
            "ResultPath": None,
            "Retry": copy.deepcopy(EVENTBRIDGE_PUT_EVENTS_RETRY),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.announce_failure", "Next": "Notified?"}],
            "Next": "Notified?",
        },
        "Notified?": {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        {"Variable": "$.notify_failure", "IsPresent": True},
                        {"Variable": "$.announce_failure", "IsPresent": True},
                    ],
                    "Next": "CountNotificationFailure",
                }
            ],
            "Default": "Outcome?",
        },
        "CountNotificationFailure": {
            "Type": "Task",
            "Comment": "The NotificationsFailed metric (alarmed): nobody was told about this run. Best effort: any "
            "failure here still ends the run as it was recorded.",
            "Resource": "arn:aws:states:::aws-sdk:cloudwatch:putMetricData",
            "Parameters": {
                "Namespace": NOTIFICATION_METRIC_NAMESPACE,
                "MetricData": [
                    {
                        "MetricName": "NotificationsFailed",
                        "Dimensions": [{"Name": "StateMachine", "Value.$": "$$.StateMachine.Name"}],
                        "Value": 1,
                        "Unit": "Count",
                    }
                ],
            },
            "ResultPath": None,
            "Retry": copy.deepcopy(PUT_METRIC_DATA_RETRY),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.metric_failure", "Next": "NotificationFailed"}],
            "Next": "NotificationFailed",
        },
        "NotificationFailed": {
            "Type": "Succeed",
            "Comment": "The run finished as its ledger record says ($.outcome); its notification failed "
            "($.notify_failure / $.announce_failure).",
        },
        "Outcome?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.outcome.status", "StringEquals": "SKIPPED", "Next": "Skipped"},
                {"Variable": "$.outcome.status", "StringEquals": "REJECTED", "Next": "Rejected"},
            ],
            "Default": "Succeeded",
        },
        "Skipped": {"Type": "Succeed", "Comment": "Below the Personalize minimums: no job was started."},
        "Rejected": {"Type": "Succeed", "Comment": "The gate kept the promoted version for at least one solution."},
        "Succeeded": {"Type": "Succeed"},
    }


def definition(steps: Sequence[StepStates]) -> dict[str, Any]:
    """The whole definition: the steps in order, then the notification states."""
    if not steps:
        raise ValueError("a pipeline needs at least one step")
    last_state = steps[-1].name.state
    tail = notification_states()
    states: States = {}
    for index, step in enumerate(steps):
        next_state = steps[index + 1].name.state if index + 1 < len(steps) else next(iter(tail))
        for state_name, state in step_states(step, next_state, last_state).items():
            if state_name in states:
                raise ValueError(f"state {state_name!r} of step {step.name.key!r} is already defined")
            states[state_name] = state
    clashes = set(states) & set(tail)
    if clashes:
        raise ValueError(f"step states {sorted(clashes)} clash with the notification states")
    return {
        "Comment": "Daily Personalize pipeline for one country and run date. Step failures are not caught: the "
        "execution fails at the failing step so that redrive resumes there; EventBridge routes the status change "
        "to the failure recorder (ledger + notification).",
        "StartAt": steps[0].name.state,
        "TimeoutSeconds": EXECUTION_TIMEOUT_SECONDS,
        "States": {**states, **tail},
    }
