"""The daily pipeline of one environment: one state machine, run once per country per day by EventBridge
Scheduler in the country's time zone, its step Lambdas, the run ledger, notifications and monitoring.

The definition lives in statemachines/pipeline.asl.json; this stack only substitutes ARNs into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
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

from common.recipes import RECIPE_ARNS
from dataprep.queries import RAW_TABLES
from stacks.config import Country, EnvironmentConfig
from stacks.constructs.pipeline_step import PipelineStep
from stacks.constructs.raw_catalog import RawCatalog
from stacks.country_stack import CountryStack
from stacks.nag import accept, accept_wildcards
from stacks.names import bucket_arn, bucket_name, ledger_table_name, personalize_arn, state_machine_name

ASL_FILE = Path(__file__).resolve().parent.parent / "statemachines" / "pipeline.asl.json"


def run_settings(
    config: EnvironmentConfig,
    country: Country,
    country_stack: CountryStack,
    *,
    personalize_role_arn: str,
    catalog: RawCatalog,
) -> dict[str, Any]:
    """The country's settings as the pipeline reads them (pipeline.model.RunSettings)."""
    return {
        "env": config.env,
        "name_prefix": config.name_prefix,
        "country": country.code,
        "time_zone": country.time_zone,
        "recipes": [r.value for r in country.recipes],
        "full_training_weekday": country.training.full_training_weekday.iso,
        "other_days": country.training.other_days.value,
        "auto_training": country.training.auto_training,
        "batch_mode": country.batch_inference.value,
        "campaign_enabled": country.campaign.enabled,
        "campaign_min_tps": country.campaign.min_tps,
        "gate": {"tolerance": dict(country.gate.tolerance), "floors": dict(country.gate.floors)},
        "window_days": config.data.window_days,
        "timeouts": {
            "prepare_minutes": config.timeouts.prepare_minutes,
            "import_hours": config.timeouts.import_hours,
            "training_hours": country.training.timeout_hours,
            "campaign_hours": config.timeouts.campaign_hours,
            "batch_hours": config.timeouts.batch_hours,
        },
        "dataset_group_arn": country_stack.dataset_group_arn,
        "dataset_arns": {t: country_stack.dataset_arn(t) for t in ("Interactions", "Users", "Items")},
        "personalize_role_arn": personalize_role_arn,
        "prepared_bucket": bucket_name(config, "prepared"),
        "results_bucket": bucket_name(config, "results"),
        "genre_mapping_uri": f"s3://{bucket_name(config, 'raw')}/{catalog.genre_mapping_key}",
        "athena_database": catalog.database_name,
        "athena_workgroup": catalog.workgroup_name,
    }


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
            removal_policy=RemovalPolicy.DESTROY if config.env == "dev" else RemovalPolicy.RETAIN,
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
        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, "LedgerTableName", value=self.ledger.table_name)

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
        memory_size: int = 512,
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
            environment={"ENV_NAME": self.config.env, **(environment or {})},
            timeout=timeout,
            memory_size=memory_size,
            encryption_key=self.key,
            dockerfile=dockerfile,
        )

    def _steps(
        self, config: EnvironmentConfig, key: kms.IKey, personalize_role: iam.IRole, prepared: s3.IBucket
    ) -> dict[str, PipelineStep]:
        prefix = config.name_prefix
        arn = lambda kind, name: personalize_arn(self, kind, name)  # noqa: E731
        run_resources = f"{prefix}-*"
        pass_role = iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[personalize_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}},
        )
        steps: dict[str, PipelineStep] = {}

        begin = self._step(
            "BeginRun", "begin_run", "Admit a run: date, mode, (country, date) lock", "BeginRunFunctionArn"
        )
        begin.allow(
            ["states:DescribeExecution"],
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
        steps["begin"] = begin

        prepare = self._step(
            "Prepare",
            "prepare_data",
            "Athena preparation queries, assembly and counts",
            "PrepareFunctionArn",
            timeout=Duration.minutes(15),
        )
        self.catalog.grant_query(prepare.role)
        self.catalog.grant_publish_genre_mapping(prepare.role)
        # The same ARN expressions RawCatalog.grant_query used, so the findings' ids match in any env.
        accept_wildcards(
            prepare.role,
            resources=[
                *(self.catalog.raw_bucket.arn_for_objects(f"{table}/*") for table in RAW_TABLES),
                prepared.arn_for_objects(f"{self.catalog.results_prefix}*"),
            ],
            reason="Athena reads every dt partition of a raw export and writes per-query objects under athena/.",
        )
        steps["prepare"] = prepare

        imports = self._step(
            "Import", "import_data", "Dataset import jobs (describe-or-create, poll)", "ImportFunctionArn"
        )
        imports.allow(
            ["personalize:CreateDatasetImportJob", "personalize:DescribeDatasetImportJob"],
            [arn("dataset-import-job", run_resources), arn("dataset", f"{prefix}-*")],
            wildcard_reason="Import jobs are named per country and run date under this env's prefix.",
        )
        imports.role.add_to_policy(pass_role)
        steps["import"] = imports

        train = self._step(
            "Train", "train", "Solutions and solution versions (describe-or-create, poll)", "TrainFunctionArn"
        )
        train.allow(
            [
                "personalize:CreateSolution",
                "personalize:DescribeSolution",
                "personalize:UpdateSolution",
                "personalize:CreateSolutionVersion",
                "personalize:DescribeSolutionVersion",
                "personalize:ListSolutionVersions",
            ],
            [
                arn("solution", run_resources),
                arn("solution", f"{prefix}-*/*"),
                arn("dataset-group", f"{prefix}-*"),
                *RECIPE_ARNS.values(),
            ],
            wildcard_reason="Solutions and their versions are named under this env's prefix; version ids are random.",
        )
        steps["train"] = train

        gate = self._step(
            "Gate",
            "gate",
            "Compare new solution versions' metrics with the promoted ones",
            "GateFunctionArn",
            ledger_access="read",
        )
        gate.allow(
            ["personalize:GetSolutionMetrics"],
            [arn("solution", f"{prefix}-*/*")],
            wildcard_reason="Solution version ARNs end in a random id under this env's solutions.",
        )
        steps["gate"] = gate

        promote = self._step(
            "Promote", "promote", "Create or update campaigns to the approved versions", "PromoteFunctionArn"
        )
        promote.allow(
            ["personalize:CreateCampaign", "personalize:DescribeCampaign", "personalize:UpdateCampaign"],
            [arn("campaign", run_resources), arn("solution", f"{prefix}-*/*")],
            wildcard_reason="Campaigns and solution versions of this env's prefix only.",
        )
        steps["promote"] = promote

        batch = self._step(
            "Batch", "batch_inference", "Batch inference jobs (describe-or-create, poll)", "BatchFunctionArn"
        )
        batch.allow(
            ["personalize:CreateBatchInferenceJob", "personalize:DescribeBatchInferenceJob"],
            [arn("batch-inference-job", run_resources), arn("solution", f"{prefix}-*/*")],
            wildcard_reason="Batch jobs are named per country and run date under this env's prefix.",
        )
        batch.role.add_to_policy(pass_role)
        steps["batch"] = batch

        report = self._step(
            "Report",
            "pipeline.report_handler.report_page",
            "Comparison page: current curation vs Personalize vs popularity",
            "ReportFunctionArn",
            ledger_access="read",
            timeout=Duration.minutes(15),
            memory_size=10240,
            dockerfile="Dockerfile.report",
        )
        report.allow(
            ["s3:GetObject"],
            [bucket_arn(config, "prepared", "/athena/runs/*")],
            wildcard_reason="Prepared files of any country and run live under athena/runs/.",
        )
        report.allow(
            ["s3:GetObject", "s3:PutObject"],
            [bucket_arn(config, "results", "/*")],
            wildcard_reason="Reads batch output and writes report files under <country>/<run_date>/.",
        )
        report.allow(["s3:ListBucket"], [bucket_arn(config, "results")])
        report.allow(["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn])
        steps["report"] = report

        finish = self._step("Finish", "finish_run", "Write the run record and the notification", "FinishFunctionArn")
        steps["finish"] = finish
        return steps

    # --------------------------------------------------------------------------------- state machine

    def _state_machine(self, config: EnvironmentConfig) -> sfn.StateMachine:
        substitutions = {step.substitution: step.function.function_arn for step in self.steps.values()}
        substitutions["NotificationTopicArn"] = self.topic.topic_arn
        substitutions["EventBusName"] = "default"
        log_group = logs.LogGroup(
            self,
            "PipelineLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "Pipeline",
            state_machine_name=state_machine_name(config),
            definition_body=sfn.DefinitionBody.from_file(str(ASL_FILE)),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            # ALL events without execution data: every transition is visible, no run data lands in the logs.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.key),
        )
        for step in self.steps.values():
            step.function.grant_invoke(machine)
        self.topic.grant_publish(machine)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[self.format_arn(service="events", resource="event-bus", resource_name="default")],
            )
        )
        accept_wildcards(
            machine.role,
            resources=[f"{step.function.function_arn}:*" for step in self.steps.values()],
            reason="Function.grant_invoke also allows the function's versions and aliases (ARN suffix :*).",
        )
        accept_wildcards(
            machine.role,
            actions=["kms:GenerateDataKey*"],
            reason="Granted for this env's key only: encrypted topic publishing and state encryption.",
        )
        accept_wildcards(
            machine.role,
            resources=["*"],
            reason="X-Ray and CloudWatch Logs delivery actions of Step Functions have no resource ARNs.",
        )
        return machine

    def _failure_recorder(self, config: EnvironmentConfig) -> None:
        recorder = self._step(
            "RecordFailure",
            "record_failure",
            "Ledger record and notification for failed, timed-out or aborted runs",
            "RecordFailureFunctionArn",
            environment={"TOPIC_ARN": self.topic.topic_arn, "EVENT_BUS_NAME": "default"},
        )
        recorder.allow(
            ["states:GetExecutionHistory"],
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
        recorder.allow(
            ["events:PutEvents"],
            [self.format_arn(service="events", resource="event-bus", resource_name="default")],
        )
        self.topic.grant_publish(recorder.role)
        # Status changes the recorder could not take (it kept failing): a failed run without its record.
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
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
        )
        # The DLQ is encrypted with the env key: sending to it needs a data key (decrypt: the schedule's input).
        self.scheduler_role.add_to_policy(iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn]))
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
                key=key,
            )
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
                iam.PolicyStatement(sid="DecryptLedgerAndInput", actions=["kms:Decrypt"], resources=[key.key_arn]),
            ],
        )
        accept_wildcards(
            policy,
            resources=[executions, schedules],
            reason="Executions of this env's pipeline and this env's schedules only; their names vary per run.",
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
        for name, queue in (("Schedule DLQ", self.schedule_dlq), ("Failure recorder DLQ", self.failure_recorder_dlq)):
            monitoring.monitor_sqs_queue(
                queue=queue,
                human_readable_name=name,
                add_queue_max_size_alarm={"NotEmpty": MaxMessageCountThreshold(max_message_count=0)},
            )
        for step in self.steps.values():
            monitoring.monitor_lambda_function(lambda_function=step.function, add_to_alarm_dashboard=False)
        self.monitoring = monitoring
