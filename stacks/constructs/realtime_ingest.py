"""Real-time events: a Kinesis stream, the ingest Lambda (lambdas/ingest) that sends them to each country's
Personalize event tracker, its two queues and its alarms (contract in docs/event-contract.md).

Two queues, two kinds of failure:
- `dlq`: records that can never succeed (bad payload, unknown country, rejected by Personalize). The
  function writes each one there with its reason and original data, and moves on.
- `failure_queue`: the event source mapping's on-failure destination. Records Lambda gave up on (record age
  exhausted, e.g. a Personalize outage longer than the retry budget below) land here as shard/sequence
  ranges; their data stays in the stream for its retention period, which is why retention is longer than the
  default 24 h. `personalize-runs events replay` resends them (tools/replay/events.py).
"""

from __future__ import annotations

from typing import cast

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from common.environment import render
from ingest.dead_letters import DEAD_LETTER_PAYLOAD_PREFIX
from ingest.retry import PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP
from ingest.settings import IngestSettings
from stacks.constructs.lambda_function import PythonFunction
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept, accept_wildcards

QUEUE_RETENTION = Duration.days(14)  # the SQS maximum: time to inspect and replay after a holiday
# Defaults, as module constants so the signature stays free of calls.
BATCHING_WINDOW = Duration.seconds(1)  # events should reach Personalize within seconds
# Chosen by measurement (`python bench/bench_ingest.py --sweep`: a full shard's backlog, every
# PutEvents call 20 ms, 2 cores at load ~13): a shard drains ~ factor x pool x 50 x 0.9 records/s, so factor 4
# x pool 16 gives ~2,500 (factor 2 x 16: ~1,400; factor 1 x 32: ~1,400; goal 1,000). Batch size moves it
# little: calls per record 0.98 at 100 -> 0.92 at 500 -> 0.87 at 1,000 (factor 4). A factor of 4 rather than
# a bigger pool because a real botocore call costs ~2 ms of CPU (`putevents_client_cpu_ms_per_call`): one
# Python process manages only a few hundred calls/s, so the calls must spread over processes. With the 1 s
# window a full shard gives each of the 4 batchers ~250-record batches; a backlog gives full ones.
BATCH_SIZE = 500
PARALLELIZATION_FACTOR = 4
DELIVERY_CONCURRENCY = 16  # sessions each invocation delivers at once
# New on-demand streams start with 4 MB/s of write capacity, i.e. 4 shards' worth (Kinesis developer guide,
# capacity modes); above that PutEvents' throttling backoff is what keeps within the quota.
ON_DEMAND_INITIAL_SHARDS = 4


