"""Rules AWS Step Functions enforces that moto's engine (copied from LocalStack's) does not: installed on the
engine so that a definition that would fail on AWS fails under the harness too.

Each rule patches the engine at the narrowest point that decides it, and quotes the Step Functions guide:

- `States.ALL` takes neither `States.Runtime` nor `States.DataLimitExceeded` (moto's wildcard takes both);
- a Choice rule whose `Variable` path is absent from the input fails the execution with `States.Runtime`, unless
  the rule is `IsPresent` (moto quietly evaluates the rule to false);
- a state's input, a task's parameters and a state's or task's output above 262,144 bytes fail with
  `States.DataLimitExceeded` (moto checked outputs only, and refused exactly 262,144 bytes);
- a Wait of more than 99,999,999 seconds is refused: in `Seconds` when the state machine is created, through
  `SecondsPath` as `States.Runtime` when the state runs (moto waited).

These are moto internals: moto is pinned exactly (requirements.lock), and tests/testkit/test_strict_engine.py runs
each rule on a small state machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import pytest
from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser.api import (
    ExecutionFailedEventDetails,
    HistoryEventType,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
    ComparisonOperatorType,
)
from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import ComparisonVariable
from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.seconds import Seconds
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.seconds_path import SecondsPath
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

RUNTIME = StatesErrorNameType.StatesRuntime
DATA_LIMIT_EXCEEDED = StatesErrorNameType.StatesStatesDataLimitExceeded

# Error handling page, States.ALL: "A wildcard that matches any known error name. Note: This error type can't
# catch the States.DataLimitExceeded terminal error type and runtime error types." and, of
# States.DataLimitExceeded: "This is a terminal error that cannot be caught by the States.ALL error type."
NOT_CAUGHT_BY_STATES_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})

# Error handling page, States.DataLimitExceeded: "Reported due to the following conditions: When the output of a
# connector is larger than payload size quota. When the output of a state is larger than payload size quota. When,
# after Parameters processing, the input of a state is larger than the payload size quota." The quota (as the
# Express Workflows quotas page words it): "Maximum input or output size for a task, state, or execution: 262,144
# bytes of data as a UTF-8 encoded string. This quota affects tasks (activity, Lambda function, or integrated
# service), state or execution output, and input data when scheduling a task, entering a state, or starting an
# execution." The API reference's history events (StateEnteredEventDetails, StateExitedEventDetails,
# TaskScheduledEventDetails): "Length constraints apply to the payload size, and are expressed as bytes in UTF-8
# encoding", "Maximum length of 262144". So 262,144 bytes pass and one more fails.
PAYLOAD_LIMIT_BYTES = 262_144

# Wait state page, Seconds: "You must specify time as a positive, integer value from 0 up to 99999999."
MAX_WAIT_SECONDS = 99_999_999


def payload_bytes(value: Any) -> int:
    """A state's data as Step Functions measures it: compact JSON text, UTF-8 encoded."""
    text = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
    return len(text.encode("utf-8"))


def is_within_payload_limit(value: Any) -> bool:
    return payload_bytes(value) <= PAYLOAD_LIMIT_BYTES


def _failure(env: Environment, error: StatesErrorNameType, cause: str, *, task: bool) -> FailureEventException:
    """The failure moto raises for its own States.* errors: as a task's failure (TaskFailed) inside a Task state,
    as the execution's otherwise."""
    # moto's EventDetails is a TypedDict of every event kind's details; an event carries one of them
    details: dict[str, Any]
    if task:
        event_type = HistoryEventType.TaskFailed
        details = {"taskFailedEventDetails": TaskFailedEventDetails(error=error.to_name(), cause=cause)}
    else:
        event_type = HistoryEventType.ExecutionFailed
        details = {"executionFailedEventDetails": ExecutionFailedEventDetails(error=error.to_name(), cause=cause)}
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error),
            event_type=event_type,
            event_details=cast(EventDetails, details),
        )
    )


# ------------------------------------------------------------------------------ States.ALL


def _wildcard_skips_terminal_errors(original: Callable[[ErrorEqualsDecl, Environment], None]):
    @functools.wraps(original)
    def eval_body(decl: ErrorEqualsDecl, env: Environment) -> None:
        error_name = env.stack[-1]  # what the original pops: the error being matched
        original(decl, env)
        wildcard = ErrorEqualsDecl._STATE_ALL_ERROR in decl.error_names  # States.ALL stands alone in its list
        if wildcard and isinstance(error_name, StatesErrorName) and error_name.typ in NOT_CAUGHT_BY_STATES_ALL:
            env.stack[-1] = False

    return eval_body


