"""CloudWatch's evaluation of a metric alarm (M of N, missing data), as AWS documents it, for template tests.

CloudWatch User Guide, "Alarm evaluation": "Evaluation Periods is the number of the most recent periods, or data
points, to evaluate when determining alarm state." and "Datapoints to Alarm is the number of data points within
the Evaluation Periods that must be breaching to cause the alarm to go to the ALARM state. The breaching data
points don't have to be consecutive, but they must all be within the last number of data points equal to
Evaluation Period."

Missing data (the TreatMissingData values as the CDK's reference describes them): "notBreaching: Missing
data points are treated as being within the threshold."; "breaching: Missing data points are treated as breaching
the threshold."; "ignore: The current alarm state is maintained."; "missing: The alarm does not consider missing
data points when evaluating whether to change state." Without TreatMissingData, "the default behavior of
missing is used" (CloudWatch's PutMetricAlarm reference).

For `ignore` and `missing` the guide describes further cases that depend on where the breaching point sits in a
longer evaluation range; this model takes only what always holds: the present points alone must reach
Datapoints to Alarm. It may call an alarm silent that AWS would fire, never the reverse.
"""

from __future__ import annotations

import operator
from typing import Any

_COMPARISONS = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def breaches(alarm: dict[str, Any], value: float) -> bool:
    """Whether one datapoint of `value` is outside the alarm's threshold."""
    comparison = alarm["ComparisonOperator"]
    if comparison not in _COMPARISONS:
        raise ValueError(f"no model for ComparisonOperator {comparison} (anomaly bands have no fixed threshold)")
    return _COMPARISONS[comparison](value, alarm["Threshold"])


def fires_on_one_datapoint(alarm: dict[str, Any], value: float = 1) -> bool:
    """Whether the alarm (an AWS::CloudWatch::Alarm's Properties) goes to ALARM when one period holds one datapoint
    of `value` and every other period of its evaluation range has no data: a daily job that failed once."""
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm", periods))  # absent: N of N
    if not 1 <= needed <= periods:
        raise ValueError(f"DatapointsToAlarm {needed} is not between 1 and EvaluationPeriods {periods}")
    if not breaches(alarm, value):
        return False
    treatment = alarm.get("TreatMissingData", "missing")
    if treatment == "breaching":
        breaching = periods  # the empty periods count against the threshold too
    elif treatment in ("notBreaching", "ignore", "missing"):
        breaching = 1  # only the one datapoint there is
    else:
        raise ValueError(f"unknown TreatMissingData {treatment!r}")
    return breaching >= needed
