"""The daily pipeline's steps, one declaration each, in pipeline order.

A declaration is everything the stack and the state machine need of a step: its names (run-state key, state
names, Lambda handler: lambdas/pipeline/step_names.py, which the Lambdas read too), its Lambda's description,
timeout, size and ledger access, its IAM grants, and its states' comments and guard. PipelineStack builds the
function, role and grants from it; stacks/state_machine_definition.py builds its states, and
stacks/definition_file.py keeps the checked-in definition equal to them. docs/adding-a-step.md says how to add
one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_iam as iam

from dataprep.columnar import COLUMNAR_PREFIX
from dataprep.queries import RAW_TABLES
from evaluation.queries import CURATION_FOLDER
from pipeline import step_names
from pipeline.step_names import StepName
from stacks import sizing
from stacks.key_grants import grant_key_via, key_statement, s3_context
from stacks.nag import accept_wildcards
from stacks.names import bucket_arn, executions_arn, personalize_arn
from stacks.state_machine_definition import DEFAULT_WAIT_COMMENT, Guard, admitted, enough_data

if TYPE_CHECKING:
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    from stacks.config import EnvironmentConfig
    from stacks.constructs.pipeline_step import PipelineStep
    from stacks.constructs.raw_catalog import RawCatalog
    from stacks.constructs.report_catalog import ReportCatalog


@dataclass(frozen=True)
class StepContext:
    """What a step's grants may refer to: the stack and the env's shared resources."""

    stack: cdk.Stack
    config: EnvironmentConfig
    key: kms.IKey
    personalize_role: iam.IRole
    prepared: s3.IBucket
    catalog: RawCatalog
    report_catalog: ReportCatalog
    state_machine_arn: str  # built from the name, not the resource: the role may not depend on the machine
    read_model_table: dynamodb.ITable  # the serving read model the publish step loads

    @property
    def run_resources(self) -> str:
        """Personalize resources of this env's runs (jobs, solutions, campaigns, filters)."""
        return f"{self.config.name_prefix}-*"

    def personalize_arn(self, kind: str, name: str) -> str:
        return personalize_arn(self.stack, kind, name)

    def executions_arn(self) -> str:
        return executions_arn(self.stack, self.config)

    def pass_personalize_role(self) -> iam.PolicyStatement:
        """Jobs that read or write S3 run as the Personalize role: only to Personalize may it be passed."""
        return iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[self.personalize_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}},
        )


Grants = Callable[["PipelineStep", StepContext], None]
# A step's own environment variables (pipeline.environment.PipelineEnvironment fields) beyond every step's.
Environment = Callable[[StepContext], dict[str, str]]


@dataclass(frozen=True)
class StepDeclaration:
    name: StepName  # its keys, state names and Lambda handler (pipeline.step_names)
    description: str  # the Lambda's (and its role's) description
    state_comment: str  # the Task state's Comment
    grants: Grants | None = None  # beyond the ledger (PipelineStep grants that by ledger_access)
    environment: Environment | None = None
    ledger_access: str = "write"  # "read" | "write"
    timeout: Duration = Duration.minutes(5)
    # Memory and /tmp from the env (stacks/sizing.py); None: sizing.DEFAULT_MEMORY_MB, Lambda's default /tmp.
    memory_mb: Callable[[EnvironmentConfig], int] | None = None
    ephemeral_storage_mb: Callable[[EnvironmentConfig], int] | None = None
    dockerfile: str | None = None  # under lambdas/: a container image instead of the zip
    payload: Mapping[str, str] | None = None  # the Lambda's Payload; None: the whole run state ("$")
    wait_comment: str = DEFAULT_WAIT_COMMENT  # polling steps: the Wait state's Comment
    then: Guard | None = None  # a guard between this step and the next (stacks/state_machine_definition.py)

    @property
    def key(self) -> str:
        return self.name.key

    @property
    def handler(self) -> str:
        """The function's Handler (an image's command): the step module's `handler`, served under this name."""
        return self.name.handler


# ----------------------------------------------------------------------------------------------- grants


