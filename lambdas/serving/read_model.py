"""The serving read model: one DynamoDB table per env that the Publish step writes and the API reads.

One idea: the table's keys and item shapes (the contract between pipeline.steps.publish and the serving API).

Every list is stored under the run date that made it (`LIST#<run_date>`) and the country's pointer (`CURRENT`)
moves to a run only after that run's load finished, so the API reads, for any key, the newest list whose run date
is not after the pointer's: a half-loaded run is never served, a user not in today's batch keeps their last list,
and a redrive or rerun writes the same items again (idempotent). Lists no run refreshed for `ttl_days` expire
through the table's TTL attribute, and the API falls back to the next source.

| item | pk | sk | attributes |
| --- | --- | --- | --- |
| country pointer | `COUNTRY#<cc>` | `CURRENT` | run_date, published_at, campaigns {recipe: arn}, filters {name: arn}, |
| | | | report_key |
| user's list | `USER#<cc>#<user_id>` | `LIST#<run_date>` | items [ids], expires_at |
| user's curation list | `USER#<cc>#<user_id>` | `CURATION#<run_date>` | items, expires_at (legacy curation) |
| user's profile | `USER#<cc>#<user_id>` | `PROFILE` | locale, age_group, gender, run_date, expires_at |
| segment's list | `SEGMENT#<cc>#<locale>#<age_group>#<gender>` | `LIST#<run_date>` | items, source, expires_at |
| country's list | `SEGMENT#<cc>#*#*#*` | `LIST#<run_date>` | items (the country's most popular), expires_at |
| similar items | `SIMILAR#<cc>#<item_id>` | `LIST#<run_date>` | items, expires_at |
| item metadata | `ITEM#<item_id>` | `META` | title, genres [..], created (epoch s) (shared catalogue) |
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

PK, SK = "pk", "sk"
EXPIRES_AT = "expires_at"  # the table's TTL attribute (epoch seconds)
CURRENT = "CURRENT"
PROFILE = "PROFILE"
META = "META"
LIST_PREFIX = "LIST#"
CURATION_PREFIX = "CURATION#"  # a user's list from the legacy curation (the experiments' curation arm)
ANY = "*"  # the country list's segment values
DEFAULT_TTL_DAYS = 30


class Source(StrEnum):
    """Where a served list came from (the response's `source`), in fallback order for a user."""

    CAMPAIGN = "campaign"
    BATCH = "batch"
    CURATION = "curation"  # the user's `CURATION#<run_date>` list (an experiment's curation arm only)
    SEGMENT = "segment"
    COUNTRY = "country"


def country_key(country: str) -> dict[str, str]:
    return {PK: f"COUNTRY#{country}", SK: CURRENT}


def user_pk(country: str, user_id: str) -> str:
    return f"USER#{country}#{user_id}"


def segment_pk(country: str, locale: str, age_group: str, gender: str) -> str:
    return f"SEGMENT#{country}#{locale}#{age_group}#{gender}"


def country_list_pk(country: str) -> str:
    return segment_pk(country, ANY, ANY, ANY)


def similar_pk(country: str, item_id: str) -> str:
    return f"SIMILAR#{country}#{item_id}"


def item_key(item_id: str) -> dict[str, str]:
    return {PK: f"ITEM#{item_id}", SK: META}


def list_sk(run_date: date) -> str:
    return f"{LIST_PREFIX}{run_date.isoformat()}"


def curation_sk(run_date: date) -> str:
    return f"{CURATION_PREFIX}{run_date.isoformat()}"


def expires_at(run_date: date, ttl_days: int) -> int:
    """Epoch seconds at which a list written by `run_date`'s run expires unless a later run refreshes it."""
    day = run_date + timedelta(days=ttl_days)
    return int((day - date(1970, 1, 1)).total_seconds())
