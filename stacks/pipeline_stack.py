"""The daily pipeline of one environment: one state machine, run once per country per day by EventBridge
Scheduler in the country's time zone, its step Lambdas, the run ledger, notifications and monitoring.

The steps are declared in stacks/pipeline_steps.py; the definition generated from them is checked in as
statemachines/pipeline.asl.json (stacks/state_machine_definition.py), and this stack substitutes ARNs into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from cdk_monitoring_constructs import (
    AlarmFactoryDefaults,
    ErrorCountThreshold,
    MaxMessageCountThreshold,
    MonitoringFacade,
    SnsAlarmActionStrategy,
)
from constructs import Construct

from pipeline.model import RunSettings, Timeouts
from stacks import sizing
from stacks.config import Country, EnvironmentConfig
from stacks.constructs.pipeline_step import PipelineStep
from stacks.constructs.raw_catalog import RawCatalog
from stacks.constructs.report_catalog import ReportCatalog
from stacks.country_stack import CountryStack
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept, accept_wildcards
from stacks.names import bucket_arn, bucket_name, ledger_table_name, state_machine_name
from stacks.pipeline_steps import PIPELINE_STEPS, StepContext
from stacks.retention import data_removal_policy
from stacks.state_machine_definition import (
    ASL_FILE,
    EVENT_BUS,
    NOTIFICATION_METRIC_NAMESPACE,
    NOTIFICATION_TOPIC,
    REGENERATE,
    definition,
    function_arn_substitution,
    render,
)

DATASET_TYPES = ("Interactions", "Users", "Items")


def run_settings(
    config: EnvironmentConfig,
    country: Country,
    country_stack: CountryStack,
    *,
    personalize_role_arn: str,
    catalog: RawCatalog,
) -> dict[str, Any]:
    """The country's settings as the pipeline reads them: built as the runtime's own model (so a field the
    Lambdas would refuse fails the synth, not the first run) and rendered as JSON into the schedule's input."""
    settings = RunSettings(
        env=config.env,
        name_prefix=config.name_prefix,
        country=country.code,
        time_zone=country.time_zone,
        recipes=list(country.recipes),
        full_training_weekday=country.training.full_training_weekday.iso,
        other_days=country.training.other_days.value,
        auto_training=country.training.auto_training,
        batch_mode=country.batch_inference.value,
        campaign_enabled=country.campaign.enabled,
        campaign_min_tps=country.campaign.min_tps,
        gate=country.gate,
        exploration=country.exploration,
        filters=country.filters,
        window_days=config.data.window_days,
        report_evaluated_users=country.data.report_evaluated_users,
        quality=config.data.quality,
        timeouts=Timeouts(**config.timeouts.model_dump(), training_hours=country.training.timeout_hours),
        dataset_group_arn=country_stack.dataset_group_arn,
        dataset_arns={t: country_stack.dataset_arn(t) for t in DATASET_TYPES},
        schema_digests={t: country_stack.schema_digest(t) for t in DATASET_TYPES},
        personalize_role_arn=personalize_role_arn,
        prepared_bucket=bucket_name(config, "prepared"),
        results_bucket=bucket_name(config, "results"),
        genre_mapping_uri=f"s3://{bucket_name(config, 'raw')}/{catalog.genre_mapping_key}",
        athena_database=catalog.database_name,
        athena_workgroup=catalog.workgroup_name,
    )
    return settings.model_dump(mode="json")


