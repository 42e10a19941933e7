"""The serving function's environment, as one typed model: the serving stack renders it (`common.environment.render`),
the handler parses it (`ServingSettings.from_env`). No powertools or boto3 here: the CDK app imports this module."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from common.environment import parse
from common.experiments import Experiment

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
    experiments: dict[str, tuple[Experiment, ...]] = Field(
        default_factory=dict,
        alias="EXPERIMENTS",
        description="JSON: country -> its experiments (config countries[].experiments); unset: none",
    )

    @field_validator("experiments", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        settings = parse(cls, environ)
        if settings.read_model_reserve_ms >= settings.latency_budget_ms:
            raise ValueError("READ_MODEL_RESERVE_MS must be below LATENCY_BUDGET_MS: the campaign would get no time")
        return settings

    def experiment_on(self, country: str, day: date) -> Experiment | None:
        """The country's experiment running on `day`, if any (the config allows one a day)."""
        return next((e for e in self.experiments.get(country, ()) if e.running_on(day)), None)

    @staticmethod
    def render_experiments(experiments: Mapping[str, tuple[Experiment, ...]]) -> str | None:
        """EXPERIMENTS' value for these experiments; None (unset) when there are none."""
        if not experiments:
            return None
        listed = {code: [e.model_dump(mode="json") for e in listed] for code, listed in experiments.items()}
        return json.dumps(listed, separators=(",", ":"))

    @property
    def campaign_budget_s(self) -> float:
        """The most a campaign call may take: the budget less the reserve."""
        return (self.latency_budget_ms - self.read_model_reserve_ms) / 1000
