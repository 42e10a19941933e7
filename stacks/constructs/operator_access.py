"""Managed policies for people: the on-call engineers' `personalize-runs` access and the back office's read of
the comparison reports. Attach them to the roles those people assume; nothing in the app uses them."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn

from common.recipes import user_list_recipe
from stacks.config import EnvironmentConfig
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept_wildcards
from stacks.names import bucket_arn, executions_arn, schedules_arn, serving_stack_name, state_machine_arn


def run_operator_policy(
    stack: Stack,
    config: EnvironmentConfig,
    key: kms.IKey,
    state_machine: sfn.IStateMachine,
    ledger: dynamodb.ITable,
) -> iam.ManagedPolicy:
    """What `personalize-runs` needs (docs/runbook.md); attach it to the on-call engineers' role."""
    executions = executions_arn(stack, config)
    schedules = schedules_arn(stack, config)
    serving = stack.format_arn(
        service="cloudformation",
        resource="stack",
        resource_name=f"{serving_stack_name(config)}/*",  # the suffix is the id CloudFormation assigns at creation
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
    # `personalize-runs report-inputs`: the batch output each country's page scores (its per-user recipe's job,
    # results/<CC>/<date>/<recipe>/), for `make report RESULTS=DIR`; no other object of the results bucket.
    batch_folders = [
        f"{country.code}/*/{recipe.value}/"
        for country in config.countries
        if (recipe := user_list_recipe(country.recipes)) is not None
    ]
    batch_objects = [bucket_arn(config, "results", f"/{folder}*") for folder in batch_folders]
    policy = iam.ManagedPolicy(
        stack,
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
                resources=[state_machine.state_machine_arn],
            ),
            iam.PolicyStatement(
                sid="ReadLedger", actions=["dynamodb:GetItem", "dynamodb:Query"], resources=[ledger.table_arn]
            ),
            iam.PolicyStatement(sid="ReadScheduleInput", actions=["scheduler:GetSchedule"], resources=[schedules]),
            # `personalize-runs recommend` finds the serving API's URL in the serving stack's outputs; calling
            # the API itself takes the serving stack's caller policy (docs/serving.md).
            iam.PolicyStatement(sid="FindServingApi", actions=["cloudformation:DescribeStacks"], resources=[serving]),
            *_batch_output_statements(config, key, batch_folders, batch_objects),
            # Reading the ledger and a schedule's input decrypts through DynamoDB and Scheduler; starting or
            # redriving an execution of the encrypted state machine encrypts its input through Step
            # Functions, and describing it decrypts: the Step Functions guide grants callers both
            # kms:Decrypt and kms:GenerateDataKey for the state machine's encryption context, so rerun and
            # redrive work whether or not a call needs a fresh data key.
            key_statement(
                key,
                service="dynamodb",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[ledger.table_name],
                sid="DecryptLedger",
            ),
            key_statement(
                key,
                service="states",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[state_machine_arn(stack, config)],
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
        resources=[executions, schedules, serving, *batch_objects],
        reason="Executions of this env's pipeline and this env's schedules only; their names vary per run. Batch "
        "output objects of this env's countries' per-user recipe only: one folder per run date. The serving "
        "stack's id suffix is assigned by CloudFormation.",
    )
    return policy


def report_reader_policy(stack: Stack, config: EnvironmentConfig, key: kms.IKey) -> iam.ManagedPolicy:
    """Read the comparison reports only (the back office's #/personalize route, docs/evaluation.md)."""
    reports = [
        bucket_arn(config, "results", f"/{country.code}/{path}")
        for country in config.countries
        for path in ("*/report.json", "*/report.html", "latest/*")
    ]
    policy = iam.ManagedPolicy(
        stack,
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


def _batch_output_statements(
    config: EnvironmentConfig, key: kms.IKey, folders: list[str], objects: list[str]
) -> list[iam.PolicyStatement]:
    """Read and list the per-user batch output; none when no country has a per-user recipe (its page has no
    Personalize column, and IAM refuses a statement without a resource)."""
    if not objects:
        return []
    return [
        iam.PolicyStatement(sid="ReadBatchOutput", actions=["s3:GetObject"], resources=objects),
        iam.PolicyStatement(
            sid="ListBatchOutput",
            actions=["s3:ListBucket"],
            resources=[bucket_arn(config, "results")],
            conditions={"StringLike": {"s3:prefix": folders}},
        ),
        # The results bucket is encrypted with the env key: reading the batch output decrypts through S3 only.
        key_statement(
            key,
            service="s3",
            actions=["kms:Decrypt"],
            resources=s3_context([bucket_arn(config, "results")]),
            sid="DecryptBatchOutputThroughS3",
        ),
    ]