def _begin(step: PipelineStep, ctx: StepContext) -> None:
    step.allow(
        ["states:DescribeExecution"],
        [ctx.executions_arn()],
        wildcard_reason="Executions of this env's pipeline only; their names are chosen at start.",
    )
    # DescribeExecution returns the execution's input, encrypted with the state machine's key.
    step.role.add_to_policy(
        key_statement(ctx.key, service="states", actions=["kms:Decrypt"], resources=[ctx.state_machine_arn])
    )


def _prepare(step: PipelineStep, ctx: StepContext) -> None:
    ctx.catalog.grant_query(step.role)
    ctx.catalog.grant_convert_days(step.role)
    ctx.catalog.grant_publish_genre_mapping(step.role)
    # The same ARN expressions RawCatalog.grant_query used, so the findings' ids match in any env.
    accept_wildcards(
        step.role,
        resources=[
            *(ctx.catalog.raw_bucket.arn_for_objects(f"{table}/*") for table in RAW_TABLES),
            ctx.prepared.arn_for_objects(f"{ctx.catalog.results_prefix}*"),
            ctx.prepared.arn_for_objects(f"{COLUMNAR_PREFIX}*"),
        ],
        reason="Athena reads every dt partition of a raw export and writes per-query objects under athena/ "
        "and the converted days' Parquet objects under columnar/.",
    )


def _import(step: PipelineStep, ctx: StepContext) -> None:
    # The SAR scopes both actions to the import job only (not the dataset it imports into).
    step.allow(
        ["personalize:CreateDatasetImportJob", "personalize:DescribeDatasetImportJob"],
        [ctx.personalize_arn("dataset-import-job", ctx.run_resources)],
        wildcard_reason="Import jobs are named per country and run date under this env's prefix.",
    )
    step.role.add_to_policy(ctx.pass_personalize_role())


def _train(step: PipelineStep, ctx: StepContext) -> None:
    # The SAR scopes these to the solution (a version is solution/<name>/<id>), not to the dataset group or
    # recipe they name.
    step.allow(
        [
            "personalize:CreateSolution",
            "personalize:DescribeSolution",
            "personalize:UpdateSolution",
            "personalize:CreateSolutionVersion",
            "personalize:DescribeSolutionVersion",
            # A training past its timeout is stopped, not left running and billing.
            "personalize:StopSolutionVersionCreation",
        ],
        [
            ctx.personalize_arn("solution", ctx.run_resources),
            ctx.personalize_arn("solution", f"{ctx.config.name_prefix}-*/*"),
        ],
        wildcard_reason="Solutions and their versions are named under this env's prefix; version ids are random.",
    )
    step.allow_unscoped(
        ["personalize:ListSolutionVersions"],
        reason="ListSolutionVersions has no resource-level permissions (Service Authorization Reference), "
        "so it is granted on * alone; the train step lists only its own solutions' versions.",
    )


def _gate(step: PipelineStep, ctx: StepContext) -> None:
    step.allow(
        ["personalize:GetSolutionMetrics"],
        [ctx.personalize_arn("solution", f"{ctx.config.name_prefix}-*/*")],
        wildcard_reason="Solution version ARNs end in a random id under this env's solutions.",
    )


def _promote(step: PipelineStep, ctx: StepContext) -> None:
    step.allow(
        ["personalize:CreateCampaign", "personalize:DescribeCampaign", "personalize:UpdateCampaign"],
        [ctx.personalize_arn("campaign", ctx.run_resources)],
        wildcard_reason="Campaigns are named per country and recipe under this env's prefix.",
    )
    # The country's filters are made before Batch (lambdas/pipeline/filters.py) and published for the app; the
    # ones they replaced are deleted a day later (only names under this env's prefix).
    step.allow(
        ["personalize:CreateFilter", "personalize:DescribeFilter", "personalize:DeleteFilter"],
        [ctx.personalize_arn("filter", ctx.run_resources)],
        wildcard_reason="Filters are named per country and expression digest under this env's prefix.",
    )
    step.allow_unscoped(
        ["personalize:ListFilters"],
        reason="ListFilters has no resource-level permissions (Service Authorization Reference), so it is "
        "granted on * alone; the promote step lists only its own dataset group's filters.",
    )
    step.allow(
        ["ssm:PutParameter", "ssm:GetParameter"],
        [
            ctx.stack.format_arn(
                service="ssm",
                resource="parameter",
                resource_name=f"personalize/{ctx.config.env}/{country.code.lower()}/filters/*",
            )
            for country in ctx.config.countries
        ],
        wildcard_reason="One parameter per configured filter under each country's filters/ path.",
    )