# ------------------------------------------------------------------------------ Choice on an absent path


def _compare_present_paths_only(comparison: ComparisonVariable, env: Environment) -> None:
    """ComparisonVariable's evaluation (sample the Variable, then compare) refusing a Variable path absent from
    the input, as AWS does. Choice state page (its example's note): "You must specify the $.type field. If the
    state input doesn't contain the $.type field, the execution fails and an error is displayed in the execution
    history." IsPresent is the one comparison that asks whether the path exists."""
    comparison.variable.eval(env)
    if (
        isinstance(env.stack[-1], NoSuchVariable)
        and comparison.comparison_function.operator_type is not ComparisonOperatorType.IsPresent
    ):
        path = comparison.variable.string_sampler.literal_value
        raise _failure(
            env,
            RUNTIME,
            f"Invalid path '{path}': The choice state's condition path references an invalid value.",
            task=False,
        )
    comparison.comparison_function.eval(env)


# ------------------------------------------------------------------------------ 256 KB payloads


def _state_input_within_limit(original: Callable[[CommonStateField, Environment], None]):
    @functools.wraps(original)
    def eval_state_input(state: CommonStateField, env: Environment) -> None:
        size = payload_bytes(env.states.get_input())
        if size > PAYLOAD_LIMIT_BYTES:
            raise _failure(
                env,
                DATA_LIMIT_EXCEEDED,
                f"The input of state '{state.name}' is {size} bytes, above the {PAYLOAD_LIMIT_BYTES}-byte limit.",
                task=False,
            )
        original(state, env)

    return eval_state_input


def _task_parameters_within_limit(original: Callable[..., None]):
    @functools.wraps(original)
    def before_eval_execution(
        task: StateTaskService, env: Environment, resource_runtime_part: Any, raw_parameters: dict, *args, **kwargs
    ) -> None:
        size = payload_bytes(raw_parameters)
        if size > PAYLOAD_LIMIT_BYTES:
            raise _failure(
                env,
                DATA_LIMIT_EXCEEDED,
                f"The parameters of task '{task.name}' are {size} bytes, above the {PAYLOAD_LIMIT_BYTES}-byte limit.",
                task=True,
            )
        original(task, env, resource_runtime_part, raw_parameters, *args, **kwargs)

    return before_eval_execution


# ------------------------------------------------------------------------------ Wait


def _seconds_within_limit(original: Callable[..., None]):
    @functools.wraps(original)
    def init(wait: Seconds, seconds: int) -> None:
        if seconds > MAX_WAIT_SECONDS:  # moto turns this into InvalidDefinition at CreateStateMachine
            raise ValueError(f"Wait Seconds {seconds} is above the maximum of {MAX_WAIT_SECONDS}")
        original(wait, seconds)

    return init


def _seconds_path_within_limit(original: Callable[[SecondsPath, Environment, Any], None]):
    @functools.wraps(original)
    def validate(wait: SecondsPath, env: Environment, seconds: Any) -> None:
        original(wait, env, seconds)  # refuses a value that is not a non-negative integer
        if seconds > MAX_WAIT_SECONDS:
            raise _failure(
                env,
                RUNTIME,
                f"The SecondsPath parameter references a value above {MAX_WAIT_SECONDS}: "
                f"{wait.string_sampler.literal_value} == {seconds}",
                task=False,
            )

    return validate


def enforce_aws_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install every rule on moto's engine for as long as `monkeypatch` lasts (once: a second harness of the same
    test finds them installed)."""
    if ComparisonVariable._eval_body is _compare_present_paths_only:
        return
    patch = monkeypatch.setattr
    patch(ErrorEqualsDecl, "_eval_body", _wildcard_skips_terminal_errors(ErrorEqualsDecl._eval_body))
    patch(ComparisonVariable, "_eval_body", _compare_present_paths_only)
    patch(CommonStateField, "_eval_state_input", _state_input_within_limit(CommonStateField._eval_state_input))
    patch(
        StateTaskService,
        "_before_eval_execution",
        _task_parameters_within_limit(StateTaskService._before_eval_execution),
    )
    # moto's own output checks, measured as AWS does (compact JSON, 262,144 bytes allowed)
    for module in (quotas, state_module, state_task_service, state_task_lambda):
        patch(module, "is_within_size_quota", is_within_payload_limit)
    patch(Seconds, "__init__", _seconds_within_limit(Seconds.__init__))
    patch(SecondsPath, "_validate_seconds_value", _seconds_path_within_limit(SecondsPath._validate_seconds_value))
