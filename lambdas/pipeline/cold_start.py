"""The daily cold-start fallback, published next to the batch output (docs/personalize-behaviour.md item 6).

Users without a batch list (no interaction in the window: new users, or users silent for six months) get, in
this order: the country's real-time campaign of a recipe marked `cold_start_fallback` in the recipe table
(Trending-Now) where one is configured and deployed, else the popular items of their Users segment (locale x age
group x gender, lambdas/dataprep/sql/cold_start.sql), else the country's popular items. Under
`results/<country>/<run_date>/cold_start/`:
- `segments.jsonl`: one line per segment: locale, ageGroup, gender, source (segment | country), itemIds,
  coldUsers (the segment's users without a list); the `*`/`*`/`*` line is the country's list.
- `fallback.json`: which fallback the app uses (`primary`), the segments file, and the cold-start figure.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from common import clients
from common.recipes import spec
from dataprep.s3_outputs import split_uri
from evaluation.report_model import ColdStart, RecommenderResult
from pipeline import ledger
from pipeline.campaigns import campaign_name
from pipeline.model import RunState

SEGMENTS_FILE, MANIFEST_FILE = "segments.jsonl", "fallback.json"


def read_segments(s3: Any, parts_uri: str) -> list[dict[str, Any]]:
    """The lines of the cold_start UNLOAD (small: one per segment of the country's users)."""
    bucket, prefix = split_uri(parts_uri)
    lines: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")
            lines.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return lines


def figure(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's cold-start figure for this fallback: among users without a list, how many distinct lists
    they get and the most common list's share (one list and share 1.0: every new user sees the same thing)."""
    served: Counter[tuple[str, ...]] = Counter()
    for line in segments:
        if line.get("coldUsers"):
            served[tuple(line["itemIds"])] += int(line["coldUsers"])
    users = sum(served.values())
    if not users:
        return {"users": 0, "distinct_lists": 0, "most_common_list_share": None}
    return {
        "users": users,
        "distinct_lists": len(served),
        "most_common_list_share": served.most_common(1)[0][1] / users,
    }


def campaign_fallback(state: RunState) -> dict[str, Any] | None:
    """The deployed campaign of a cold-start recipe (Trending-Now), if the country has one."""
    settings = state.settings
    if not settings.campaign_enabled:
        return None
    for recipe in settings.recipes:
        if not spec(recipe).cold_start_fallback or not ledger.promoted(settings.country, recipe.value):
            continue
        # arn:aws:personalize:<region>:<account>:dataset-group/<name> -> the campaign's ARN in the same place
        base = settings.dataset_group_arn.split(":dataset-group/", 1)[0]
        return {
            "kind": "campaign",
            "recipe": recipe.value,
            "campaign_arn": f"{base}:campaign/{campaign_name(state, recipe)}",
            "how": "GetRecommendations with the campaign ARN (and the user id: the same list for every new user)",
        }
    return None


def publish(state: RunState) -> dict[str, Any]:
    """Write segments.jsonl and fallback.json under the run's results; returns the manifest."""
    settings = state.settings
    s3 = clients.s3()
    segments = read_segments(s3, state.prepared["cold_start"])
    prefix = f"{settings.country}/{state.run.run_date}/cold_start"
    segments_uri = f"s3://{settings.results_bucket}/{prefix}/{SEGMENTS_FILE}"
    body = "".join(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n" for line in segments)
    s3.put_object(
        Bucket=settings.results_bucket,
        Key=f"{prefix}/{SEGMENTS_FILE}",
        Body=body.encode("utf-8"),
        ContentType="application/x-ndjson",
    )
    segment_fallback = {
        "kind": "segments",
        "segments_uri": segments_uri,
        "how": "the line of the user's (locale, ageGroup, gender); the '*' line when the segment is not listed",
    }
    manifest = {
        "country": settings.country,
        "run_date": str(state.run.run_date),
        "primary": campaign_fallback(state) or segment_fallback,
        "segments": segment_fallback,
        "figure": figure(segments),
    }
    s3.put_object(
        Bucket=settings.results_bucket,
        Key=f"{prefix}/{MANIFEST_FILE}",
        Body=json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )
    return manifest


def report_row(manifest: dict[str, Any]) -> RecommenderResult:
    """The fallback as a row of the report's cold-start table (no offline metrics: it has no users with history).
    Its users are the country's users without any interaction in the window (no batch list)."""
    figures = manifest["figure"]
    label = "Cold-start fallback: popularity per segment (locale x age group x gender)"
    if manifest["primary"]["kind"] == "campaign":
        label += f"; real time: the {manifest['primary']['recipe']} campaign first"
    return RecommenderResult(
        name="cold-start-fallback",
        label=label,
        users_evaluated=0,
        users_with_lists=figures["users"],
        metrics={},
        cold_start=ColdStart(**figures),
        fresh_share=None,
    )
