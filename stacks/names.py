"""Physical names of an environment's resources, derived from its config: one module for the stacks and the
tools (personalize-runs, smoke). Deriving them (instead of passing construct references) keeps stacks loosely
coupled and lets policies name their resources without cross-stack exports.

The module loads no aws_cdk (importing it starts jsii's Node process: seconds per tool command). Bucket names and
ARNs hold the deploying account, region and partition as CDK tokens, so those functions import aws_cdk when
called; only a stack calls them (tests/infra/test_names.py checks the import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs import IConstruct

    from stacks.config import Country, EnvironmentConfig

BUCKET_PURPOSES = ("raw", "prepared", "results", "access-logs")
# EventBridge Scheduler's group of the daily schedules; its ARN is what Scheduler names as aws:SourceArn.
SCHEDULE_GROUP = "default"


# ---- stacks (stacks/application.py)


def stack_prefix(config: EnvironmentConfig) -> str:
    return f"Personalize-{config.env}"


def data_stack_name(config: EnvironmentConfig) -> str:
    return f"{stack_prefix(config)}-Data"


def country_stack_name(config: EnvironmentConfig, country_code: str) -> str:
    return f"{stack_prefix(config)}-{country_code}"


def pipeline_stack_name(config: EnvironmentConfig) -> str:
    return f"{stack_prefix(config)}-Pipeline"


def realtime_stack_name(config: EnvironmentConfig) -> str:
    return f"{stack_prefix(config)}-Realtime"


def serving_stack_name(config: EnvironmentConfig) -> str:
    return f"{stack_prefix(config)}-Serving"


# ---- resources


def state_machine_name(config: EnvironmentConfig) -> str:
    return f"{config.name_prefix}-pipeline"


def ledger_table_name(config: EnvironmentConfig) -> str:
    return f"{config.name_prefix}-runs"


def read_model_table_name(config: EnvironmentConfig) -> str:
    """The serving read model (serving.read_model): the Publish step writes it, the serving API reads it."""
    return f"{config.name_prefix}-read-model"


def schedule_name(config: EnvironmentConfig, country: Country) -> str:
    return f"{config.name_prefix}-{country.slug}-daily"


def bucket_name(config: EnvironmentConfig, purpose: str, account: str | None = None, region: str | None = None) -> str:
    """Globally unique: env prefix + purpose + account + region (e.g. personalize-dev-raw-1234...-ap-...). The stacks
    pass no account and region (the deploying stack's, as CDK tokens); the tools pass the ones they run against."""
    if purpose not in BUCKET_PURPOSES:
        raise ValueError(f"unknown bucket purpose {purpose!r}")
    if account is None or region is None:
        from aws_cdk import Aws

        account, region = Aws.ACCOUNT_ID, Aws.REGION
    return f"{config.name_prefix}-{purpose}-{account}-{region}"


# ---- ARNs (in the scope's stack: its account, region and partition)


def bucket_arn(config: EnvironmentConfig, purpose: str, path: str = "") -> str:
    from aws_cdk import Aws

    return f"arn:{Aws.PARTITION}:s3:::{bucket_name(config, purpose)}{path}"


def personalize_arn(scope: IConstruct, resource_type: str, name: str) -> str:
    from aws_cdk import Stack

    return Stack.of(scope).format_arn(service="personalize", resource=resource_type, resource_name=name)


def state_machine_arn(scope: IConstruct, config: EnvironmentConfig) -> str:
    """Built from the name, not the resource: a policy naming it does not depend on the state machine."""
    return _states_arn(scope, "stateMachine", state_machine_name(config))


def executions_arn(scope: IConstruct, config: EnvironmentConfig) -> str:
    """Every execution of the env's pipeline (their names are chosen at start)."""
    return _states_arn(scope, "execution", f"{state_machine_name(config)}:*")


def schedules_arn(scope: IConstruct, config: EnvironmentConfig) -> str:
    """Every schedule of the env (schedule_name), in their group."""
    from aws_cdk import Stack

    return Stack.of(scope).format_arn(
        service="scheduler", resource="schedule", resource_name=f"{SCHEDULE_GROUP}/{config.name_prefix}-*"
    )


def schedule_group_arn(scope: IConstruct) -> str:
    from aws_cdk import Stack

    return Stack.of(scope).format_arn(service="scheduler", resource="schedule-group", resource_name=SCHEDULE_GROUP)


def _states_arn(scope: IConstruct, resource: str, name: str) -> str:
    from aws_cdk import ArnFormat, Stack

    return Stack.of(scope).format_arn(
        service="states", resource=resource, resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
