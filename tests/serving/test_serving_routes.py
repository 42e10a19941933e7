"""The other routes, the 400s and 404s, and the AWS calls the handler makes."""

from __future__ import annotations

import pytest

from serving.read_model import Source, country_key
from tests.serving.conftest import COUNTRY_ITEMS, SERVING, SIMILAR_ITEMS, TRENDING_ITEMS

USER = "/v1/countries/KR/users/{}/recommendations"


@pytest.mark.parametrize(
    ("path", "query", "names"),
    [
        (USER.format("u"), {"count": "0"}, "count"),
        (USER.format("u"), {"count": "101"}, "count"),
        (USER.format("u"), {"count": "ten"}, "count"),
        ("/v1/countries/kr/users/u/recommendations", {}, "country"),
        (USER.format("u"), {"filter": "nope"}, "filter 'nope' is not published for KR"),
        ("/v1/countries/KR/items/i1/similar", {"count": "500"}, "count"),
        (USER.format("u"), {"ageGroup": "18#24"}, "ageGroup"),  # '#' would name another read model key
    ],
)
def test_bad_parameters_get_400_with_one_line(api, path, query, names):
    status, body = api.get(path, query)

    assert status == 400, body
    assert names in body["message"] and "\n" not in body["message"]


def test_an_unknown_country_is_404(api):
    status, body = api.get("/v1/countries/JP/users/u/recommendations")

    assert (status, body["message"]) == (404, "no published run for country JP")


def test_similar_items_serve_the_items_batch_list_and_404_an_unknown_item(api):
    status, body = api.get("/v1/countries/KR/items/i1/similar")
    assert status == 200, body
    assert ([i["itemId"] for i in body["items"]], body["source"]) == (SIMILAR_ITEMS, Source.BATCH)
    assert body["items"][0]["title"] == "Title i2"

    status, body = api.get("/v1/countries/KR/items/i999/similar")
    assert status == 404 and "i999" in body["message"]


def test_trending_serves_the_trending_campaign_then_the_countrys_list(api):
    status, body = api.get("/v1/countries/KR/trending", {"count": "2"})
    assert (status, body["source"], [i["itemId"] for i in body["items"]]) == (200, Source.CAMPAIGN, TRENDING_ITEMS[:2])
    assert "userId" not in api.runtime.calls[-1].params

    api.runtime.fail_with("InvalidInputException")
    status, body = api.get("/v1/countries/KR/trending")
    assert (status, body["source"], [i["itemId"] for i in body["items"]]) == (200, Source.COUNTRY, COUNTRY_ITEMS)


def test_the_report_route_returns_the_latest_comparison_page(api):
    status, body = api.get("/v1/countries/KR/report")

    assert (status, body) == (200, "<html><body>comparison</body></html>")


def test_a_country_without_a_published_page_gets_404(api):
    api.writer.pointer("JP")
    try:
        status, body = api.get("/v1/countries/JP/report")
    finally:
        api.writer.table.delete_item(Key=country_key("JP"))

    assert (status, body["message"]) == (404, "no comparison page published for JP")


def test_every_aws_call_of_the_handler_is_recorded_for_the_call_oracle(api):
    api.get(USER.format("u-batch"), {"filter": "unwatched"})
    api.get("/v1/countries/KR/report")

    made = {(c.service, c.operation) for c in api.recorder.calls if c.caller == SERVING}
    assert made == {
        ("dynamodb", "GetItem"),
        ("dynamodb", "Query"),
        ("dynamodb", "BatchGetItem"),
        ("personalize-runtime", "GetRecommendations"),
        ("s3", "GetObject"),
    }


def test_a_page_the_pointer_names_but_s3_lacks_is_404_and_an_s3_failure_503(api, monkeypatch):
    api.writer.pointer("JP", report_key="JP/2026-11-16/report.html")
    try:
        status, body = api.get("/v1/countries/JP/report")
    finally:
        api.writer.table.delete_item(Key=country_key("JP"))
    assert (status, body["message"]) == (404, "no comparison page at JP/2026-11-16/report.html")

    s3 = api.api.clients.s3

    def failing(**kwargs):
        raise s3.exceptions.ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "x")

    monkeypatch.setattr(s3, "get_object", failing)
    status, body = api.get("/v1/countries/KR/report")
    assert (status, body["message"]) == (503, "the comparison page could not be read: SlowDown")
