"""What the Publish step loads into the serving read model (serving.read_model), from where, in what order.

A run's outputs become `Part`s: one S3 object each, of one kind, in a fixed order (item metadata, similar-items
lists, segment and country lists, the users' batch lists, their curation lists, then their profiles), so that a
cursor (part index, byte offset) says exactly what is loaded and every invocation, redrive or rerun lists the same
parts again.
`items_of` turns one line of a part into read-model items; every item's key depends only on the country, the
run date and the line, so writing a line twice writes the same item twice (idempotent).

Profiles come from the run's prepared users.csv: every user on a full-batch day (Mode.FULL or batch_mode
all-users), else only the users of today's batch lists (the changed users), as those are the lists written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from common.prepared_outputs import Output
from common.recipes import Recipe, spec, user_list_recipe
from dataprep.s3_outputs import split_uri
from evaluation.queries import CURATION_LISTS
from pipeline.campaigns import campaign_name
from pipeline.model import Mode, RunState
from serving import read_model as rm

Item = dict[str, Any]  # DynamoDB's attribute-value form ({"S": ...}), what BatchWriteItem takes


class PartKind(StrEnum):
    ITEMS = "items"  # prepared items.csv -> ITEM#<id> META
    SIMILAR = "similar"  # similar-items batch output -> SIMILAR#<cc>#<item> LIST#<date>
    SEGMENTS = "segments"  # cold_start/segments.jsonl -> SEGMENT#... LIST#<date> (the '*' line: the country's)
    USER_LISTS = "user_lists"  # user-personalization batch output -> USER#<cc>#<user> LIST#<date>
    CURATION = "curation"  # the report step's curation_lists UNLOAD -> USER#<cc>#<user> CURATION#<date>
    PROFILES = "profiles"  # prepared users.csv -> USER#<cc>#<user> PROFILE


CSV_KINDS = frozenset({PartKind.ITEMS, PartKind.PROFILES})
# Parts whose every line is one batch output record: a line that gives no item was skipped (error or malformed).
BATCH_KINDS = frozenset({PartKind.SIMILAR, PartKind.USER_LISTS})
BATCH_OUTPUT_SUFFIXES = (".out",)  # Personalize names its batch output files <input file>.out


@dataclass(frozen=True)
class Part:
    kind: PartKind
    bucket: str
    key: str
    size: int


@dataclass(frozen=True)
class Load:
    """What every line of a run's parts needs to become items."""

    country: str
    run_date: date
    ttl_days: int
    # Profiles written only for these users (a normal day's batch users); None: every user of users.csv.
    profile_users: frozenset[str] | None = None

    @property
    def expires(self) -> dict[str, str]:
        return {"N": str(rm.expires_at(self.run_date, self.ttl_days))}


def full_batch(state: RunState) -> bool:
    """Batch scored every user today (as pipeline.steps.batch decides its inputs)."""
    return state.run.mode is Mode.FULL or state.settings.batch_mode == "all-users"


def _batch_output(state: RunState, recipe: Recipe | None) -> str | None:
    batch = state.steps.get("batch")
    job = batch.jobs.get(recipe.value) if batch and recipe else None
    return job.detail.get("output") if job else None


def _curation_output(state: RunState) -> str | None:
    report = state.steps.get("report")
    job = report.jobs.get(CURATION_LISTS) if report else None
    return job.detail.get("location") if job else None


def sources(state: RunState) -> list[tuple[PartKind, str]]:
    """(kind, s3 uri: a file, or a folder of batch output) of this run, in load order; absent outputs are left out
    (a day whose batch step skipped a recipe keeps the lists of earlier runs)."""
    found: list[tuple[PartKind, str | None]] = [
        (PartKind.ITEMS, state.prepared.get(Output.ITEMS.value)),
        (PartKind.SIMILAR, _batch_output(state, Recipe.SIMILAR_ITEMS)),
        (PartKind.SEGMENTS, ((state.cold_start or {}).get("segments") or {}).get("segments_uri")),
        (PartKind.USER_LISTS, _batch_output(state, user_list_recipe(state.settings.recipes))),
        (PartKind.CURATION, _curation_output(state)),
        (PartKind.PROFILES, state.prepared.get(Output.USERS.value)),
    ]
    return [(kind, uri) for kind, uri in found if uri]


