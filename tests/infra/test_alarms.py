"""Every alarm of every synthesised stack fires on the first failure: the pipeline runs once a day, so a failed
run is one datapoint in one period and the periods around it have no data (tests/infra/alarm_evaluation.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.alarm_evaluation import fires_on_one_datapoint

# Alarms about a condition that must last, by logical id without CDK's hash suffix, each with its reason.
SUSTAINED = {
    "IngestIteratorAgeAlarm": "ingest lagging the stream for a minute is normal during a burst; the alarm is about "
    "a backlog that lasts (3 of 5 one-minute periods), before records age out to the failure queue",
}
_HASH = re.compile(r"[0-9A-F]{8}$")


def _alarms(dev_app) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack in dev_app.stack_names:
        for logical_id, resource in dev_app.template_json(stack)["Resources"].items():
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                yield stack, _HASH.sub("", logical_id), resource["Properties"]


def _metric_names(alarm: dict[str, Any]) -> set[str]:
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm.get("Metrics", []) if "MetricStat" in m}
    return names | ({alarm["MetricName"]} if "MetricName" in alarm else set())


def test_every_alarm_fires_on_one_failure_in_one_period(dev_app):
    alarms = list(_alarms(dev_app))
    checked = [(stack, name, alarm) for stack, name, alarm in alarms if name not in SUSTAINED]

    silent = {
        f"{stack}/{name}": {
            key: alarm.get(key) for key in ("EvaluationPeriods", "DatapointsToAlarm", "TreatMissingData")
        }
        for stack, name, alarm in checked
        if not fires_on_one_datapoint(alarm)
    }
    assert silent == {}
    # Every exemption names an alarm that exists (a renamed alarm is checked again, not silently skipped).
    assert {name for _, name, _ in alarms} >= set(SUSTAINED)
    # The daily run's own failure alarms are among those checked.
    metrics = set().union(*(_metric_names(alarm) for _, _, alarm in checked))
    assert {"ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut", "Errors"} <= metrics


@pytest.mark.parametrize(
    ("settings", "fires"),
    [
        # cdk-monitoring-constructs' default: the periods beside the failure count as good, 1 of 3 is not 3.
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 3, "TreatMissingData": "notBreaching"}, False),
        ({"EvaluationPeriods": 3, "TreatMissingData": "missing"}, False),  # no DatapointsToAlarm: 3 of 3
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 3, "TreatMissingData": "breaching"}, True),
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching"}, True),
        ({"EvaluationPeriods": 1, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching"}, True),
        ({"EvaluationPeriods": 1}, True),  # TreatMissingData absent: missing, 1 of 1
    ],
)
def test_the_evaluation_counts_m_of_n_with_missing_data_as_documented(settings, fires):
    alarm = {"Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", **settings}
    assert fires_on_one_datapoint(alarm) is fires


def test_a_datapoint_within_the_threshold_never_fires():
    alarm = {"EvaluationPeriods": 1, "Threshold": 2, "ComparisonOperator": "GreaterThanOrEqualToThreshold"}
    assert fires_on_one_datapoint(alarm) is False
    assert fires_on_one_datapoint(alarm, value=2) is True
