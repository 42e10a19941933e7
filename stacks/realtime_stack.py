"""Real-time events of one environment: Kinesis -> ingest Lambda -> Personalize PutEvents per country.

Independent of the daily pipeline: it only needs each country's event tracker (tracking id and ARN).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.realtime_ingest import RealtimeIngest
from stacks.country_stack import CountryStack
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
        )
        CfnOutput(self, "StreamName", value=self.ingest.stream.stream_name)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.ingest.dlq.queue_url)
