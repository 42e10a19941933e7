"""Real-time events of one environment: Kinesis -> ingest Lambda -> Personalize PutEvents per country.

Independent of the daily pipeline: it only needs each country's event tracker (tracking id and ARN).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.realtime_ingest import RealtimeIngest
from stacks.country_stack import CountryStack
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept, accept_wildcards
from stacks.names import bucket_name
from stacks.retention import data_removal_policy


class RealtimeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        countries: dict[str, CountryStack],
        alarm_topic: sns.ITopic | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Oversized dead letters go under one prefix of the results bucket (its name derives from the env, so
        # no cross-stack reference: the ARNs in the grants render as literals).
        dead_letter_bucket = s3.Bucket.from_bucket_name(
            self, "DeadLetterPayloadBucket", bucket_name(config, "results")
        )
        self.ingest = RealtimeIngest(
            self,
            "Ingest",
            env_name=config.env,
            encryption_key=key,
            tracking_ids={code: stack.tracking_id for code, stack in countries.items()},
            tracker_arns=[stack.event_tracker_arn for stack in countries.values()],
            shard_count=config.realtime.shard_count,
            alarm_topic=alarm_topic,
            removal_policy=data_removal_policy(config),
            dead_letter_bucket=dead_letter_bucket,
        )
        CfnOutput(self, "StreamName", value=self.ingest.stream.stream_name)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.ingest.dlq.queue_url)
        # What `personalize-runs events replay` reads (one DescribeStacks call; tools/replay/events.py).
        CfnOutput(self, "StreamArn", value=self.ingest.stream.stream_arn)
        CfnOutput(self, "FailureQueueUrl", value=self.ingest.failure_queue.queue_url)
        # The tracking ids are the country stacks' own `TrackingId` outputs (re-outputting an import here is
        # what cfn-lint W6001 warns about).
        CfnOutput(self, "DeadLetterPayloadBucketName", value=dead_letter_bucket.bucket_name)
        self.events_operator_policy = self._events_operator_policy(
            config, key, dead_letter_bucket, [stack.stack_name for stack in countries.values()]
        )

    def _events_operator_policy(
        self, config: EnvironmentConfig, key: kms.IKey, bucket: s3.IBucket | None, country_stacks: list[str]
    ) -> iam.ManagedPolicy:
        """What `personalize-runs events replay` needs (docs/runbook.md); attach it to the on-call role next to
        `<prefix>-run-operator`."""
        ingest = self.ingest
        stacks = [
            self.format_arn(
                service="cloudformation",
                resource="stack",
                resource_name=f"{name}/*",  # the suffix is the id CloudFormation assigns at creation
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            for name in [self.stack_name, *country_stacks]
        ]
        queues = [ingest.failure_queue.queue_arn, ingest.dlq.queue_arn]
        statements = [
            iam.PolicyStatement(
                sid="FindRealtimeResources", actions=["cloudformation:DescribeStacks"], resources=stacks
            ),
            iam.PolicyStatement(
                sid="ReadFailureDescriptors",
                actions=[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                resources=[ingest.failure_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="DeadLetterReplayedRecords", actions=["sqs:SendMessage"], resources=[ingest.dlq.queue_arn]
            ),
            iam.PolicyStatement(
                sid="ReadStreamBySequenceNumber",
                actions=["kinesis:GetShardIterator", "kinesis:GetRecords"],
                resources=[ingest.stream.stream_arn],
            ),
            # No resource-level permissions (Service Authorization Reference): the tracking ids bound it.
            iam.PolicyStatement(sid="ResendEvents", actions=["personalize:PutEvents"], resources=["*"]),
            key_statement(
                key,
                service="sqs",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=queues,
                sid="EncryptedQueues",
            ),
            key_statement(
                key,
                service="kinesis",
                actions=["kms:Decrypt"],
                resources=[ingest.stream.stream_arn],
                sid="EncryptedStream",
            ),
        ]
        wildcards = list(stacks)
        if bucket is not None:
            objects = ingest.dead_letter_payloads_arn(bucket)
            wildcards.append(objects)
            statements += [
                iam.PolicyStatement(sid="OversizedDeadLetters", actions=["s3:PutObject"], resources=[objects]),
                key_statement(
                    key,
                    service="s3",
                    actions=["kms:GenerateDataKey"],
                    resources=s3_context([bucket.bucket_arn]),
                    sid="EncryptedDeadLetterPayloads",
                ),
            ]
        policy = iam.ManagedPolicy(
            self,
            "EventsOperatorPolicy",
            managed_policy_name=f"{config.name_prefix}-events-operator",
            description="Replay real-time events Lambda gave up on from the stream (personalize-runs events replay)",
            statements=statements,
        )
        accept(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "personalize:PutEvents has no resource-level permissions, so it is granted on * alone; the replay sends "
            "only to the tracking ids this stack outputs.",
        )
        accept_wildcards(
            policy,
            resources=wildcards,
            reason="This env's realtime and country stacks (their id suffix is assigned by CloudFormation) and "
            "the oversized dead-letter prefix only.",
        )
        return policy
