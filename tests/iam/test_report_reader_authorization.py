"""The back office's managed policy `personalize-dev-report-reader` reads the reports and nothing else:
its grants, evaluated against the synthesised templates (key policy included) like the recorded calls in
tests/iam/test_call_authorization.py, for the requests S3 makes when it serves a report object."""

from __future__ import annotations

import pytest

from tests.iam.calls import object_arn
from tests.iam.policy import ACCOUNT, REGION, Assembly, Request

READER_POLICY = "personalize-dev-report-reader"
RESULTS = f"personalize-dev-results-{ACCOUNT}-{REGION}"
PREPARED = f"personalize-dev-prepared-{ACCOUNT}-{REGION}"


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


def _key_of(assembly: Assembly, bucket: str) -> str:
    for stack in assembly.templates:
        for logical_id, resource in assembly.resources(stack, "AWS::S3::Bucket").items():
            if assembly.physical_name(stack, logical_id) != bucket:
                continue
            (rule,) = resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            key = assembly.resolve(stack, rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
            keys = {
                assembly.attribute(s, k, "Ref"): assembly.arn(s, k)
                for s in assembly.templates
                for k in assembly.resources(s, "AWS::KMS::Key")
            }
            return keys.get(key, key)
    raise AssertionError(f"no bucket {bucket}")


def _decrypt(key: str, bucket: str, via_s3: bool = True) -> Request:
    # With an S3 Bucket Key (ours) the encryption context is the bucket ARN.
    context = {
        **({"kms:ViaService": f"s3.{REGION}.amazonaws.com"} if via_s3 else {}),
        "kms:CallerAccount": ACCOUNT,
        "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}",
        "kms:EncryptionContextKeys": ["aws:s3:arn"],
    }
    return Request.of("kms:Decrypt", [key], context)


def test_report_reader_reads_reports_and_latest_only(assembly):
    reader = assembly.managed_policy(READER_POLICY)
    allowed = [
        object_arn(RESULTS, "KR/2026-11-15/report.json"),
        object_arn(RESULTS, "KR/2026-11-15/report.html"),
        object_arn(RESULTS, "KR/latest/report.json"),
    ]
    for arn in allowed:
        decision = assembly.evaluate(reader, Request.of("s3:GetObject", [arn]))
        assert decision.allowed, decision.line(READER_POLICY)
    refused = [
        object_arn(RESULTS, "KR/2026-11-15/user-personalization/users.json.out"),  # batch output: user lists
        object_arn(RESULTS, "XX/latest/report.json"),  # not a country of this env
        object_arn(PREPARED, "KR/2026-11-15/report.json"),
    ]
    for arn in refused:
        assert not assembly.evaluate(reader, Request.of("s3:GetObject", [arn])).allowed, arn
    for action in ("s3:PutObject", "s3:ListBucket", "s3:DeleteObject"):
        arn = f"arn:aws:s3:::{RESULTS}" if action == "s3:ListBucket" else allowed[2]
        assert not assembly.evaluate(reader, Request.of(action, [arn])).allowed, action


def test_report_reader_decrypts_through_s3_only(assembly):
    reader = assembly.managed_policy(READER_POLICY)
    key = _key_of(assembly, RESULTS)
    decision = assembly.evaluate(reader, _decrypt(key, RESULTS))
    assert decision.allowed, decision.line(READER_POLICY)
    assert not assembly.evaluate(reader, _decrypt(key, RESULTS, via_s3=False)).allowed
    assert not assembly.evaluate(reader, _decrypt(key, PREPARED)).allowed
    assert not assembly.evaluate(reader, Request.of("kms:GenerateDataKey", [key], {})).allowed
