"""Nothing that holds data or unprocessed work is deleted by a stack update or delete outside dev.

Every SQS queue, DynamoDB table, S3 bucket, KMS key and Kinesis stream of a prod-like env carries
DeletionPolicy and UpdateReplacePolicy "Retain"; in dev (sample data only) they go with their stacks.
"""

from __future__ import annotations

import pytest

# The concrete env is synthesised once per worker: keep its users on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("prod_like")

HOLDS_DATA = (
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::Kinesis::Stream",
)
# At least these exist: ingest DLQ + failure queue, schedule DLQ, failure recorder DLQ; the ledger;
# raw, prepared, results, access logs; the env key; the event stream.
MINIMUM = {
    "AWS::SQS::Queue": 4,
    "AWS::DynamoDB::Table": 1,
    "AWS::S3::Bucket": 4,
    "AWS::KMS::Key": 1,
    "AWS::Kinesis::Stream": 1,
}


def data_resources(synthesised) -> dict[str, dict]:
    """'<stack>/<logical id>' -> resource, for every resource type that holds data, across all stacks."""
    found = {}
    for stack in synthesised.stack_names:
        for logical_id, resource in synthesised.template_json(stack)["Resources"].items():
            if resource["Type"] in HOLDS_DATA:
                found[f"{stack}/{logical_id}"] = resource
    return found


def assert_complete(found: dict[str, dict]) -> None:
    for type_name, minimum in MINIMUM.items():
        count = sum(1 for r in found.values() if r["Type"] == type_name)
        assert count >= minimum, f"{type_name}: {count} < {minimum}"


@pytest.fixture(scope="module")
def prod_like(prod_like_app):
    return prod_like_app


def test_outside_dev_every_queue_table_bucket_key_and_stream_is_retained(prod_like):
    found = data_resources(prod_like)
    assert_complete(found)
    not_retained = {
        name: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
        for name, r in found.items()
        if (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy")) != ("Retain", "Retain")
    }
    assert not not_retained, f"deleted with their stack or on replacement: {not_retained}"


def test_in_dev_the_same_resources_go_with_their_stacks(dev_app):
    found = data_resources(dev_app)
    assert_complete(found)
    kept = {name: r.get("DeletionPolicy") for name, r in found.items() if r.get("DeletionPolicy", "Delete") != "Delete"}
    assert not kept, f"dev resources that would outlive `cdk destroy`: {kept}"
