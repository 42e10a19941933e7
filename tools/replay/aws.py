"""AWS clients for the tool, and what AWS errors mean to the engineer running it.

Clients come from one small factory (`AwsClients(profile, region)`) that tests replace, e.g. to put the
redrive fake in front of moto's Step Functions.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from tools.replay.errors import NotFound, OperationFailed, ReplayError, UsageError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="personalize-runs")

ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
    }
)
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
NOT_FOUND = frozenset({"ResourceNotFoundException", "StateMachineDoesNotExist", "ExecutionDoesNotExist"})


class AwsClients:
    """boto3 clients of one profile and region, created on first use."""

    def __init__(self, profile: str | None, region: str | None) -> None:
        self.profile = profile
        self.session = boto3.Session(profile_name=profile)  # ProfileNotFound for an unknown profile
        self.region = region or self.session.region_name
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region, config=_CONFIG)
        return self._clients[service]

    def stepfunctions(self) -> Any:
        return self.client("stepfunctions")

    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def scheduler(self) -> Any:
        return self.client("scheduler")

    @cached_property
    def where(self) -> str:
        return f"profile {self.profile or '(default)'}, region {self.region}"


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def translate(error: Exception, where: str = "") -> ReplayError:
    """An AWS/botocore error as one line the on-call engineer can act on."""
    at = f" ({where})" if where else ""
    if isinstance(error, ProfileNotFound):
        return UsageError(f"AWS profile not found: {error.kwargs.get('profile')}; check --profile and ~/.aws/config")
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return UsageError(
            f"no AWS credentials found{at}: pass --profile NAME, or run `aws configure` / `aws sso login`"
        )
    if isinstance(error, (SSOError, TokenRetrievalError)):
        return UsageError(f"AWS SSO login needed{at}: run `aws sso login` for this profile ({error})")
    if isinstance(error, NoRegionError):
        return UsageError("no AWS region: pass --region or set one in the env's config or your AWS profile")
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        operation = getattr(error, "operation_name", "call")
        if code in ACCESS_DENIED:
            return OperationFailed(f"access denied: {operation} was refused by AWS{at}: {message}")
        if code in EXPIRED:
            return UsageError(f"AWS credentials expired{at}: log in again (e.g. `aws sso login`)")
        if code in NOT_FOUND:
            return NotFound(f"not found: {operation}{at}: {message}")
        return OperationFailed(f"AWS error in {operation}{at}: {code}: {message}")
    if isinstance(error, EndpointConnectionError):
        return OperationFailed(f"cannot reach AWS{at}: {error}")
    if isinstance(error, BotoCoreError):
        return OperationFailed(f"AWS SDK error{at}: {error}")
    return OperationFailed(str(error))


def stack_outputs(cloudformation: Any, stack: str, required: tuple[str, ...]) -> dict[str, str]:
    """A deployed stack's outputs (one DescribeStacks call); a missing stack or output is one line."""
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            raise NotFound(f"stack {stack} does not exist in this account and region: is the env deployed?") from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described[0].get("Outputs", [])}
    missing = [key for key in required if key not in outputs]
    if missing:
        raise OperationFailed(f"stack {stack} has no output {', '.join(missing)}: deploy the current version of it")
    return outputs
