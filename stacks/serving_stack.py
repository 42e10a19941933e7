"""Serving of one environment: the read model the daily run publishes (pipeline.steps.publish) and the API that
answers from it, behind IAM (SigV4) authorization (docs/serving.md).

Independent of the pipeline: the Publish step finds the table by its name (stacks.names.read_model_table_name).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from serving import read_model
from stacks.config import EnvironmentConfig
from stacks.constructs.exposure_log import ExposureLog
from stacks.constructs.serving_api import MAX_INTEGRATION_TIMEOUT, ServingApi
from stacks.constructs.serving_function import ServingFunction
from stacks.names import read_model_table_name
from stacks.retention import data_removal_policy


class ServingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        alarm_topic: sns.ITopic | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = self._read_model(config, key)
        self.function = ServingFunction(self, "Function", config=config, table=self.table, encryption_key=key)
        self.exposure_log = ExposureLog(
            self,
            "ExposureLog",
            config=config,
            log_group=self.function.handler.log_group,
            encryption_key=key,
            alarm_topic=alarm_topic,
        )
        self.api = ServingApi(
            self,
            "Api",
            name_prefix=config.name_prefix,
            function=self.function.function,
            # API Gateway waits for the function a second longer than the function may run.
            integration_timeout=_at_most(self.function.timeout.to_seconds() + 1, MAX_INTEGRATION_TIMEOUT),
            throttling_rate_per_s=config.serving.throttling_rate_per_s,
            throttling_burst=config.serving.throttling_burst,
            encryption_key=key,
        )
        self.caller_policy = self.api.caller_policy(f"{config.name_prefix}-serving-caller")

        # What `personalize-runs recommend` and the apps' configuration read.
        CfnOutput(self, "ApiUrl", value=self.api.api.api_endpoint)
        CfnOutput(self, "CallerPolicyArn", value=self.caller_policy.managed_policy_arn)
        CfnOutput(self, "ReadModelTableName", value=self.table.table_name)

    def _read_model(self, config: EnvironmentConfig, key: kms.IKey) -> dynamodb.Table:
        """The read model (serving.read_model): keys and TTL attribute from the module the API and Publish share."""
        # Table (not TableV2): TableV2's customer-managed key needs a concrete region, and dev is region-agnostic.
        return dynamodb.Table(
            self,
            "ReadModel",
            table_name=read_model_table_name(config),
            partition_key=dynamodb.Attribute(name=read_model.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=read_model.SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=read_model.EXPIRES_AT,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=data_removal_policy(config),
        )


def _at_most(seconds: float, limit: Duration) -> Duration:
    return Duration.seconds(min(seconds, limit.to_seconds()))