def _batch(step: PipelineStep, ctx: StepContext) -> None:
    step.allow(
        ["personalize:CreateBatchInferenceJob", "personalize:DescribeBatchInferenceJob"],
        [ctx.personalize_arn("batch-inference-job", ctx.run_resources)],
        wildcard_reason="Batch jobs are named per country and run date under this env's prefix.",
    )
    step.role.add_to_policy(ctx.pass_personalize_role())


def _report(step: PipelineStep, ctx: StepContext) -> None:
    config = ctx.config
    # The heavy part runs on Athena (evaluation/sql over the report catalogue's tables); the Lambda reads the
    # queries' small outputs and writes the page.
    ctx.report_catalog.grant_query(step.role)
    step.allow(
        ["s3:PutObject"],
        [bucket_arn(config, "results", "/*/report.*"), bucket_arn(config, "results", "/*/cold_start/*")],
        wildcard_reason="Writes report.html, report.json and the cold-start fallback (cold_start/) under "
        "<country>/<run_date>/ of any country and run.",
    )
    # The served curation's UNLOAD (evaluation/sql/curation_lists.sql) writes its parts with this role's
    # credentials under <country>/<run_date>/curation/, as the report's UNLOADs do under athena/reports/.
    step.allow(
        ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
        [bucket_arn(config, "results", f"/*/{CURATION_FOLDER}/*")],
        wildcard_reason="The curation lists' UNLOAD parts under <country>/<run_date>/curation/ of any country and run.",
    )
    # The trend chart: earlier runs' report.json, found by listing <country>/.
    step.allow(
        ["s3:GetObject"],
        [bucket_arn(config, "results", "/*/report.json")],
        wildcard_reason="Reads the earlier runs' report.json (<country>/<run_date>/) for the trend chart.",
    )
    step.role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket_arn(config, "results")],
            conditions={"StringLike": {"s3:prefix": [f"{c.code}/" for c in config.countries]}},
        )
    )


# The publish step parses JSON lines while its threads wait on DynamoDB: one whole vCPU (Lambda's configuration
# guide: "At 1,769 MB, a function has the equivalent of one vCPU").
PUBLISH_MEMORY_MB = 1769


def _publish(step: PipelineStep, ctx: StepContext) -> None:
    config, table = ctx.config, ctx.read_model_table
    # Exactly pipeline.read_model_writer's calls: the lists in batches, the country pointer conditionally.
    step.allow(["dynamodb:BatchWriteItem", "dynamodb:PutItem"], [table.table_arn])
    if table.encryption_key is not None:
        # DynamoDB uses the table key on the writer's behalf for every write.
        grant_key_via(
            step.role,
            table.encryption_key,
            service="dynamodb",
            actions=["kms:Decrypt", "kms:DescribeKey"],
            resources=[table.table_name],
        )
    step.allow(
        ["s3:GetObject"],
        [
            bucket_arn(config, "results", "/*.out"),
            bucket_arn(config, "results", "/*/cold_start/segments.jsonl"),
            bucket_arn(config, "results", f"/*/{CURATION_FOLDER}/*"),
            bucket_arn(config, "prepared", "/athena/runs/*/users.csv"),
            bucket_arn(config, "prepared", "/athena/runs/*/items.csv"),
        ],
        wildcard_reason="Reads the run's batch output (results/<country>/<run_date>/<recipe>/*.out), the cold-start "
        "segments, the curation lists (<country>/<run_date>/curation/) and the prepared users.csv and items.csv "
        "(athena/runs/<country>/<run_date>/<execution>/...).",
    )
    step.role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket_arn(config, "results"), bucket_arn(config, "prepared")],
            conditions={
                "StringLike": {
                    "s3:prefix": [
                        *(f"{c.code}/*" for c in config.countries),
                        "athena/runs/*/users.csv",
                        "athena/runs/*/items.csv",
                    ]
                }
            },
        )
    )
    step.role.add_to_policy(
        key_statement(
            ctx.key,
            service="s3",
            actions=["kms:Decrypt"],
            resources=s3_context([bucket_arn(config, "results"), bucket_arn(config, "prepared")]),
        )
    )


