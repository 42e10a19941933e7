"""The env config's `serving:` block (stacks.config): what the serving stack deploys with, checked against the
serving function's own settings model so that a value the function would refuse fails the synth, not a request.
The module loads no aws_cdk: the operators' tools load the config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.environment import render
from common.experiments import Experiment
from serving.read_model import DEFAULT_TTL_DAYS
from serving.settings import DEFAULT_LATENCY_BUDGET_MS, DEFAULT_READ_MODEL_RESERVE_MS, ServingSettings


class ServingStackSettings(BaseModel):
    """`serving:` of the env config: the serving stack's API and the read model's expiry. The function's share
    (the budget and the campaign's timeout) is checked against the function's own settings model
    (serving.settings.ServingSettings), so a value the function would refuse fails here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Lists no run refreshed for this many days expire from the read model (its TTL attribute).
    ttl_days: Annotated[int, Field(ge=1, le=3650)] = DEFAULT_TTL_DAYS
    # The stage's default route throttling: steady requests per second and the bucket's burst.
    throttling_rate_per_s: Annotated[float, Field(gt=0)] = 100
    throttling_burst: Annotated[int, Field(ge=1)] = 200
    # Every request is answered within the budget; the campaign call gets at most its timeout of it, so the
    # read model's lists still fit in what is left when Personalize is slow.
    latency_budget_ms: Annotated[int, Field(ge=1)] = DEFAULT_LATENCY_BUDGET_MS
    campaign_timeout_ms: Annotated[int, Field(ge=1)] = DEFAULT_LATENCY_BUDGET_MS - DEFAULT_READ_MODEL_RESERVE_MS

    @model_validator(mode="after")
    def _campaign_within_budget(self) -> ServingStackSettings:
        if self.campaign_timeout_ms >= self.latency_budget_ms:
            raise ValueError(
                f"campaign_timeout_ms ({self.campaign_timeout_ms} ms) must be less than latency_budget_ms "
                f"({self.latency_budget_ms} ms): the fallback to the read model needs the rest of the budget"
            )
        try:
            self.function_settings(table_name="placeholder", results_bucket="placeholder")
        except ValidationError as error:
            first = error.errors()[0]
            field = {"LATENCY_BUDGET_MS": "latency_budget_ms"}.get(
                str(first["loc"][0]),
                f"latency_budget_ms - campaign_timeout_ms ({self.read_model_reserve_ms} ms, the read model's share)",
            )
            raise ValueError(f"{field}: {first['msg']}") from None
        return self

    @property
    def read_model_reserve_ms(self) -> int:
        return self.latency_budget_ms - self.campaign_timeout_ms

    def function_environment(
        self, *, table_name: str, results_bucket: str, experiments: Mapping[str, tuple[Experiment, ...]] | None = None
    ) -> dict[str, str]:
        """The serving function's environment variables (names from its settings model); `experiments`: each
        country's (stacks.experiment_settings.by_country)."""
        return render(
            ServingSettings,
            table_name=table_name,
            results_bucket=results_bucket,
            latency_budget_ms=self.latency_budget_ms,
            read_model_reserve_ms=self.read_model_reserve_ms,
            experiments=ServingSettings.render_experiments(experiments or {}),
        )

    def function_settings(self, *, table_name: str, results_bucket: str) -> ServingSettings:
        return ServingSettings.model_validate(
            self.function_environment(table_name=table_name, results_bucket=results_bucket)
        )
