"""The one way a role of this app may use the env's KMS key: only through the AWS service that holds the data.

One key protects every bucket, queue, stream, topic, table, log group, state machine and dataset group of an
env, so an unconditioned `kms:Decrypt` on it would let a step read everything the key protects, directly
through the KMS API. Every grant here carries
- `kms:ViaService`: the call must come from that service acting for the role (S3 reading an object, SQS
  storing a message), never from the role calling KMS itself;
- where the service sets one, `kms:EncryptionContext:<key>`: only the named resources (this table, these
  queues), as each service documents its encryption context:
  S3 `aws:s3:arn` (the bucket ARN with bucket keys, else the object ARN), DynamoDB `aws:dynamodb:tableName`,
  SQS `aws:sqs:arn`, SNS `aws:sns:topicArn`, Kinesis `aws:kinesis:arn`, Step Functions
  `aws:states:stateMachineArn`, EventBridge Scheduler `aws:scheduler:schedule:arn`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms

# The encryption-context key each service puts on the data keys it asks for, and how to compare it.
CONTEXT_KEYS = {
    "s3": ("aws:s3:arn", "ArnLike"),
    "dynamodb": ("aws:dynamodb:tableName", "StringEquals"),
    "sqs": ("aws:sqs:arn", "ArnLike"),
    "sns": ("aws:sns:topicArn", "ArnLike"),
    "kinesis": ("aws:kinesis:arn", "ArnLike"),
    "states": ("aws:states:stateMachineArn", "ArnLike"),
    "scheduler": ("aws:scheduler:schedule:arn", "ArnLike"),
}


def service_endpoint(service: str) -> str:
    return f"{service}.{Aws.REGION}.amazonaws.com"


def key_statement(
    key: kms.IKey,
    *,
    service: str,
    actions: Sequence[str],
    resources: Sequence[str],
    sid: str | None = None,
    via_service: bool = True,
) -> iam.PolicyStatement:
    """`actions` on `key`, only when `service` uses it for `resources` (names or ARNs, per CONTEXT_KEYS).

    `via_service=False` for the one case where the role itself calls KMS with the service's encryption context
    (EventBridge Scheduler decrypting a schedule's target input with its execution role)."""
    if service not in CONTEXT_KEYS:
        raise ValueError(f"no encryption context known for {service!r}: add it to CONTEXT_KEYS with its source")
    if not resources:
        raise ValueError(f"a {service} key grant needs the resources it is for")
    context_key, operator = CONTEXT_KEYS[service]
    conditions: dict[str, dict[str, object]] = {}
    if via_service:
        conditions["StringEquals"] = {"kms:ViaService": service_endpoint(service)}
    conditions.setdefault(operator, {})[f"kms:EncryptionContext:{context_key}"] = list(resources)
    return iam.PolicyStatement(sid=sid, actions=list(actions), resources=[key.key_arn], conditions=conditions)


def grant_key_via(
    grantee: iam.IGrantable,
    key: kms.IKey,
    *,
    service: str,
    actions: Sequence[str],
    resources: Sequence[str],
) -> None:
    grantee.grant_principal.add_to_principal_policy(
        key_statement(key, service=service, actions=actions, resources=resources)
    )


def s3_context(bucket_arns: Sequence[str]) -> list[str]:
    """S3's context is the bucket ARN when bucket keys are on (ours), the object ARN otherwise: allow both."""
    return [form for arn in bucket_arns for form in (arn, f"{arn}/*")]
