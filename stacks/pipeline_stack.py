"""The daily pipeline of one environment: one state machine, run once per country per day by EventBridge
Scheduler in the country's time zone, its step Lambdas, the run ledger, notifications and monitoring.

The steps are declared in stacks/pipeline_steps.py; the definition generated from them is checked in as
statemachines/pipeline.asl.json (stacks/state_machine_definition.py). Each part is built by its own module under
stacks/constructs/, in this stack's scope (their logical ids are the stack's).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from pipeline.handlers import FAILURE_RECORDER
from stacks.config import EnvironmentConfig
from stacks.constructs.failure_recording import FailureRecording
from stacks.constructs.operator_access import report_reader_policy, run_operator_policy
from stacks.constructs.pipeline_monitoring import pipeline_monitoring
from stacks.constructs.pipeline_state_machine import PipelineStateMachine
from stacks.constructs.raw_catalog import RawCatalog
from stacks.constructs.report_catalog import ReportCatalog
from stacks.constructs.run_notifications import notifications_topic
from stacks.constructs.schedules import DailySchedules
from stacks.country_stack import CountryStack
from stacks.names import bucket_name, ledger_table_name, read_model_table_name
from stacks.retention import data_removal_policy


class PipelineStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        personalize_role: iam.IRole,
        countries: dict[str, CountryStack],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.key = key

        # Data the pipeline reads and writes (the Data stack owns the buckets) and its Athena catalogue.
        raw = s3.Bucket.from_bucket_name(self, "RawBucket", bucket_name(config, "raw"))
        prepared = s3.Bucket.from_bucket_name(self, "PreparedBucket", bucket_name(config, "prepared"))
        self.catalog = RawCatalog(
            self,
            "RawCatalog",
            env_name=config.env,
            raw_bucket=raw,
            athena_results_bucket=prepared,
            encryption_key=key,
            bytes_scanned_cutoff=config.data.athena_bytes_scanned_cutoff_gb * 1024**3,
        )
        results = s3.Bucket.from_bucket_name(self, "ResultsBucket", bucket_name(config, "results"))
        self.report_catalog = ReportCatalog(self, "ReportCatalog", raw_catalog=self.catalog, results_bucket=results)

        self.ledger = self._run_ledger(config, key)
        self.topic = notifications_topic(self, config, key)

        pipeline = PipelineStateMachine(
            self,
            config=config,
            key=key,
            ledger=self.ledger,
            topic=self.topic,
            personalize_role=personalize_role,
            prepared=prepared,
            catalog=self.catalog,
            report_catalog=self.report_catalog,
            # By name and key, not the serving stack's resource: the pipeline's template imports no export of
            # it (the same table: names.read_model_table_name, the env's key).
            read_model_table=dynamodb.Table.from_table_attributes(
                self, "ReadModelTable", table_name=read_model_table_name(config), encryption_key=key
            ),
        )
        self.state_machine = pipeline.state_machine
        self.failures = FailureRecording(
            self, config=config, key=key, ledger=self.ledger, topic=self.topic, state_machine=self.state_machine
        )
        self.steps = {**pipeline.steps, FAILURE_RECORDER: self.failures.recorder}
        self.schedules = DailySchedules(
            self,
            config=config,
            key=key,
            state_machine=self.state_machine,
            personalize_role=personalize_role,
            countries=countries,
            catalog=self.catalog,
        )
        self.monitoring = pipeline_monitoring(
            self,
            config,
            topic=self.topic,
            state_machine=self.state_machine,
            queues=[
                ("Schedule DLQ", self.schedules.dlq),
                ("Failure recorder DLQ", self.failures.dlq),
                ("Failure recorder failures", self.failures.failures),
            ],
            steps=self.steps,
            recorder=self.failures.recorder,
        )
        self.operator_policy = run_operator_policy(self, config, key, self.state_machine, self.ledger)
        self.report_reader_policy = report_reader_policy(self, config, key)

        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "LedgerTableName", value=self.ledger.table_name)
        # tools/smoke subscribes a temporary queue to it to see the run notification.
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)

    def _run_ledger(self, config: EnvironmentConfig, key: kms.IKey) -> dynamodb.Table:
        """The run ledger pipeline/ledger.py reads and writes."""
        # Table (not TableV2): TableV2's customer-managed key needs a concrete region, and dev is region-agnostic.
        return dynamodb.Table(
            self,
            "RunLedger",
            table_name=ledger_table_name(config),
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=data_removal_policy(config),
        )
