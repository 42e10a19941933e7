"""After Finish has recorded a run, its notification may fail but never the run: executed-pipeline tests.

SNS is made to fail inside moto's SNS backend, so the error travels the way a real one does: the SNS API answers
with its modeled error (code `Throttled`, HTTP 429 for ThrottledException), botocore raises it in moto's Step
Functions engine, which reports it as the optimized integration's error `SNS.ThrottledException`.
"""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from moto.sns import models as sns_models
from moto.sns.exceptions import SNSException

from pipeline import notify
from stacks.state_machine_definition import NOTIFICATION_MISSING
from testkit.pipeline_harness import REGION, resources_of

SUNDAY = "2026-11-15"


class _Throttled(SNSException):
    code = "ThrottledException"  # the model's shape name; moto serialises it with its error code, Throttled
    message = "Rate exceeded"


class _KmsDisabled(SNSException):
    code = "KMSDisabledException"
    message = "The request was rejected because the specified customer master key (CMK) isn't enabled."


@pytest.fixture
def sns_fails(monkeypatch):
    """sns_fails([error, error, ...]): the next publishes raise these (None = accepted), later ones succeed."""
    original = sns_models.SNSBackend.publish

    def script(errors):
        queue = list(errors)

        def publish(backend, *args, **kwargs):
            if queue:
                error = queue.pop(0)
                if error is not None:
                    raise error()
            return original(backend, *args, **kwargs)

        monkeypatch.setattr(sns_models.SNSBackend, "publish", publish)
        return queue

    return script


def _notify_failures(execution) -> list[str]:
    return [
        e["taskFailedEventDetails"]["error"]
        for e in execution.history
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"].get("resourceType") == "sns"
    ]


def test_sns_throttled_twice_then_accepted_the_run_succeeds_with_one_notification(harness, sns_fails):
    sns_fails([_Throttled, _Throttled])

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert _notify_failures(execution) == ["SNS.ThrottledException", "SNS.ThrottledException"]
    assert execution.states_entered()[-4:] == ["Announce", "Notified?", "Outcome?", "Succeeded"]
    assert "notify_failure" not in execution.output
    (notification,) = harness.notifications()
    assert notification["subject"].endswith("KR 2026-11-15: SUCCEEDED")
    assert len(harness.events()) == 1
    assert harness.ledger_run("KR", SUNDAY)["status"] == "SUCCEEDED"


@pytest.mark.parametrize("error", [_Throttled, _KmsDisabled], ids=["throttled-for-good", "kms-key-disabled"])
def test_sns_failing_for_good_leaves_the_run_succeeded_and_raises_the_alarm_metric(harness, sns_fails, error):
    sns_fails([error] * 50)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.states_entered()[-2:] == ["CountNotificationFailure", "NotificationFailed"]
    expected = f"SNS.{error.code}"
    assert execution.output["notify_failure"]["Error"] == expected
    assert execution.output["outcome"]["status"] == "SUCCEEDED"
    # transient errors were retried (6 attempts after the first), others caught at once
    assert len(_notify_failures(execution)) == (7 if error is _Throttled else 1)
    assert harness.notifications() == []
    assert len(harness.events()) == 1  # the EventBridge event still went out
    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "SUCCEEDED" and record.get("failure") is None
    # no failure to record: the failure recorder's rule does not match a SUCCEEDED execution
    assert not [name for name, _ in harness.invocations if name == "record_failure"]

    # The metric the state machine put is the one the synthesised alarm watches, at or above its threshold.
    (alarm,) = [
        a["Properties"]
        for a in resources_of(harness.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "NotificationsFailed"
    ]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    dimensions = [{"Name": d["Name"], "Value": d["Value"]} for d in alarm["Dimensions"]]
    statistics = cloudwatch.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=dimensions,
        StartTime=harness.clock.now() - timedelta(days=30),
        EndTime=harness.clock.now() + timedelta(days=30),
        Period=86400 * 60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(point["Sum"] for point in statistics) >= alarm["Threshold"]
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["AlarmActions"]


@pytest.mark.parametrize("field", ["subject", "detail"])
def test_a_notification_missing_a_field_leaves_the_run_succeeded_and_counts_a_notification_failure(
    harness, monkeypatch, field
):
    # Notify reads $.notification.subject, Announce $.notification.detail: on AWS an absent path is a
    # States.Runtime error, which the States.ALL catchers do not take, so the run would fail after Finish.
    from pipeline.steps import finish

    def without_field(record):
        built = notify.notification(record)
        del built[field]
        return built

    monkeypatch.setattr(finish, "notification", without_field)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.states_entered()[-4:] == [
        "Notifiable?",
        "NotificationMissing",
        "CountNotificationFailure",
        "NotificationFailed",
    ]
    assert execution.output["notify_failure"]["Error"] == NOTIFICATION_MISSING
    assert harness.notifications() == [] and harness.events() == []
    assert harness.ledger_run("KR", SUNDAY)["status"] == "SUCCEEDED"


def test_a_status_change_after_finish_never_turns_the_recorded_run_into_a_failed_one(harness):
    # e.g. an operator aborts the execution while Notify is still retrying: the run itself was recorded.
    execution = harness.run("KR", run_date=SUNDAY)
    assert execution.status == "SUCCEEDED"
    before = harness.ledger_run("KR", SUNDAY)
    harness.notifications()

    execution.status = "ABORTED"
    message = harness.deliver_status_change(execution)

    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "SUCCEEDED" and record["finished_at"] == before["finished_at"]
    assert record["late_failure"]["error"] == "ABORTED"
    assert message["subject"].endswith("KR 2026-11-15: SUCCEEDED")
    assert "afterwards the execution ended ABORTED" in message["message"]
    # a rerun of the date is still refused as already done
    again = harness.run("KR", run_date=SUNDAY)
    assert again.output["run"]["admission"] != "ADMITTED"