@jsii.implements(lambda_.IDestination)
class _EncryptedQueueDestination:
    """lambda_destinations.SqsDestination, with the key grant scoped like every other (stacks/key_grants.py):
    Lambda sends the invocation record with the function's role, so that role may send to this queue and use
    the key only through SQS for it (SqsDestination would grant kms:ReEncrypt*/GenerateDataKey* on the key)."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self.queue, self.key = queue, key

    def bind(self, _scope: Construct, fn: lambda_.IFunction, *, type: Any = None) -> lambda_.DestinationConfig:  # noqa: A002
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn]))
        fn.add_to_role_policy(
            key_statement(
                self.key,
                service="sqs",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.queue.queue_arn],
            )
        )
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


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

        # Table (not TableV2): TableV2's customer-managed key needs a concrete region, and dev is region-agnostic.
        self.ledger = dynamodb.Table(
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

        self.topic = sns.Topic(
            self,
            "RunNotifications",
            display_name=f"Personalize runs ({config.env})",
            master_key=key,
            enforce_ssl=True,
        )
        for email in config.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

        self.steps = self._steps(config, key, personalize_role, prepared)
        self.state_machine = self._state_machine(config)
        self._failure_recorder(config)
        self.schedule_dlq = self._schedules(config, key, personalize_role, countries)
        self._monitoring(config)
        self.operator_policy = self._operator_policy(config, key)
        self.report_reader_policy = self._report_reader_policy(config, key)
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "LedgerTableName", value=self.ledger.table_name)
        # tools/smoke subscribes a temporary queue to it to see the run notification.
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.topic.topic_arn)

    # ------------------------------------------------------------------------------------------ steps

    def _step(
        self,
        construct_id: str,
        handler: str,
        description: str,
        substitution: str,
        *,
        ledger_access: str = "write",
        environment: dict[str, str] | None = None,
        timeout: Duration = Duration.minutes(5),
        memory_size: int = sizing.DEFAULT_MEMORY_MB,
        ephemeral_storage_mb: int | None = None,
        dockerfile: str | None = None,
    ) -> PipelineStep:
        return PipelineStep(
            self,
            construct_id,
            handler=handler if "." in handler else f"pipeline.handlers.{handler}",
            description=description,
            substitution=substitution,
            ledger=self.ledger,
            ledger_access=ledger_access,
            environment={"env_name": self.config.env, **(environment or {})},
            timeout=timeout,
            memory_size=memory_size,
            ephemeral_storage_mb=ephemeral_storage_mb,
            encryption_key=self.key,
            dockerfile=dockerfile,
        )

    def _steps(
        self, config: EnvironmentConfig, key: kms.IKey, personalize_role: iam.IRole, prepared: s3.IBucket
    ) -> dict[str, PipelineStep]:
        """One function and role per declared step (stacks/pipeline_steps.py), in pipeline order."""
        context = StepContext(
            stack=self,
            config=config,
            key=key,
            personalize_role=personalize_role,
            prepared=prepared,
            catalog=self.catalog,
            report_catalog=self.report_catalog,
            state_machine_arn=self.state_machine_arn_of(config),
        )
        steps: dict[str, PipelineStep] = {}
        for declaration in PIPELINE_STEPS:
            memory, storage = declaration.memory_mb, declaration.ephemeral_storage_mb
            step = self._step(
                declaration.name.state,
                declaration.handler,
                declaration.description,
                function_arn_substitution(declaration.name.state),
                ledger_access=declaration.ledger_access,
                timeout=declaration.timeout,
                memory_size=memory(config) if memory else sizing.DEFAULT_MEMORY_MB,
                ephemeral_storage_mb=storage(config) if storage else None,
                dockerfile=declaration.dockerfile,
            )
            if declaration.grants:
                declaration.grants(step, context)
            steps[declaration.key] = step
        return steps

    # --------------------------------------------------------------------------------- state machine

    def _state_machine(self, config: EnvironmentConfig) -> sfn.StateMachine:
        substitutions = {step.substitution: step.function.function_arn for step in self.steps.values()}
        substitutions[NOTIFICATION_TOPIC] = self.topic.topic_arn
        substitutions[EVENT_BUS] = "default"
        log_group = logs.LogGroup(
            self,
            "PipelineLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Step Functions names the state machine as aws:SourceArn when it assumes the role: trust this one only.
        machine_role = iam.Role(
            self,
            "PipelineRole",
            description=f"The {config.env} pipeline state machine: invoke its steps, notify, announce",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": self.state_machine_arn_of(config)},
                },
            ),
        )
        machine = sfn.StateMachine(
            self,
            "Pipeline",
            role=machine_role,
            state_machine_name=state_machine_name(config),
            definition_body=sfn.DefinitionBody.from_file(str(self._checked_in_definition())),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            # ALL events without execution data: every transition is visible, no run data lands in the logs.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.key),
        )
        for step in self.steps.values():
            step.function.grant_invoke(machine)
        self.grant_publish_notifications(machine.role)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[self.format_arn(service="events", resource="event-bus", resource_name="default")],
            )
        )
        # CountNotificationFailure (the ASL): PutMetricData has no resource-level permissions; the namespace
        # condition is what bounds it.
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": NOTIFICATION_METRIC_NAMESPACE}},
            )
        )
        accept_wildcards(
            machine.role,
            resources=[f"{step.function.function_arn}:*" for step in self.steps.values()],
            reason="Function.grant_invoke also allows the function's versions and aliases (ARN suffix :*).",
        )
        accept_wildcards(
            machine.role,
            resources=["*"],
            reason="X-Ray (GetSamplingRules, GetSamplingTargets, PutTelemetryRecords, PutTraceSegments), "
            "CloudWatch Logs delivery (CreateLogDelivery, DeleteLogDelivery, DescribeLogGroups, "
            "DescribeResourcePolicies, GetLogDelivery, ListLogDeliveries, PutResourcePolicy, UpdateLogDelivery) "
            "and PutMetricData (limited to one namespace) have no resource-level permissions: granted on *.",
        )
        return machine

    @staticmethod
    def _checked_in_definition() -> Path:
        """The reviewed file is what deploys; it must be what the step declarations generate."""
        if not ASL_FILE.exists() or ASL_FILE.read_text() != render(definition(PIPELINE_STEPS)):
            raise RuntimeError(
                f"{ASL_FILE.relative_to(ASL_FILE.parents[1])} is not what stacks/pipeline_steps.py generates: "
                f"run `{REGENERATE}` and review the diff"
            )
        return ASL_FILE

    def state_machine_arn_of(self, config: EnvironmentConfig) -> str:
        return self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=state_machine_name(config),
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_publish_notifications(self, role: iam.IRole) -> None:
        """sns:Publish on the run topic; its KMS use only through SNS for that topic (topic.grant_publish would
        grant kms:Decrypt and kms:GenerateDataKey* on the env key with no condition)."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn]))
        role.add_to_principal_policy(
            key_statement(
                self.key,
                service="sns",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[self.topic.topic_arn],
            )
        )

    def _failure_recorder(self, config: EnvironmentConfig) -> None:
        recorder = self._step(
            "RecordFailure",
            "record_failure",
            "Ledger record and notification for failed, timed-out or aborted runs",
            "RecordFailureFunctionArn",
            environment={"topic_arn": self.topic.topic_arn, "event_bus_name": "default"},
        )
        # The failed step from the history; the run's input and current attempt from DescribeExecution (an event
        # may come without the input, and a late one must not be recorded over a redrive).
        recorder.allow(
            ["states:DescribeExecution", "states:GetExecutionHistory"],
            [
                self.format_arn(
                    service="states",
                    resource="execution",
                    resource_name=f"{state_machine_name(config)}:*",
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            wildcard_reason="Executions of this env's pipeline only; their names are chosen at start.",
        )
        # The history (failed step's error and cause) and the execution's input are encrypted with the state
        # machine's key: "The execution history and state machine definition will be encrypted with the key
        # applied to the State Machine" (Step Functions guide, data at rest encryption).
        recorder.role.add_to_policy(
            key_statement(
                self.key, service="states", actions=["kms:Decrypt"], resources=[self.state_machine_arn_of(config)]
            )
        )
        recorder.allow(
            ["events:PutEvents"],
            [self.format_arn(service="events", resource="event-bus", resource_name="default")],
        )
        self.grant_publish_notifications(recorder.role)
        # EventBridge invokes the recorder asynchronously: once Lambda has accepted the event, a recorder that
        # raises is Lambda's to retry (twice), then Lambda sends its invocation record (the status change, the
        # error) here instead of dropping it: a failed run without its ledger record or notification.
        self.failure_recorder_failures = self._queue("FailureRecorderFailures")
        recorder.function.configure_async_invoke(
            on_failure=_EncryptedQueueDestination(self.failure_recorder_failures, self.key),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        # Status changes EventBridge could not hand to Lambda at all (invoke throttled or denied for 24 h).
        self.failure_recorder_dlq = self._queue("FailureRecorderDlq")
        self.failure_rule = events.Rule(
            self,
            "FailedRuns",
            description="Pipeline executions that failed, timed out or were aborted",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[
                events_targets.LambdaFunction(
                    recorder.function,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                    dead_letter_queue=self.failure_recorder_dlq,
                )
            ],
        )
        self.steps["record_failure"] = recorder

    def _queue(self, construct_id: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            # Unprocessed work (a failed start, an unrecorded failure): kept when the stack goes, outside dev.
            removal_policy=data_removal_policy(self.config),
        )
        accept(queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue; it has no DLQ of its own.")
        return queue

    # ------------------------------------------------------------------------------------- schedules

    def _schedules(
        self,
        config: EnvironmentConfig,
        key: kms.IKey,
        personalize_role: iam.IRole,
        countries: dict[str, CountryStack],
    ) -> sqs.Queue:
        dlq = self._queue("ScheduleDlq")
        # One role for every country's schedule: start this env's pipeline, dead-letter into the encrypted DLQ.
        self.scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            description=f"EventBridge Scheduler starts the {config.env} pipeline per country",
            # Scheduler sends the schedule group as aws:SourceArn. Its confused-deputy page (Scheduler User Guide,
            # cross-service-confused-deputy-prevention): "The value of aws:SourceArn must be your EventBridge
            # Scheduler schedule group ARN ... Do not scope the aws:SourceArn statement to a specific schedule or a
            # schedule name prefix." Our schedules are in the default group.
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": self.account,
                        "aws:SourceArn": self.format_arn(
                            service="scheduler", resource="schedule-group", resource_name="default"
                        ),
                    }
                },
            ),
        )
        schedule_arns = self.format_arn(
            service="scheduler", resource="schedule", resource_name=f"default/{config.name_prefix}-*"
        )
        # The env key, three ways, each only for its own resource: the schedule's encrypted target input (the
        # role itself decrypts it: no kms:ViaService), the encrypted state machine's execution input, the DLQ.
        self.scheduler_role.add_to_policy(
            key_statement(
                key, service="scheduler", actions=["kms:Decrypt"], resources=[schedule_arns], via_service=False
            )
        )
        self.scheduler_role.add_to_policy(
            key_statement(
                key,
                service="states",
                actions=["kms:GenerateDataKey"],
                resources=[self.state_machine_arn_of(config)],
            )
        )
        self.scheduler_role.add_to_policy(
            key_statement(key, service="sqs", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[dlq.queue_arn])
        )

        self.schedules: dict[str, scheduler.Schedule] = {}
        for country in config.countries:
            settings = run_settings(
                config,
                country,
                countries[country.code],
                personalize_role_arn=personalize_role.role_arn,
                catalog=self.catalog,
            )
            target = scheduler_targets.StepFunctionsStartExecution(
                self.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {"settings": settings, "scheduled_time": scheduler.ContextAttribute.scheduled_time}
                ),
                dead_letter_queue=dlq,
                retry_attempts=5,
                max_event_age=Duration.hours(6),
                role=self.scheduler_role,
            )
            self.schedules[country.code] = scheduler.Schedule(
                self,
                f"Daily{country.code}",
                schedule_name=f"{config.name_prefix}-{country.slug}-daily",
                description=f"Daily Personalize pipeline for {country.code} at {country.run_time:%H:%M} "
                f"{country.time_zone}",
                schedule=scheduler.ScheduleExpression.cron(
                    minute=str(country.run_time.minute),
                    hour=str(country.run_time.hour),
                    time_zone=cdk.TimeZone.of(country.time_zone),
                ),
                target=target,
            )
            # The schedule is encrypted with the env key, set on the L1: Schedule(key=...) would also grant the
            # role kms:Decrypt on the whole key with no condition (the scoped grant is above).
            cfn_schedule = self.schedules[country.code].node.default_child
            cfn_schedule.add_property_override("KmsKeyArn", key.key_arn)  # type: ignore[union-attr]
        return dlq

    # ------------------------------------------------------------------------------------- operators

    def _operator_policy(self, config: EnvironmentConfig, key: kms.IKey) -> iam.ManagedPolicy:
        """What `personalize-runs` needs (docs/runbook.md); attach it to the on-call engineers' role."""
        executions = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name(config)}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        schedules = self.format_arn(
            service="scheduler", resource="schedule", resource_name=f"default/{config.name_prefix}-*"
        )
        policy = iam.ManagedPolicy(
            self,
            "RunOperatorPolicy",
            managed_policy_name=f"{config.name_prefix}-run-operator",
            description="Find, inspect, redrive and rerun this env's pipeline runs (personalize-runs)",
            statements=[
                iam.PolicyStatement(
                    sid="InspectAndRedriveRuns",
                    actions=["states:DescribeExecution", "states:GetExecutionHistory", "states:RedriveExecution"],
                    resources=[executions],
                ),
                iam.PolicyStatement(
                    sid="StartReruns",
                    actions=["states:StartExecution"],
                    resources=[self.state_machine.state_machine_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadLedger", actions=["dynamodb:GetItem", "dynamodb:Query"], resources=[self.ledger.table_arn]
                ),
                iam.PolicyStatement(sid="ReadScheduleInput", actions=["scheduler:GetSchedule"], resources=[schedules]),
                # Reading the ledger and a schedule's input decrypts through DynamoDB and Scheduler; starting or
                # redriving an execution of the encrypted state machine encrypts its input through Step
                # Functions, and describing it decrypts: the Step Functions guide grants callers both
                # kms:Decrypt and kms:GenerateDataKey for the state machine's encryption context, so rerun and
                # redrive work whether or not a call needs a fresh data key.
                key_statement(
                    key,
                    service="dynamodb",
                    actions=["kms:Decrypt", "kms:DescribeKey"],
                    resources=[self.ledger.table_name],
                    sid="DecryptLedger",
                ),
                key_statement(
                    key,
                    service="states",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[self.state_machine_arn_of(config)],
                    sid="EncryptedExecutions",
                ),
                key_statement(
                    key,
                    service="scheduler",
                    actions=["kms:Decrypt"],
                    resources=[schedules],
                    sid="DecryptScheduleInput",
                ),
            ],
        )
        accept_wildcards(
            policy,
            resources=[executions, schedules],
            reason="Executions of this env's pipeline and this env's schedules only; their names vary per run.",
        )
        return policy

    def _report_reader_policy(self, config: EnvironmentConfig, key: kms.IKey) -> iam.ManagedPolicy:
        """Read the comparison reports only (the back office's #/personalize route; issue 15)."""
        reports = [
            bucket_arn(config, "results", f"/{country.code}/{path}")
            for country in config.countries
            for path in ("*/report.json", "*/report.html", "latest/*")
        ]
        policy = iam.ManagedPolicy(
            self,
            "ReportReaderPolicy",
            managed_policy_name=f"{config.name_prefix}-report-reader",
            description="Read report.json/report.html of every run and results/<country>/latest/ (back office)",
            statements=[
                iam.PolicyStatement(sid="ReadReports", actions=["s3:GetObject"], resources=reports),
                # The results bucket is encrypted with the env key: reading an object decrypts through S3 only.
                key_statement(
                    key,
                    service="s3",
                    actions=["kms:Decrypt"],
                    resources=s3_context([bucket_arn(config, "results")]),
                    sid="DecryptReportsThroughS3",
                ),
            ],
        )
        accept_wildcards(
            policy,
            resources=reports,
            reason="Report objects of this env's countries only: one folder per run date, plus latest/.",
        )
        return policy

    # ------------------------------------------------------------------------------------ monitoring

    def _monitoring(self, config: EnvironmentConfig) -> None:
        monitoring = MonitoringFacade(
            self,
            "Monitoring",
            alarm_factory_defaults=AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=config.name_prefix,
                action=SnsAlarmActionStrategy(on_alarm_topic=self.topic),
                # 1 of 1, not the library's 3 of 3: a daily run that fails is one datapoint in one period and the
                # periods beside it have no data, which these alarms treat as not breaching (CloudWatch: "Datapoints
                # to Alarm is the number of data points within the Evaluation Periods that must be breaching"), so
                # 3 of 3 never fires; a queue holding one message alarms at once too (tests/infra/test_alarms.py).
                evaluation_periods=1,
                datapoints_to_alarm=1,
            ),
        )
        any_run = {"Any": ErrorCountThreshold(max_error_count=0)}
        monitoring.monitor_step_function(
            state_machine=self.state_machine,
            human_readable_name="Daily pipeline",
            add_failed_execution_count_alarm=any_run,
            add_timed_out_execution_count_alarm=any_run,
            add_aborted_execution_count_alarm=any_run,
        )
        for name, queue in (
            ("Schedule DLQ", self.schedule_dlq),
            ("Failure recorder DLQ", self.failure_recorder_dlq),
            ("Failure recorder failures", self.failure_recorder_failures),
        ):
            monitoring.monitor_sqs_queue(
                queue=queue,
                human_readable_name=name,
                add_queue_max_size_alarm={"NotEmpty": MaxMessageCountThreshold(max_message_count=0)},
            )
        for key, step in self.steps.items():
            # A recorder error is a failed run nobody may have heard of (its event waits in the queue above).
            recorder_alarm: dict[str, Any] = (
                {"add_fault_count_alarm": {"Any": ErrorCountThreshold(max_error_count=0)}}
                if key == "record_failure"
                else {}
            )
            monitoring.monitor_lambda_function(
                lambda_function=step.function, add_to_alarm_dashboard=key == "record_failure", **recorder_alarm
            )
        # Runs whose SNS notification or EventBridge event failed after Finish recorded them (the execution still
        # succeeds). The alarm's own e-mail goes through the same topic, so it may not arrive when SNS itself is
        # the problem: the alarm state and the dashboard still show it.
        notifications_failed = cloudwatch.Metric(
            namespace=NOTIFICATION_METRIC_NAMESPACE,
            metric_name="NotificationsFailed",
            dimensions_map={"StateMachine": state_machine_name(config)},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        alarm = notifications_failed.create_alarm(
            self,
            "NotificationsFailedAlarm",
            alarm_name=f"{config.name_prefix}-run-notifications-failed",
            alarm_description="A run finished but its notification (SNS) or event (EventBridge) could not be sent; "
            "see the execution output's notify_failure / announce_failure (docs/runbook.md).",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        monitoring.add_large_header("Notifications").add_widget(
            cloudwatch.AlarmWidget(alarm=alarm, title="Run notifications failed")
        )
        self.monitoring = monitoring
