"""The ingest function's environment, as one typed model: stacks/constructs/realtime_ingest.py renders it
(`common.environment.render`), the handler parses it (`IngestSettings.from_env`). No powertools or boto3 here:
the CDK app imports this module at synth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Json, StringConstraints

from common.environment import parse
from ingest.delivery import DEFAULT_CONCURRENCY
from ingest.retry import PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP


class IngestSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    tracking_ids: Json[
        dict[
            Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")],
            Annotated[str, StringConstraints(min_length=1, max_length=256)],
        ]
    ] = Field(alias="TRACKING_IDS", description='{"KR": "<tracking id>", ...}: country -> event tracker')
    dlq_url: Annotated[str, StringConstraints(pattern=r"^https://")] = Field(alias="DLQ_URL")
    dead_letter_bucket: Annotated[str, StringConstraints(min_length=3, max_length=63)] | None = Field(
        None, alias="DEAD_LETTER_BUCKET", description="bucket for dead letters above the SQS message bound"
    )
    delivery_concurrency: int = Field(
        DEFAULT_CONCURRENCY, ge=1, le=64, alias="DELIVERY_CONCURRENCY", description="sessions sent at once"
    )
    put_events_rate_per_s: float = Field(
        PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP,
        gt=0,
        le=PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP,
        alias="PUT_EVENTS_RATE_PER_S",
        description="this invocation's share of the PutEvents quota, per tracker (= dataset group)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        settings = parse(cls, environ)
        if not settings.tracking_ids:
            raise ValueError("TRACKING_IDS maps no country to an event tracker")
        return settings
