"""The pipeline functions' environment variables, as one typed model: the stack renders them from it
(`common.environment.render`) and the functions parse them with it (`environment()`), so a name is spelt once.
A missing or empty variable fails with its name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.environment import parse


class PipelineEnvironment(BaseModel):
    model_config = ConfigDict(frozen=True)

    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=1)
    env_name: str = Field(alias="ENV_NAME", min_length=1)
    # Only the failure recorder publishes itself; the state machine publishes for the other steps.
    topic_arn: str | None = Field(default=None, alias="TOPIC_ARN")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    # Only the publish step writes the serving read model (serving.read_model), with its lists' expiry.
    read_model_table: str | None = Field(default=None, alias="READ_MODEL_TABLE")
    read_model_ttl_days: int | None = Field(default=None, alias="READ_MODEL_TTL_DAYS", ge=1)


def environment() -> PipelineEnvironment:
    try:
        return parse(PipelineEnvironment)
    except ValidationError as error:
        missing = ", ".join(str(e["loc"][0]) for e in error.errors())
        raise RuntimeError(f"pipeline function misconfigured: environment variable(s) {missing}") from None
