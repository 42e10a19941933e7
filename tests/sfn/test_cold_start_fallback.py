"""The cold-start fallback executed end to end (docs/personalize-behaviour.md item 6): published next to the batch
output every day, the Trending-Now campaign first where the country has one, popularity per Users segment
otherwise; its cold-start figure in the report, the ledger and the notification."""

from __future__ import annotations

import json

SUNDAY = "2026-11-15"
RESULTS = "personalize-dev-results-123456789012-us-east-1"


def _json(harness, key: str):
    return json.loads(harness.s3.get_object(Bucket=RESULTS, Key=key)["Body"].read())


def test_country_with_a_trending_now_campaign_publishes_it_first_and_the_segments_next(harness):
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"

    manifest = _json(harness, f"KR/{SUNDAY}/cold_start/fallback.json")
    assert manifest["primary"]["kind"] == "campaign" and manifest["primary"]["recipe"] == "trending-now"
    campaigns = [c for c in harness.personalize.calls if c.operation == "create_campaign" and c.outcome == "ok"]
    trending = [c.kwargs["name"] for c in campaigns if "trending" in c.kwargs["name"]]
    assert manifest["primary"]["campaign_arn"].endswith(f":campaign/{trending[0]}")
    assert manifest["segments"]["segments_uri"] == f"s3://{RESULTS}/KR/{SUNDAY}/cold_start/segments.jsonl"
    body = harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/cold_start/segments.jsonl")["Body"].read()
    segments = [json.loads(line) for line in body.decode().splitlines()]
    assert {(s["locale"], s["ageGroup"], s["gender"]) for s in segments} >= {("ko_KR", "25-34", "f"), ("*", "*", "*")}
    # 6 users without a list, 3 distinct lists: not everyone gets the same one
    assert manifest["figure"] == {"users": 6, "distinct_lists": 3, "most_common_list_share": 0.5}
    report = _json(harness, f"KR/{SUNDAY}/report.json")
    (row,) = [r for r in report["recommenders"] if r["name"] == "cold-start-fallback"]
    assert row["cold_start"] == manifest["figure"] and "trending-now campaign first" in row["label"]
    page = harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/report.html")["Body"].read().decode()
    assert 'data-recommender="cold-start-fallback"' in page
    assert harness.ledger_run("KR", SUNDAY)["cold_start"] == manifest
    (notification,) = harness.notifications()
    assert (
        "Cold start: 6 users without a list get 3 distinct segment lists (largest group 50%)" in notification["message"]
    )
    assert manifest["primary"]["campaign_arn"] in notification["message"]


def test_country_without_trending_now_uses_the_segment_lists(harness):
    assert harness.run("JP", run_date=SUNDAY).status == "SUCCEEDED"

    manifest = _json(harness, f"JP/{SUNDAY}/cold_start/fallback.json")
    assert manifest["primary"] == manifest["segments"] and manifest["primary"]["kind"] == "segments"
    assert harness.ledger_run("JP", SUNDAY)["cold_start"]["primary"]["kind"] == "segments"
