"""The request path's AWS clients: made on first use, shared by warm invocations, sized by the latency budget.

The Personalize runtime client never retries (total_max_attempts 1): a retry would spend the budget the read model
fallback needs, and the chain itself moves to the next source. Its read timeout is the campaign's share of the
budget, so a call left behind by the chain ends soon after. The DynamoDB and S3 clients allow one retry.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import boto3
from botocore.config import Config

from serving.settings import ServingSettings

CONNECT_TIMEOUT_S = 0.5


class Clients(NamedTuple):
    dynamodb: Any
    personalize_runtime: Any
    s3: Any


def make(settings: ServingSettings) -> Clients:
    budget_s = settings.latency_budget_ms / 1000
    read_model = Config(
        connect_timeout=CONNECT_TIMEOUT_S, read_timeout=budget_s, retries={"mode": "standard", "total_max_attempts": 2}
    )
    campaign = Config(
        connect_timeout=min(CONNECT_TIMEOUT_S, settings.campaign_budget_s),
        read_timeout=settings.campaign_budget_s,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return Clients(
        dynamodb=boto3.client("dynamodb", config=read_model),
        personalize_runtime=boto3.client("personalize-runtime", config=campaign),
        s3=boto3.client("s3", config=Config(retries={"mode": "standard", "total_max_attempts": 2})),
    )
