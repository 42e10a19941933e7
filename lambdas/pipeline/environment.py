"""The failure recorder's environment variables, typed: a missing or empty one fails with its name.

(LEDGER_TABLE, which every step needs, is read where the ledger is used: pipeline.ledger.table_name.)
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class PipelineEnvironment(BaseModel):
    model_config = ConfigDict(frozen=True)

    env_name: str = Field(alias="ENV_NAME", min_length=1)
    # Only the failure recorder publishes itself; the state machine publishes for the other steps.
    topic_arn: str | None = Field(default=None, alias="TOPIC_ARN")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")


def environment() -> PipelineEnvironment:
    try:
        return PipelineEnvironment.model_validate(dict(os.environ))
    except ValidationError as error:
        missing = ", ".join(str(e["loc"][0]) for e in error.errors())
        raise RuntimeError(f"pipeline function misconfigured: environment variable(s) {missing}") from None
