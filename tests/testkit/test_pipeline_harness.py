"""The harness's shortcuts answer exactly what moto itself would."""

from __future__ import annotations

import botocore.parsers
import botocore.utils
import pytest
from moto import mock_aws

from testkit.pipeline_harness import MOTO_CONFIG, MOTO_EXECUTION_HISTORY, PipelineHarness, StepFunctionResponse


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