def list_parts(s3: Any, state: RunState) -> list[Part]:
    """Every part of the run, in load order (a folder's objects in key order)."""
    parts: list[Part] = []
    for kind, uri in sources(state):
        bucket, prefix = split_uri(uri)
        folder = uri.endswith("/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
                # Every object of an UNLOAD folder is a part; Personalize's folders also hold other files.
                if folder and kind in BATCH_KINDS and not obj["Key"].endswith(BATCH_OUTPUT_SUFFIXES):
                    continue
                if not folder and obj["Key"] != prefix:
                    continue
                parts.append(Part(kind, bucket, obj["Key"], obj["Size"]))
    return parts


def _list(ids: Iterable[Any]) -> dict[str, Any]:
    return {"L": [{"S": str(i)} for i in ids]}


def _batch_line(line: str) -> tuple[str, list[str]] | None:
    """(input id, recommended items) of a batch output line; None for a line Personalize marked as an error or one
    that is not a batch output record (counted by the step as skipped: one bad line never stops a load)."""
    try:
        record = json.loads(line)
        source = record["input"]
        key = source.get("userId", source.get("itemId"))
        items = record["output"]["recommendedItems"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if record.get("error") or key is None or not isinstance(items, list):
        return None
    return str(key), [str(i) for i in items]


def _dated_list(load: Load, pk: str, sk: str, items: list[str]) -> list[Item]:
    """One list of the run: its items under the run date's sort key, expiring unless a later run refreshes it."""
    return [
        {
            rm.PK: {"S": pk},
            rm.SK: {"S": sk},
            "items": _list(items),
            "run_date": {"S": load.run_date.isoformat()},
            rm.EXPIRES_AT: load.expires,
        }
    ]


def _user_list(load: Load, line: str) -> list[Item]:
    parsed = _batch_line(line)
    if parsed is None:
        return []
    user, items = parsed
    return _dated_list(load, rm.user_pk(load.country, user), rm.list_sk(load.run_date), items)


def _curation(load: Load, line: str) -> list[Item]:
    # evaluation/sql/curation_lists.sql's UNLOAD lines: {"user_id": ..., "item_ids": [...]} (our own output, so a
    # line of another shape is a broken query or folder: the step fails saying so, the cursor keeps its place)
    try:
        record = json.loads(line)
        user, items = str(record["user_id"]), [str(i) for i in record["item_ids"]]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"curation line is not {{user_id, item_ids}} ({error!r}): {line[:120]!r}") from None
    return _dated_list(load, rm.user_pk(load.country, user), rm.curation_sk(load.run_date), items)


def _similar(load: Load, line: str) -> list[Item]:
    parsed = _batch_line(line)
    if parsed is None:
        return []
    item, items = parsed
    return _dated_list(load, rm.similar_pk(load.country, item), rm.list_sk(load.run_date), items)


def _segment(load: Load, line: str) -> list[Item]:
    # pipeline.cold_start writes these lines: locale, ageGroup, gender, source, itemIds, coldUsers
    record = json.loads(line)
    return [
        {
            rm.PK: {"S": rm.segment_pk(load.country, record["locale"], record["ageGroup"], record["gender"])},
            rm.SK: {"S": rm.list_sk(load.run_date)},
            "items": _list(record["itemIds"]),
            "source": {"S": str(record["source"])},
            "run_date": {"S": load.run_date.isoformat()},
            rm.EXPIRES_AT: load.expires,
        }
    ]


def _item(load: Load, row: dict[str, str]) -> list[Item]:
    # items.csv as dataprep/sql/items.sql writes it: ITEM_ID, GENRES ('|'-separated), CREATION_TIMESTAMP, TITLE
    genres = [g for g in row.get("GENRES", "").split("|") if g]
    item: Item = {**{k: {"S": v} for k, v in rm.item_key(row["ITEM_ID"]).items()}, "genres": _list(genres)}
    if row.get("TITLE"):
        item["title"] = {"S": row["TITLE"]}
    if row.get("CREATION_TIMESTAMP"):
        item["created"] = {"N": str(int(float(row["CREATION_TIMESTAMP"])))}
    return [item]


def _profile(load: Load, row: dict[str, str]) -> list[Item]:
    # users.csv as dataprep/sql/users.sql writes it: USER_ID, LOCALE, AGE_GROUP, GENDER, MEMBERSHIP
    user = row["USER_ID"]
    if load.profile_users is not None and user not in load.profile_users:
        return []
    item: Item = {
        rm.PK: {"S": rm.user_pk(load.country, user)},
        rm.SK: {"S": rm.PROFILE},
        "run_date": {"S": load.run_date.isoformat()},
        rm.EXPIRES_AT: load.expires,
    }
    for column, attribute in (("LOCALE", "locale"), ("AGE_GROUP", "age_group"), ("GENDER", "gender")):
        if row.get(column):
            item[attribute] = {"S": row[column]}
    return [item]


_JSON_LINES: dict[PartKind, Callable[[Load, str], list[Item]]] = {
    PartKind.SIMILAR: _similar,
    PartKind.SEGMENTS: _segment,
    PartKind.USER_LISTS: _user_list,
    PartKind.CURATION: _curation,
}
_CSV_ROWS: dict[PartKind, Callable[[Load, dict[str, str]], list[Item]]] = {
    PartKind.ITEMS: _item,
    PartKind.PROFILES: _profile,
}


def items_of(kind: PartKind, load: Load, line: str, header: list[str] | None) -> list[Item]:
    """The read-model items of one line of a part (a CSV part's lines need its header)."""
    if kind in CSV_KINDS:
        if header is None:
            raise ValueError(f"{kind} part read without its header")
        (values,) = csv.reader([line])
        return _CSV_ROWS[kind](load, dict(zip(header, values, strict=False)))
    return _JSON_LINES[kind](load, line)


def batch_users(lines: Iterable[str]) -> frozenset[str]:
    """The users of batch output lines (whose profiles a normal day writes)."""
    return frozenset(str(json.loads(line)["input"]["userId"]) for line in lines if line.strip())


def pointer(state: RunState, published_at: str) -> Item:
    """The country's CURRENT item: the run whose lists are served, the campaigns and filters this run promoted
    or published (pipeline.filters publishes the same ARNs to SSM), the run's report."""
    settings = state.settings
    # Campaigns are named per recipe (pipeline.campaigns): a day without a new version serves the same ones.
    base = settings.dataset_group_arn.split(":dataset-group/", 1)[0]
    campaigns = {
        recipe: {"S": f"{base}:campaign/{campaign_name(state, Recipe(recipe))}"}
        for recipe in state.promoted
        if settings.campaign_enabled and spec(recipe).campaign
    }
    item: Item = {
        **{k: {"S": v} for k, v in rm.country_key(settings.country).items()},
        "run_date": {"S": state.run.run_date.isoformat()},
        "published_at": {"S": published_at},
        "campaigns": {"M": campaigns},
        "filters": {"M": {name: {"S": arn} for name, arn in state.filters.items()}},
    }
    report = state.prepared.get("report_url")
    if report:
        item["report_key"] = {"S": split_uri(report)[1]}
    return item
