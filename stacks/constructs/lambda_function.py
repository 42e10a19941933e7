"""The one way this app builds a Python Lambda: same asset, runtime, layer, tracing and log settings.

Every function gets its own role (no managed policies): the construct that owns the function grants it
exactly the calls it makes. Logs go to a dedicated, encrypted log group with a retention period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.nag import accept

LAMBDA_ROOT = Path(__file__).resolve().parents[2] / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_VERSION = "3.37.0"  # keep equal to aws-lambda-powertools in requirements.txt
# AWS publishes the Powertools layer ARN per region in this public SSM parameter; resolved at deploy time,
# so synth needs no lookup and no account id is written here.
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"

_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/tests"]


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """One layer reference per stack, shared by its functions."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("PowertoolsLayer")
    if existing is not None:
        # The only child of that id is the layer reference made below, by an earlier call for this stack.
        return cast(lambda_.ILayerVersion, existing)
    arn = ssm.StringParameter.value_for_string_parameter(stack, POWERTOOLS_LAYER_PARAMETER)
    return lambda_.LayerVersion.from_layer_version_arn(stack, "PowertoolsLayer", arn)


class PythonFunction(Construct):
    """A Lambda running `handler` (module.function under lambdas/) with its own least-privilege role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        service: str,
        description: str,
        environment: dict[str, str] | None = None,
        timeout: Duration = Duration.seconds(60),
        memory_size: int = 256,
        ephemeral_storage_mb: int | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        encryption_key: kms.IKey | None = None,
        reserved_concurrency: int | None = None,
        dockerfile: str | None = None,
    ) -> None:
        """`dockerfile` (under lambdas/) packages the function as a container image instead of a zip, for
        code whose dependencies do not fit a zip next to the Powertools layer; `handler` is then its CMD."""
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{service}: {description}"[:1000],
        )
        # Keyword arguments both function kinds share; each value's type is checked where it is passed on.
        common: dict[str, Any] = dict(
            architecture=ARCHITECTURE,
            description=description,
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            # None: Lambda's default 512 MB of /tmp.
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb else None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "PersonalizeRecommendations",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        if dockerfile:
            self.function: lambda_.Function = lambda_.DockerImageFunction(
                self,
                "Function",
                code=lambda_.DockerImageCode.from_image_asset(
                    str(LAMBDA_ROOT),
                    file=dockerfile,
                    cmd=[handler],
                    platform=ecr_assets.Platform.LINUX_ARM64,
                    exclude=_ASSET_EXCLUDES,
                ),
                **common,
            )
        else:
            self.function = lambda_.Function(
                self,
                "Function",
                runtime=RUNTIME,
                handler=handler,
                code=lambda_.Code.from_asset(str(LAMBDA_ROOT), exclude=_ASSET_EXCLUDES),
                layers=[powertools_layer(self)],
                **common,
            )
        # Active tracing adds X-Ray PutTraceSegments/PutTelemetryRecords on "*": that API has no resource ARNs.
        # Every other statement a construct adds to this role names its resources.
        accept(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions.",
        )
        # Only what the runtime needs to write its own logs.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
