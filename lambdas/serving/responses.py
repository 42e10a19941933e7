"""The API's response bodies (camelCase on the wire), as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from common.experiments import Arm
from serving.read_model import Source


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Item(_Body):
    item_id: str
    title: str | None = None
    genres: list[str] | None = None
    created: int | None = Field(None, description="the item's creation time, epoch seconds")


class ItemList(_Body):
    country: str
    source: Source = Field(description="where the list came from: campaign, batch, curation, segment or country")
    run_date: date = Field(description="the daily run whose outputs (or promoted campaign) served the list")
    recommendation_id: str = Field(description="send it back with the events about these items (1-40 characters)")
    filter_applied: bool = Field(False, description="whether the requested filter shaped the list (campaign only)")
    items: list[Item]
    experiment: str | None = Field(None, description="the experiment the user is in (null outside experiments)")
    arm: Arm | None = Field(None, description="the user's arm of that experiment: which list was served to them")


class Error(_Body):
    """Every error answer (Powertools' shape): the status and one line saying what was wrong."""

    status_code: int
    message: str
