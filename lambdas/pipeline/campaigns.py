"""The country's real-time campaign of a recipe, named once: the promote step creates and updates it under this
name, and the cold-start fallback points apps to it by the same name (so neither imports the other)."""

from __future__ import annotations

from common.personalize_resources import stable_name
from common.recipes import Recipe, spec
from pipeline.model import RunState


def campaign_name(state: RunState, recipe: Recipe) -> str:
    return stable_name(state.settings.name_prefix, state.settings.country, f"{spec(recipe).short_name}-campaign")
