"""The country's Personalize filters: what they express, their names, which batch job uses which, and where the
app finds them (SSM parameters). Created describe-or-create by the promote step, before Batch.

Expression syntax follows the developer guide's filter expressions: `EXCLUDE ItemID WHERE
Interactions.EVENT_TYPE IN ("purchase")` ("For all recipe types, you can filter only based on event type"),
item metadata as `Items.<FIELD> IN (...)` / `Items.CREATION_TIMESTAMP > $DATE`, and "You can't use Item
Interaction and Item datasets in one expression ... you must chain two or more expressions together" (` | `).

A filter's expression cannot be changed after creation, so each name carries a digest of its expression: a
changed config creates a new filter and the SSM parameter moves to it. The filter it replaced is deleted a day
later (`superseded`): a dataset group holds at most 30 filters, and an app that cached the old ARN has had a
day to read the new one from SSM (docs/personalize-behaviour.md, "Filters").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.event_kinds import EventKind
from common.personalize_resources import stable_name
from common.prepared_outputs import Output
from common.recipes import Recipe, spec
from pipeline.model import RunSettings

PURCHASED = "exclude-purchased"
GENRES = "exclude-genres"
RECENT = "recent-items"
# What a user-keyed batch job applies (a batch job takes one filterArn): the static filters chained.
BATCH_USERS = "batch-users"
# Placeholder of the age filter: the app passes the cutoff (epoch seconds) as filterValues at request time.
CREATED_AFTER = "CREATED_AFTER"
# How long a replaced filter outlives the creation of the one that replaced it (published the same run).
RETIRE_AFTER = timedelta(days=1)
_DIGEST = 6


@dataclass(frozen=True)
class FilterDefinition:
    key: str
    expression: str
    # published for the app's GetRecommendations calls (the batch combinations are not)
    published: bool = True


def _quoted(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def definitions(settings: RunSettings) -> dict[str, FilterDefinition]:
    """Every filter the country's config asks for, keyed by its short name."""
    config = settings.filters
    found: dict[str, FilterDefinition] = {}
    if config.exclude_purchased:
        found[PURCHASED] = FilterDefinition(
            PURCHASED, f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{EventKind.PURCHASE.value}")'
        )
    if config.exclude_genres:
        found[GENRES] = FilterDefinition(
            GENRES, f"EXCLUDE ItemID WHERE Items.GENRES IN ({_quoted(config.exclude_genres)})"
        )
    if config.max_item_age_days is not None:
        found[RECENT] = FilterDefinition(RECENT, f"INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > ${CREATED_AFTER}")
    static_user = [found[k].expression for k in (PURCHASED, GENRES) if k in found]
    if len(static_user) > 1:
        found[BATCH_USERS] = FilterDefinition(BATCH_USERS, " | ".join(static_user), published=False)
    return found


def batch_filter_key(recipe: Recipe, defined: dict[str, FilterDefinition]) -> str | None:
    """The filter a batch job of `recipe` applies, or None."""
    recipe_spec = spec(recipe)
    if recipe_spec.batch_input is None:
        return None
    keyed_by_item = recipe_spec.batch_input[0] == Output.ITEMS_BATCH
    if keyed_by_item:
        return GENRES if GENRES in defined else None
    for key in (BATCH_USERS, PURCHASED, GENRES):
        if key in defined:
            return key
    return None


def _digest(expression: str) -> str:
    return hashlib.sha256(expression.encode()).hexdigest()[:_DIGEST]


def filter_name(settings: RunSettings, definition: FilterDefinition) -> str:
    digest = _digest(definition.expression)
    return stable_name(settings.name_prefix, settings.country, f"filter-{definition.key}-{digest}")


def superseded(
    settings: RunSettings, listed: Iterable[dict], now: datetime, published_before: Iterable[str]
) -> list[str]:
    """ARNs of the country's filters that a filter of the same key, with another expression, replaced at least
    RETIRE_AFTER ago. `listed`: ListFilters' summaries of the dataset group (name, filterArn, creationDateTime);
    `published_before`: the keys whose SSM parameter already held the current filter before this run (so no
    app can have been given the old ARN by this run).

    Only names this module makes for a configured key are candidates: a filter someone made by hand, or one of
    a key no longer configured (its SSM parameter is left as it was, and may still be read), is never deleted.
    A name shortened to fit Personalize's limit has no readable key: its key is skipped."""
    summaries = list(listed)
    created = {s["name"]: s["creationDateTime"] for s in summaries}
    settled = set(published_before)
    retired: list[str] = []
    for key, definition in definitions(settings).items():
        if definition.published and key not in settled:
            continue
        name = filter_name(settings, definition)
        base = name[: -(_DIGEST + 1)]
        if name != f"{base}-{_digest(definition.expression)}":  # shortened: the suffix is fit_name's hash
            continue
        if name not in created or now - created[name] < RETIRE_AFTER:
            continue
        same_key = re.compile(re.escape(base) + f"-[0-9a-f]{{{_DIGEST}}}")
        retired.extend(s["filterArn"] for s in summaries if s["name"] != name and same_key.fullmatch(s["name"]))
    return sorted(retired)


def parameter_name(settings: RunSettings, key: str) -> str:
    """Where the app reads a filter's ARN: /personalize/<env>/<country>/filters/<name> (README)."""
    return f"/personalize/{settings.env}/{settings.country.lower()}/filters/{key}"
