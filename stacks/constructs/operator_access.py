"""Managed policies for people: the on-call engineers' `personalize-runs` access and the back office's read of
the comparison reports. Attach them to the roles those people assume; nothing in the app uses them."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn

from stacks.config import EnvironmentConfig
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept_wildcards
from stacks.names import bucket_arn, executions_arn, schedules_arn, state_machine_arn


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
        resources=[executions, schedules],
        reason="Executions of this env's pipeline and this env's schedules only; their names vary per run.",
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
