"""AWS clients, created on first use (never at import time) and shared across warm invocations.

Tests replace these functions (e.g. `personalize` with a fake, since moto has no Personalize jobs).
botocore's standard retry mode absorbs short throttling bursts before our code sees an error.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


def personalize() -> Any:
    return client("personalize")


def athena() -> Any:
    return client("athena")


def s3() -> Any:
    return client("s3")


def glue() -> Any:
    return client("glue")


def dynamodb() -> Any:
    return client("dynamodb")


def stepfunctions() -> Any:
    return client("stepfunctions")


def sns() -> Any:
    return client("sns")


def events() -> Any:
    return client("events")


def ssm() -> Any:
    return client("ssm")
