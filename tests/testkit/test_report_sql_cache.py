"""The fake Athena keeps report results by report_inputs: that key must hold everything a result depends on, so
a kept result is what running the statement again would give (and a changed input is a miss)."""

from __future__ import annotations

from datetime import date

import boto3
from moto import mock_aws

from evaluation.queries import ReportOutput, ReportQueryParams, athena_statements
from testkit.fakes.athena import _lines
from testkit.fakes.report_sql import report_inputs, report_unload

PREPARED, RESULTS = "personalize-dev-prepared-1-r", "personalize-dev-results-1-r"
NOW = 1_751_328_000.0  # 2025-07-01


def _prepare(s3, execution: str, interactions: bytes) -> list[str]:
    prefix = f"athena/runs/KR/2025-07-01/{execution}/a1"
    for output, body in (
        ("interactions", interactions),
        ("users", _lines("users", NOW)),
        ("items", _lines("items", NOW)),
    ):
        s3.put_object(Bucket=PREPARED, Key=f"{prefix}/{output}/part-00000", Body=body)
    params = ReportQueryParams(country="KR", run_date=date(2025, 7, 1), execution=execution, attempt="a1")
    statements = athena_statements(params, f"s3://{PREPARED}/athena/reports/KR/2025-07-01/{execution}/r1")
    return [statements[o].sql for o in (ReportOutput.SUMMARY, ReportOutput.USERS)]


@mock_aws
def test_two_executions_over_the_same_data_share_a_key_and_a_result_and_other_data_does_not():
    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in (PREPARED, RESULTS):
        s3.create_bucket(Bucket=bucket)
    interactions = _lines("interactions", NOW)
    first, second = _prepare(s3, "exec-1", interactions), _prepare(s3, "exec-2", interactions)
    other = _prepare(s3, "exec-3", interactions + b"u5,i7,1751241600,view,1.0\n")
    for a, b, c in zip(first, second, other, strict=True):
        assert report_inputs(a, PREPARED) == report_inputs(b, PREPARED)
        assert report_unload(s3, a, PREPARED) == report_unload(s3, b, PREPARED)
        assert report_inputs(c, PREPARED) != report_inputs(a, PREPARED)