def put_events_rate_per_invocation(shard_count: int | None, parallelization_factor: int) -> int:
    """PutEvents requests/s per tracker one invocation may send: the per-dataset-group quota split over every
    invocation that can run at once (shards x parallelization factor), so that even a backlog drained by all of
    them at full speed stays within it."""
    invocations = (shard_count or ON_DEMAND_INITIAL_SHARDS) * parallelization_factor
    return max(1, PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP // invocations)
# The retry budget: Lambda "retries failed records until the record expires in the event source"
# when MaximumRetryAttempts is -1 ("the default value is -1, which sets the maximum number of retries to
# infinite"; Lambda API reference, EventSourceMappingConfiguration), and MaximumRecordAgeInSeconds discards
# records older than that age (minimum 60 s). So the budget is time, not a count that fast failures spend in
# seconds: each retry is an invocation that waits out the outage itself (ingest.delivery's outage patience,
# ~55 s of probing), and a record goes to the failure queue only once it is an hour old. An hour covers a
# 15-minute Personalize outage plus the backlog it leaves (a full shard drains ~2,500 records/s against
# 1,000 written: 15 min of backlog in ~10 min) with room to spare, while a permanent failure (a deleted
# tracker) holds its shards back one hour, not six.
RETRY_ATTEMPTS_UNTIL_RECORD_AGE = -1
MAX_RECORD_AGE = Duration.hours(1)
# Longer than the default 24 h: a batch sent to the failure queue on a Friday night can still be replayed
# from the stream on Monday.
STREAM_RETENTION = Duration.days(7)
FUNCTION_TIMEOUT = Duration.seconds(60)
FUNCTION_MEMORY_MB = 1024
ITERATOR_AGE_ALARM = Duration.minutes(5)


@jsii.implements(lambda_.IEventSourceDlq)
class _QueueDestination:
    """On-failure destination like sources.SqsDlq, minus its broad KMS grant (the construct grants
    sqs:SendMessage and the two KMS actions itself)."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, target: object, target_handler: lambda_.IFunction) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)


class RealtimeIngest(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        encryption_key: kms.IKey,
        tracking_ids: dict[str, str],
        tracker_arns: list[str],
        shard_count: int | None = None,
        alarm_topic: sns.ITopic | None = None,
        batch_size: int = BATCH_SIZE,
        max_batching_window: Duration = BATCHING_WINDOW,
        parallelization_factor: int = PARALLELIZATION_FACTOR,
        delivery_concurrency: int = DELIVERY_CONCURRENCY,
        retry_attempts: int = RETRY_ATTEMPTS_UNTIL_RECORD_AGE,
        max_record_age: Duration = MAX_RECORD_AGE,
        dead_letter_bucket: s3.IBucket | None = None,
        stream_retention: Duration = STREAM_RETENTION,
        function_timeout: Duration = FUNCTION_TIMEOUT,
        memory_size: int = FUNCTION_MEMORY_MB,
        iterator_age_alarm: Duration = ITERATOR_AGE_ALARM,
        # The stream and both queues hold events not yet delivered: RETAIN unless the env is disposable (dev).
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        if not tracking_ids:
            raise ValueError("RealtimeIngest needs at least one country -> tracking id")
        if not tracker_arns:
            raise ValueError("RealtimeIngest needs the event tracker ARNs to scope personalize:PutEvents")
        if shard_count is not None and shard_count < 1:
            raise ValueError(f"shard_count must be >= 1 or None for on-demand, got {shard_count}")
        # Lambda retries a failed batch up to `retry_attempts` times; each retry re-reads the stream, so
        # the records must still be there when the last attempt (bounded by max_record_age) runs.
        if max_record_age.to_seconds() >= stream_retention.to_seconds():
            raise ValueError("max_record_age must be shorter than the stream retention")
        if retry_attempts < -1:
            raise ValueError(f"retry_attempts must be >= 0, or -1 for 'until the record age', got {retry_attempts}")

        self.stream = kinesis.Stream(
            self,
            "Stream",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=encryption_key,
            stream_mode=kinesis.StreamMode.ON_DEMAND
            if shard_count is None
            else kinesis.StreamMode.PROVISIONED,
            shard_count=shard_count,
            retention_period=stream_retention,
            removal_policy=removal_policy,
        )
        accept(
            self.stream,
            "AwsSolutions-KDS3",
            "The stream is encrypted with the environment's customer managed key on purpose: one key policy "
            "and rotation for all data at rest, which the AWS managed aws/kinesis key cannot give.",
        )

        self.dlq = self._queue("DeadLetterQueue", encryption_key, removal_policy)
        self.failure_queue = self._queue("FailureQueue", encryption_key, removal_policy)

        self.handler = PythonFunction(
            self,
            "Ingest",
            handler="ingest.handler.handler",
            service="realtime-ingest",
            description=f"{env_name}: Kinesis events -> Personalize PutEvents per country",
            timeout=function_timeout,
            # CPU comes with memory: a botocore PutEvents call costs ~2.2 ms of CPU, and the pool makes up to
            # ~250 calls/s per invocation (bench_ingest); 256 MB (~0.15 vCPU) would cap it near 60.
            memory_size=memory_size,
            encryption_key=encryption_key,
            environment=render(
                IngestSettings,
                # Tokens (CfnEventTracker.attr_tracking_id) resolve inside the JSON at deploy time.
                tracking_ids=Stack.of(self).to_json_string(tracking_ids),
                dlq_url=self.dlq.queue_url,
                delivery_concurrency=delivery_concurrency,
                put_events_rate_per_s=put_events_rate_per_invocation(shard_count, parallelization_factor),
                dead_letter_bucket=dead_letter_bucket.bucket_name if dead_letter_bucket else None,
            ),
        )
        self.function: lambda_.Function = self.handler.function

        # PutEvents has no resource-level permissions (Service Authorization Reference; its API reference says
        # a caller needs "Resource": "*"): the tracking ids in TRACKING_IDS are what bound it to this env.
        self.handler.role.add_to_policy(iam.PolicyStatement(actions=["personalize:PutEvents"], resources=["*"]))
        accept(
            self.handler.role,
            "AwsSolutions-IAM5[Resource::*]",
            "personalize:PutEvents has no resource-level permissions, so it is granted on * alone; the function "
            "sends only to the tracking ids of this env's countries.",
        )
        # Written out instead of queue.grant_send_messages(), which adds kms:ReEncrypt*/GenerateDataKey*:
        # sending to a KMS-encrypted queue needs exactly GenerateDataKey and Decrypt, through SQS, for them.
        queues = [self.dlq.queue_arn, self.failure_queue.queue_arn]
        self.handler.role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=queues))
        self.handler.role.add_to_policy(
            key_statement(
                encryption_key, service="sqs", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=queues
            )
        )
        self.dead_letter_bucket = dead_letter_bucket
        if dead_letter_bucket is not None:
            self._grant_dead_letter_payloads(dead_letter_bucket, encryption_key)
        # What Lambda's event source mapping reads the stream with (Lambda guide, Kinesis execution role
        # permissions), instead of Stream.grant_read: no enhanced fan-out consumer here, so no
        # SubscribeToShard / DescribeStreamConsumer, and no ListStreams (no resource-level permissions, unused).
        self.handler.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                resources=[self.stream.stream_arn],
            )
        )
        self.handler.role.add_to_policy(
            key_statement(
                encryption_key, service="kinesis", actions=["kms:Decrypt"], resources=[self.stream.stream_arn]
            )
        )
        # The mapping itself (not sources.KinesisEventSource, whose Stream.grant_read adds the grants above).
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "StreamMapping",
            target=self.function,
            event_source_arn=self.stream.stream_arn,
            # Oldest first: a new or recreated mapping must not skip what producers already wrote.
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            # Lambda keeps records of one partition key (session_id) in order across the factor.
            parallelization_factor=parallelization_factor,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            # CDK accepts 0-10,000 only; -1 is written below.
            retry_attempts=None if retry_attempts == -1 else retry_attempts,
            max_record_age=max_record_age,
            on_failure=_QueueDestination(self.failure_queue),
        )
        if retry_attempts == -1:
            # Explicit rather than CloudFormation's default (also -1), so the template says what is meant.
            # An EventSourceMapping's default child is always its CfnEventSourceMapping.
            mapping = cast(lambda_.CfnEventSourceMapping, self.event_source_mapping.node.default_child)
            mapping.add_property_override("MaximumRetryAttempts", -1)
        # Lambda checks the role's stream permissions when it creates the mapping: the policy must exist first.
        self.event_source_mapping.node.add_dependency(self.handler.role)

        self.alarms = self._alarms(iterator_age_alarm, alarm_topic)

    def dead_letter_payloads_arn(self, bucket: s3.IBucket) -> str:
        return bucket.arn_for_objects(f"{DEAD_LETTER_PAYLOAD_PREFIX}*")

    def _grant_dead_letter_payloads(self, bucket: s3.IBucket, key: kms.IKey) -> None:
        """Dead letters above the SQS bound are written whole under one prefix of the bucket, nothing else."""
        objects = self.dead_letter_payloads_arn(bucket)
        self.handler.role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[objects]))
        # SSE-KMS PutObject asks S3 for a data key (the bucket key, context = the bucket ARN).
        self.handler.role.add_to_policy(
            key_statement(key, service="s3", actions=["kms:GenerateDataKey"], resources=s3_context([bucket.bucket_arn]))
        )
        accept_wildcards(
            self.handler.role,
            resources=[objects],
            reason="Oversized dead letters only: one object per record under the dead-letters/ingest/ prefix.",
        )

    def _queue(self, construct_id: str, key: kms.IKey, removal_policy: RemovalPolicy) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            # Data keys are reused for 5 min: far fewer KMS calls from the function for the same protection.
            data_key_reuse=Duration.minutes(5),
            retention_period=QUEUE_RETENTION,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        accept(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself the end of the line for failed ingest records (a dead-letter or on-failure "
            "destination); giving it another dead-letter queue would only move the same messages again.",
        )
        return queue

    def _alarms(self, iterator_age: Duration, topic: sns.ITopic | None) -> list[cloudwatch.Alarm]:
        one_minute = Duration.minutes(1)
        alarms = [
            cloudwatch.Alarm(
                self,
                "IteratorAgeAlarm",
                alarm_description="Ingest is falling behind the stream: events reach Personalize late, and "
                "records older than the maximum record age go to the failure queue.",
                metric=self.function.metric(
                    "IteratorAge", statistic=cloudwatch.Stats.MAXIMUM, period=one_minute
                ),
                threshold=iterator_age.to_milliseconds(),
                evaluation_periods=5,
                datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "FunctionErrorsAlarm",
                alarm_description="The ingest function failed whole batches (crash or timeout); Lambda "
                "bisects and retries them.",
                metric=self.function.metric_errors(
                    statistic=cloudwatch.Stats.SUM, period=Duration.minutes(5)
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        for queue, name, what in (
            (self.dlq, "DeadLetterDepthAlarm", "records that can never be delivered (see each reason)"),
            (
                self.failure_queue,
                "FailureQueueDepthAlarm",
                "batches Lambda gave up on (records over an hour old); replay them from the stream with "
                "`personalize-runs events replay` (docs/runbook.md)",
            ),
        ):
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    name,
                    alarm_description=f"Ingest queue holds {what}.",
                    metric=queue.metric_approximate_number_of_messages_visible(
                        statistic=cloudwatch.Stats.MAXIMUM, period=one_minute
                    ),
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        if topic is not None:
            for alarm in alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
                alarm.add_ok_action(cw_actions.SnsAction(topic))
        return alarms
