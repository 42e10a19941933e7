"""The daily pipeline's steps and the state machine that runs them.

One function and role per declared step (stacks/pipeline_steps.py), in pipeline order, and the state machine
deployed from the checked-in definition (statemachines/pipeline.asl.json) with the steps' ARNs substituted.
Built in the stack's own scope, so the logical ids are the stack's.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn

from stacks import sizing
from stacks.config import EnvironmentConfig
from stacks.constructs.pipeline_step import PipelineStep
from stacks.constructs.raw_catalog import RawCatalog
from stacks.constructs.report_catalog import ReportCatalog
from stacks.constructs.run_notifications import grant_publish_notifications
from stacks.definition_file import checked_in_definition
from stacks.nag import accept_wildcards
from stacks.names import state_machine_arn, state_machine_name
from stacks.pipeline_steps import PIPELINE_STEPS, StepContext
from stacks.state_machine_definition import (
    EVENT_BUS,
    NOTIFICATION_METRIC_NAMESPACE,
    NOTIFICATION_TOPIC,
    function_arn_substitution,
)


def pipeline_step(
    stack: Stack,
    construct_id: str,
    handler: str,
    description: str,
    substitution: str,
    *,
    config: EnvironmentConfig,
    key: kms.IKey,
    ledger: dynamodb.ITable,
    ledger_access: str = "write",
    environment: dict[str, str] | None = None,
    timeout: Duration = Duration.minutes(5),
    memory_size: int = sizing.DEFAULT_MEMORY_MB,
    ephemeral_storage_mb: int | None = None,
    dockerfile: str | None = None,
) -> PipelineStep:
    """A step's function and role; a bare handler name is one of pipeline.handlers."""
    return PipelineStep(
        stack,
        construct_id,
        handler=handler if "." in handler else f"pipeline.handlers.{handler}",
        description=description,
        substitution=substitution,
        ledger=ledger,
        ledger_access=ledger_access,
        environment={"env_name": config.env, **(environment or {})},
        timeout=timeout,
        memory_size=memory_size,
        ephemeral_storage_mb=ephemeral_storage_mb,
        encryption_key=key,
        dockerfile=dockerfile,
    )


class PipelineStateMachine:
    """`steps` (step key -> PipelineStep, pipeline order) and `state_machine`."""

    def __init__(
        self,
        stack: Stack,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        ledger: dynamodb.ITable,
        topic: sns.ITopic,
        personalize_role: iam.IRole,
        prepared: s3.IBucket,
        catalog: RawCatalog,
        report_catalog: ReportCatalog,
        read_model_table: dynamodb.ITable,
    ) -> None:
        self.steps = self._steps(
            stack, config, key, ledger, personalize_role, prepared, catalog, report_catalog, read_model_table
        )
        self.state_machine = self._state_machine(stack, config, key, topic)

    def _steps(
        self,
        stack: Stack,
        config: EnvironmentConfig,
        key: kms.IKey,
        ledger: dynamodb.ITable,
        personalize_role: iam.IRole,
        prepared: s3.IBucket,
        catalog: RawCatalog,
        report_catalog: ReportCatalog,
        read_model_table: dynamodb.ITable,
    ) -> dict[str, PipelineStep]:
        context = StepContext(
            stack=stack,
            config=config,
            key=key,
            personalize_role=personalize_role,
            prepared=prepared,
            catalog=catalog,
            report_catalog=report_catalog,
            state_machine_arn=state_machine_arn(stack, config),
            read_model_table=read_model_table,
        )
        steps: dict[str, PipelineStep] = {}
        for declaration in PIPELINE_STEPS:
            memory, storage = declaration.memory_mb, declaration.ephemeral_storage_mb
            step = pipeline_step(
                stack,
                declaration.name.state,
                declaration.handler,
                declaration.description,
                function_arn_substitution(declaration.name.state),
                config=config,
                key=key,
                ledger=ledger,
                ledger_access=declaration.ledger_access,
                timeout=declaration.timeout,
                memory_size=memory(config) if memory else sizing.DEFAULT_MEMORY_MB,
                ephemeral_storage_mb=storage(config) if storage else None,
                dockerfile=declaration.dockerfile,
                environment=declaration.environment(context) if declaration.environment else None,
            )
            if declaration.grants:
                declaration.grants(step, context)
            steps[declaration.key] = step
        return steps

    def _state_machine(
        self, stack: Stack, config: EnvironmentConfig, key: kms.IKey, topic: sns.ITopic
    ) -> sfn.StateMachine:
        substitutions = {step.substitution: step.function.function_arn for step in self.steps.values()}
        substitutions[NOTIFICATION_TOPIC] = topic.topic_arn
        substitutions[EVENT_BUS] = "default"
        log_group = logs.LogGroup(
            stack,
            "PipelineLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Step Functions names the state machine as aws:SourceArn when it assumes the role: trust this one only.
        machine_role = iam.Role(
            stack,
            "PipelineRole",
            description=f"The {config.env} pipeline state machine: invoke its steps, notify, announce",
            assumed_by=iam.ServicePrincipal(
                "states.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": state_machine_arn(stack, config)},
                },
            ),
        )
        machine = sfn.StateMachine(
            stack,
            "Pipeline",
            role=machine_role,
            state_machine_name=state_machine_name(config),
            definition_body=sfn.DefinitionBody.from_file(str(checked_in_definition())),
            definition_substitutions=substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            # ALL events without execution data: every transition is visible, no run data lands in the logs.
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        for step in self.steps.values():
            step.function.grant_invoke(machine)
        grant_publish_notifications(topic, key, machine.role)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
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
