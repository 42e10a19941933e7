"""Every path of the fallback chain, executed on moto DynamoDB and the Personalize runtime fake."""

from __future__ import annotations

import time

import pytest

from serving.read_model import Source, country_list_pk, list_sk
from testkit.fakes.personalize_runtime import Latency
from testkit.serving_harness import RUN_DATE
from tests.serving.conftest import (
    BATCH_ITEMS,
    CAMPAIGN_ARN,
    CAMPAIGN_ITEMS,
    COUNTRY_ITEMS,
    FILTER_ARN,
    HINTS_SEGMENT,
    PARTIAL_HINTS_SEGMENT,
    PROFILE_SEGMENT,
    SEGMENT_ITEMS,
)

USER = "/v1/countries/KR/users/{}/recommendations"


def ids(body) -> list[str]:
    return [item["itemId"] for item in body["items"]]


def test_a_promoted_campaign_serves_the_user_with_its_recommendation_id(api):
    status, body = api.get(USER.format("u-batch"), {"count": "5"})

    assert status == 200, body
    assert body["source"] == Source.CAMPAIGN
    assert ids(body) == CAMPAIGN_ITEMS[:5]
    assert body["recommendationId"].startswith("RID-fake-")
    assert body["runDate"] == "2026-11-16"
    (call,) = api.runtime.calls
    assert call.params == {"campaignArn": CAMPAIGN_ARN, "userId": "u-batch", "numResults": 5}


def test_the_filter_is_sent_as_its_published_arn_and_shapes_the_campaign_list(api):
    status, body = api.get(USER.format("u-batch"), {"filter": "unwatched", "count": "3"})

    assert status == 200, body
    assert api.runtime.calls[-1].params["filterArn"] == FILTER_ARN
    assert ids(body) == ["i3", "i4", "i5"]
    assert body["filterApplied"] is True


def test_a_slow_campaign_is_abandoned_within_the_budget_for_the_users_batch_list(api):
    api.runtime.latency = Latency(base_s=2.0)
    started = time.perf_counter()

    status, body = api.get(USER.format("u-batch"))

    # the fixture's LATENCY_BUDGET_MS (100 ms) plus scheduling slack on a busy machine; the campaign takes 2 s
    assert time.perf_counter() - started < 0.15
    assert status == 200, body
    assert body["source"] == Source.BATCH
    assert ids(body) == BATCH_ITEMS


def test_a_failing_campaign_degrades_to_the_users_batch_list_from_the_newest_served_run(api):
    api.runtime.fail_with("ResourceNotFoundException")

    status, body = api.get(USER.format("u-batch"))

    assert status == 200, body
    assert body["source"] == Source.BATCH
    # the 2026-11-17 list belongs to a run the pointer has not moved to yet
    assert (ids(body), body["runDate"]) == (BATCH_ITEMS, "2026-11-15")
    assert body["recommendationId"].startswith("batch-") and len(body["recommendationId"]) <= 40


def test_a_user_without_a_batch_list_gets_the_list_of_the_segment_of_their_profile(api):
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("u-profile"), {"locale": "en", "ageGroup": "18-24", "gender": "M"})

    assert status == 200, body
    assert body["source"] == Source.SEGMENT
    assert ids(body) == SEGMENT_ITEMS[PROFILE_SEGMENT]  # the read model's profile wins over the hints


def test_a_user_the_read_model_does_not_know_gets_the_segment_of_their_hints(api):
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("new-user"), {"locale": "en", "ageGroup": "18-24", "gender": "M"})
    assert (status, body["source"], ids(body)) == (200, Source.SEGMENT, SEGMENT_ITEMS[HINTS_SEGMENT])

    status, body = api.get(USER.format("new-user"), {"locale": "en"})  # unknown parts are the Users' "none"
    assert (status, body["source"], ids(body)) == (200, Source.SEGMENT, SEGMENT_ITEMS[PARTIAL_HINTS_SEGMENT])


def test_a_user_without_profile_or_hints_gets_the_countrys_list(api):
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("new-user"))

    assert status == 200, body
    assert body["source"] == Source.COUNTRY
    assert ids(body) == COUNTRY_ITEMS


def test_hints_of_a_segment_without_a_list_fall_back_to_the_countrys_list(api):
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("new-user"), {"locale": "fr", "ageGroup": "65+", "gender": "F"})

    assert (status, body["source"]) == (200, Source.COUNTRY)


def test_503_names_every_sources_reason_when_nothing_can_serve(api):
    api.runtime.fail_with("InvalidInputException")
    key = {"pk": country_list_pk("KR"), "sk": list_sk(RUN_DATE)}
    kept = api.writer.table.get_item(Key=key)["Item"]
    api.writer.table.delete_item(Key=key)
    try:
        status, body = api.get(USER.format("new-user"))
    finally:
        api.writer.table.put_item(Item=kept)

    assert status == 503
    message = body["message"]
    assert "\n" not in message
    for reason in ("campaign: InvalidInputException", "batch: no list", "segment: no profile", "country: no list"):
        assert reason in message


def test_a_failing_read_model_degrades_to_the_campaign(api, monkeypatch):
    real_query = api.api.clients.dynamodb.query

    def throttled(**kwargs):
        if kwargs["ExpressionAttributeValues"][":pk"]["S"].startswith("USER#"):
            raise api.api.clients.dynamodb.exceptions.ProvisionedThroughputExceededException(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Query"
            )
        return real_query(**kwargs)

    monkeypatch.setattr(api.api.clients.dynamodb, "query", throttled)
    status, body = api.get(USER.format("u-batch"))
    assert (status, body["source"]) == (200, Source.CAMPAIGN)

    api.runtime.fail_with("InvalidInputException")
    status, body = api.get(USER.format("u-batch"))
    assert (status, body["source"]) == (200, Source.COUNTRY)


def test_items_carry_their_metadata_in_list_order(api):
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("u-batch"))

    assert status == 200
    assert body["items"][0] == {"itemId": "i11", "title": "Title i11", "genres": ["Action"], "created": 1_700_000_010}
    assert [item["title"] for item in body["items"]] == [f"Title {i}" for i in BATCH_ITEMS]


def test_a_made_recommendation_id_is_the_same_for_the_same_list(api):
    api.runtime.fail_with("InvalidInputException")

    first = api.get(USER.format("u-batch"))[1]["recommendationId"]
    again = api.get(USER.format("u-batch"))[1]["recommendationId"]
    other = api.get(USER.format("u-batch"), {"count": "2"})[1]["recommendationId"]

    assert first == again != other


@pytest.mark.parametrize("count", ["1", "100"])
def test_count_bounds_are_accepted(api, count):
    status, body = api.get(USER.format("u-batch"), {"count": count})

    assert status == 200, body
    assert len(body["items"]) == min(int(count), len(CAMPAIGN_ITEMS))