def _publish_environment(ctx: StepContext) -> dict[str, str]:
    return {
        "read_model_table": ctx.read_model_table.table_name,
        "read_model_ttl_days": str(ctx.config.serving.ttl_days),
    }


def _report_size(config: EnvironmentConfig) -> sizing.StepSize:
    # One function serves every country: sized for the largest (config validation refused what cannot fit).
    return sizing.report_step(max(c.data.report_evaluated_users for c in config.countries))


# ------------------------------------------------------------------------------------------ the steps

PIPELINE_STEPS: tuple[StepDeclaration, ...] = (
    StepDeclaration(
        step_names.BEGIN,
        description="Admit a run: date, mode, (country, date) lock",
        state_comment="Decide run date and mode; hold the (country, date) lock so no two executions overlap.",
        grants=_begin,
        # BeginRun reads the execution input (the schedule's), not a run state.
        payload={"input.$": "$", "execution_arn.$": "$$.Execution.Id"},
        then=admitted,
    ),
    StepDeclaration(
        step_names.PREPARE,
        description="Athena preparation queries, assembly and counts",
        state_comment="Athena queries write the Personalize CSVs and batch inputs, then the counts for the guard.",
        grants=_prepare,
        timeout=Duration.minutes(15),
        memory_mb=lambda _config: sizing.prepare_step().memory_mb,
        then=enough_data,
    ),
    StepDeclaration(
        step_names.IMPORT,
        description="Dataset import jobs (describe-or-create, poll)",
        state_comment="Dataset import jobs: FULL on the full-training day or a first run, INCREMENTAL otherwise.",
        grants=_import,
    ),
    StepDeclaration(
        step_names.TRAIN,
        description="Solutions and solution versions (describe-or-create, poll)",
        state_comment="Solutions (auto-training as configured) and one solution version per recipe for this run.",
        grants=_train,
    ),
    StepDeclaration(
        step_names.GATE,
        description="Compare new solution versions' metrics with the promoted ones",
        state_comment="Compare the new versions' metrics with the promoted ones.",
        grants=_gate,
        ledger_access="read",
    ),
    StepDeclaration(
        step_names.PROMOTE,
        description="Create or update campaigns to the approved versions",
        state_comment="Point the campaigns at the approved versions and wait until the update is active.",
        grants=_promote,
    ),
    StepDeclaration(
        step_names.BATCH,
        description="Batch inference jobs (describe-or-create, poll)",
        state_comment="Batch inference with the promoted versions into results/<country>/<run_date>/.",
        grants=_batch,
    ),
    StepDeclaration(
        step_names.REPORT,
        description="Comparison page: current curation vs Personalize vs popularity",
        state_comment="Comparison page (current curation vs Personalize vs popularity) next to the batch output.",
        grants=_report,
        ledger_access="read",
        timeout=Duration.minutes(15),
        memory_mb=lambda config: _report_size(config).memory_mb,
        ephemeral_storage_mb=lambda config: _report_size(config).ephemeral_storage_mb,
        dockerfile="Dockerfile.report",
        wait_comment="The report's Athena queries: the step polls them and picks the next wait.",
    ),
    StepDeclaration(
        step_names.PUBLISH,
        description="Load the serving read model from the run's outputs, then move the country's pointer",
        state_comment="Load the run's lists, profiles and item metadata into the read model; point the country at "
        "the run only after the load finished.",
        grants=_publish,
        environment=_publish_environment,
        ledger_access="read",
        timeout=Duration.minutes(15),
        memory_mb=lambda _config: PUBLISH_MEMORY_MB,
        wait_comment="A load longer than one invocation's time budget resumes from its cursor.",
    ),
    StepDeclaration(
        step_names.FINISH,
        description="Write the run record and the notification",
        state_comment="Write the run record to the ledger; build the notification.",
    ),
)
