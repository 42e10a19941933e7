"""Physical names shared between stacks. Deriving them (instead of passing construct references) keeps
stacks loosely coupled and lets policies name their resources without cross-stack exports."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from constructs import IConstruct

from stacks.config import EnvironmentConfig

BUCKET_PURPOSES = ("raw", "prepared", "results", "access-logs")


def bucket_name(config: EnvironmentConfig, purpose: str) -> str:
    """Globally unique: env prefix + purpose + account + region (e.g. personalize-dev-raw-1234...-ap-...)."""
    if purpose not in BUCKET_PURPOSES:
        raise ValueError(f"unknown bucket purpose {purpose!r}")
    return f"{config.name_prefix}-{purpose}-{Aws.ACCOUNT_ID}-{Aws.REGION}"


def bucket_arn(config: EnvironmentConfig, purpose: str, path: str = "") -> str:
    return f"arn:{Aws.PARTITION}:s3:::{bucket_name(config, purpose)}{path}"


def personalize_arn(scope: IConstruct, resource_type: str, name: str) -> str:
    return Stack.of(scope).format_arn(service="personalize", resource=resource_type, resource_name=name)


def state_machine_name(config: EnvironmentConfig) -> str:
    return f"{config.name_prefix}-pipeline"


def ledger_table_name(config: EnvironmentConfig) -> str:
    return f"{config.name_prefix}-runs"
