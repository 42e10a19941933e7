"""Each AWS rule testkit/strict_engine.py adds to moto's engine, on a small state machine: the execution fails
where AWS fails it (moto alone lets every one of these succeed)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from testkit.pipeline_harness import MOTO_CONFIG, REGION
from testkit.strict_engine import MAX_WAIT_SECONDS, PAYLOAD_LIMIT_BYTES, enforce_aws_rules

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:answer"
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}]
CAUGHT = {"Caught": {"Type": "Succeed"}}


class Engine:
    """moto's Step Functions with the strict rules; Lambda tasks answer `lambda_response` (Invoke's, the payload
    parsed), Wait states return at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        enforce_aws_rules(monkeypatch)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="strict", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        self.lambda_response: dict[str, Any] = {"StatusCode": 200, "Payload": {}}
        monkeypatch.setattr(
            lambda_eval_utils,
            "_invoke_lambda_function",
            lambda parameters, region, state_credentials: self.lambda_response,
        )
        monkeypatch.setattr(WaitFunction, "_wait_interval", lambda wait, env, wait_seconds: None)
        self._machines = 0

    def create(self, states: dict[str, Any], start_at: str) -> str:
        self._machines += 1
        definition = json.dumps({"StartAt": start_at, "States": states})
        return self.sfn.create_state_machine(name=f"m{self._machines}", definition=definition, roleArn=self.role)[
            "stateMachineArn"
        ]

    def run(self, states: dict[str, Any], start_at: str, execution_input: Any = None) -> dict[str, Any]:
        arn = self.sfn.start_execution(
            stateMachineArn=self.create(states, start_at), input=json.dumps(execution_input or {})
        )["executionArn"]
        deadline = time.monotonic() + 30
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still running"
            time.sleep(0.05)
        return described


@pytest.fixture
def engine(monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        yield Engine(monkeypatch)


def _lambda_task(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION_ARN, "Payload.$": "$"},
        "End": True,
        **fields,
    }


# ------------------------------------------------------------------------------ States.ALL


def test_states_all_does_not_catch_a_runtime_error(engine):
    # A Parameters path absent from the input is a States.Runtime error.
    task = _lambda_task(Parameters={"FunctionName": FUNCTION_ARN, "Payload": {"subject.$": "$.missing"}})
    described = engine.run({"Notify": {**task, "Catch": CATCH_ALL}, **CAUGHT}, "Notify")

    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime")


def test_states_all_does_not_catch_a_task_result_above_the_payload_limit(engine):
    engine.lambda_response = {"StatusCode": 200, "Payload": {"text": "x" * PAYLOAD_LIMIT_BYTES}}
    described = engine.run({"Big": {**_lambda_task(), "Catch": CATCH_ALL}, **CAUGHT}, "Big")

    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")


def test_states_all_still_catches_a_task_failure(engine):
    engine.lambda_response = {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "Payload": {"errorType": "Boom", "errorMessage": "boom"},
    }
    described = engine.run({"Fails": {**_lambda_task(), "Catch": CATCH_ALL}, **CAUGHT}, "Fails")

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["caught"]["Error"] == "Boom"


# ------------------------------------------------------------------------------ Choice on an absent path


def _choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "Decide": {"Type": "Choice", "Choices": [{**rule, "Next": "Matched"}], "Default": "Other"},
        "Matched": {"Type": "Succeed"},
        "Other": {"Type": "Succeed"},
    }


def test_a_choice_on_an_absent_path_fails_the_execution(engine):
    described = engine.run(_choice({"Variable": "$.outcome.status", "StringEquals": "SKIPPED"}), "Decide", {})

    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime")
    assert "$.outcome.status" in described["cause"]


def test_is_present_guards_an_absent_path(engine):
    rule = {"And": [{"Variable": "$.x", "IsPresent": True}, {"Variable": "$.x", "StringEquals": "a"}]}
    assert engine.run(_choice(rule), "Decide", {})["status"] == "SUCCEEDED"
    assert engine.run(_choice(rule), "Decide", {"x": "a"})["status"] == "SUCCEEDED"


# ------------------------------------------------------------------------------ 256 KB payloads


def _pass_through() -> dict[str, Any]:
    return {"Same": {"Type": "Pass", "End": True}}


def test_a_state_input_of_exactly_the_limit_passes_and_one_byte_more_fails(engine):
    envelope = len(json.dumps({"s": ""}, separators=(",", ":")))
    exactly = engine.run(_pass_through(), "Same", {"s": "x" * (PAYLOAD_LIMIT_BYTES - envelope)})
    above = engine.run(_pass_through(), "Same", {"s": "x" * (PAYLOAD_LIMIT_BYTES - envelope + 1)})

    assert exactly["status"] == "SUCCEEDED"
    assert (above["status"], above.get("error")) == ("FAILED", "States.DataLimitExceeded")


def test_a_state_output_above_the_limit_fails(engine):
    # The input is under the limit; the Pass state's Parameters copy it three times into its output.
    third = "x" * (PAYLOAD_LIMIT_BYTES // 3)
    states = {"Copy": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s", "c.$": "$.s"}, "End": True}}
    described = engine.run(states, "Copy", {"s": third})

    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")


def test_task_parameters_above_the_limit_fail_even_under_a_catch_all(engine):
    # The input is under the limit; Parameters copy it three times.
    third = "x" * (PAYLOAD_LIMIT_BYTES // 3)
    task = _lambda_task(
        Parameters={"FunctionName": FUNCTION_ARN, "Payload": {"a.$": "$.s", "b.$": "$.s", "c.$": "$.s"}},
        Catch=CATCH_ALL,
    )
    described = engine.run({"Copy": task, **CAUGHT}, "Copy", {"s": third})

    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")


# ------------------------------------------------------------------------------ Wait


def test_a_wait_of_more_than_the_maximum_seconds_is_an_invalid_definition(engine):
    def wait(seconds: int) -> dict[str, Any]:
        return {"Pause": {"Type": "Wait", "Seconds": seconds, "End": True}}

    engine.create(wait(MAX_WAIT_SECONDS), "Pause")
    # moto answers its InvalidDefinition without an error code: the message names the rule
    with pytest.raises(ClientError, match=f"Wait Seconds {MAX_WAIT_SECONDS + 1} is above the maximum"):
        engine.create(wait(MAX_WAIT_SECONDS + 1), "Pause")


def test_a_seconds_path_of_more_than_the_maximum_fails_the_execution(engine):
    states = {"Pause": {"Type": "Wait", "SecondsPath": "$.wait_seconds", "End": True}}

    assert engine.run(states, "Pause", {"wait_seconds": MAX_WAIT_SECONDS})["status"] == "SUCCEEDED"
    described = engine.run(states, "Pause", {"wait_seconds": MAX_WAIT_SECONDS + 1})
    assert (described["status"], described.get("error")) == ("FAILED", "States.Runtime")
