"""The serving function's environment, as one typed model: the serving stack renders it (`common.environment.render`),
the handler parses it (`ServingSettings.from_env`). No powertools or boto3 here: the CDK app imports this module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from common.environment import parse

DEFAULT_LATENCY_BUDGET_MS = 300
DEFAULT_READ_MODEL_RESERVE_MS = 60


class ServingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: Annotated[str, StringConstraints(min_length=3, max_length=255)] = Field(
        alias="TABLE_NAME", description="the read model's DynamoDB table (serving.read_model)"
    )
    results_bucket: Annotated[str, StringConstraints(min_length=3, max_length=63)] = Field(
        alias="RESULTS_BUCKET", description="the bucket holding the report page the country pointer names"
    )
    latency_budget_ms: int = Field(
        DEFAULT_LATENCY_BUDGET_MS,
        ge=50,
        le=10_000,
        alias="LATENCY_BUDGET_MS",
        description="a request is answered within this many ms of its arrival, from the read model if need be",
    )
    read_model_reserve_ms: int = Field(
        DEFAULT_READ_MODEL_RESERVE_MS,
        ge=10,
        le=1_000,
        alias="READ_MODEL_RESERVE_MS",
        description="what the budget keeps after the campaign call for the fallback list and the items' metadata",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        settings = parse(cls, environ)
        if settings.read_model_reserve_ms >= settings.latency_budget_ms:
            raise ValueError("READ_MODEL_RESERVE_MS must be below LATENCY_BUDGET_MS: the campaign would get no time")
        return settings

    @property
    def campaign_budget_s(self) -> float:
        """The most a campaign call may take: the budget less the reserve."""
        return (self.latency_budget_ms - self.read_model_reserve_ms) / 1000
