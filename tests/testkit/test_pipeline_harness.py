"""The harness's shortcuts answer exactly what moto itself would."""

from __future__ import annotations

import random

import botocore.parsers
import botocore.utils
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.responses import StepFunctionResponse

from testkit.moto_patches import MOTO_EXECUTION_HISTORY, MOTO_INVOKE_LAMBDA_FUNCTION
from testkit.pipeline_harness import MOTO_CONFIG, PipelineHarness

SUNDAY = "2026-11-15"


@pytest.fixture
def harness(dev_app, monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        yield PipelineHarness(dev_app, monkeypatch)


def test_execution_history_is_what_motos_serialiser_writes(harness, monkeypatch):
    """A run that fails at Batch has every kind of event a run can have (Wait, Choice, Lambda tasks that
    succeed, retry and fail, the execution's failure with its cause): its history read through the harness's
    json.dumps body and through moto's serialiser parse to the same events."""
    harness.fail_at("batch")
    failed = harness.run("KR", run_date="2026-11-15")
    assert failed.status == "FAILED"
    fast = harness.sfn.get_execution_history(executionArn=failed.arn)["events"]
    kinds = {event["type"] for event in fast}
    assert {"WaitStateEntered", "ChoiceStateExited", "TaskFailed", "ExecutionFailed"} <= kinds

    monkeypatch.setattr(StepFunctionResponse, "get_execution_history", MOTO_EXECUTION_HISTORY)
    monkeypatch.setattr(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", botocore.utils.parse_timestamp)
    assert harness.sfn.get_execution_history(executionArn=failed.arn)["events"] == fast


def _run(dev_app, *, through_moto: bool) -> tuple[str, list[dict], list[tuple[str, str]]]:
    """A run whose Gate hits a Lambda service error (retried) and that fails at Batch: (status, history without
    timestamps, the handler invocations)."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws(config=MOTO_CONFIG):
        harness = PipelineHarness(dev_app, monkeypatch)
        if through_moto:
            monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", MOTO_INVOKE_LAMBDA_FUNCTION)
        harness.crash_next["gate"] = ["Lambda.ServiceException"]
        harness.fail_at("batch")
        random.seed(7)  # the retry's full jitter draws its back-off at random
        execution = harness.run("KR", run_date=SUNDAY)
        history = [{k: v for k, v in event.items() if k != "timestamp"} for event in execution.history]
        return execution.status, history, harness.invocations


def test_lambda_tasks_run_in_process_give_the_history_motos_invoke_gives(dev_app):
    """The harness calls a Lambda task's handler without the request through boto3 and moto's Invoke: the
    execution must be the same event for event, including a function error and a retried service error."""
    status, history, invocations = _run(dev_app, through_moto=False)
    assert status == "FAILED" and ("gate", "Lambda.ServiceException") in invocations
    assert any(e["type"] == "TaskFailed" for e in history) and any(e["type"] == "TaskSucceeded" for e in history)
    assert _run(dev_app, through_moto=True) == (status, history, invocations)
