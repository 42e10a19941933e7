"""The recommendations route during an experiment: each arm's fallback chain executed on moto DynamoDB and the
Personalize runtime fake, the response naming the experiment and arm, and one exposure per served response."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest

from common.experiments import Arm, Experiment, Exposure, assign
from serving import exposures
from serving import read_model as rm
from serving.settings import ServingSettings
from tests.serving.conftest import CAMPAIGN_ITEMS, COUNTRY_ITEMS, PROFILE_SEGMENT, SEGMENT_ITEMS

USER = "/v1/countries/KR/users/{}/recommendations"
CURATION_ITEMS = ["i8", "i9", "i10"]
CURATED_ON = date(2026, 11, 14)  # before the pointer's run (2026-11-16)
LOADING = date(2026, 11, 17)  # a run still loading: never served


def today() -> date:
    return datetime.now(UTC).date()


def experiment_placing(user: str, arm: Arm, *, start: date | None = None) -> Experiment:
    """A running KR experiment whose name (the salt) puts `user` in `arm`: the arms split the users evenly."""
    start = start or today() - timedelta(days=1)
    for n in count():
        candidate = Experiment(
            name=f"kr-test-{n}", arms={a: 1 / 3 for a in Arm}, start=start, end=start + timedelta(days=28)
        )
        if assign(candidate, user) is arm:
            return candidate
    raise AssertionError("unreachable")


@pytest.fixture
def logged(api, monkeypatch) -> list[Exposure]:
    lines: list[Exposure] = []
    monkeypatch.setattr(exposures, "log_exposure", lines.append)
    for run_date, items in ((CURATED_ON, CURATION_ITEMS), (LOADING, ["i40"])):
        api.writer.table.put_item(
            Item={rm.PK: rm.user_pk("KR", "u-batch"), rm.SK: rm.curation_sk(run_date), "items": items}
        )
    return lines


def run(api, monkeypatch, *experiments: Experiment) -> None:
    monkeypatch.setenv("EXPERIMENTS", ServingSettings.render_experiments({"KR": experiments}) or "{}")
    api.api.use()  # the handler reads its settings again


def ids(body) -> list[str]:
    return [item["itemId"] for item in body["items"]]


def test_outside_an_experiment_the_response_names_none_and_no_exposure_is_logged(api, logged, monkeypatch):
    upcoming = experiment_placing("u-batch", Arm.POPULARITY, start=today() + timedelta(days=1))
    for experiments in ((), (upcoming,)):
        run(api, monkeypatch, *experiments)
        status, body = api.get(USER.format("u-batch"))
        assert status == 200, body
        assert body["source"] == rm.Source.CAMPAIGN
        assert body["experiment"] is None and body["arm"] is None
    assert logged == []


def test_the_personalize_arm_serves_the_campaign_and_logs_what_was_served(api, logged, monkeypatch):
    experiment = experiment_placing("u-batch", Arm.PERSONALIZE)
    run(api, monkeypatch, experiment)
    before_ms = time.time() * 1000

    status, body = api.get(USER.format("u-batch"), {"count": "5"})

    assert status == 200, body
    assert (body["experiment"], body["arm"], body["source"]) == (experiment.name, "personalize", "campaign")
    assert ids(body) == CAMPAIGN_ITEMS[:5]
    (exposure,) = logged
    assert exposure.model_dump(exclude={"served_at"}) == {
        "country": "KR",
        "experiment": experiment.name,
        "arm": Arm.PERSONALIZE,
        "user_id": "u-batch",
        "recommendation_id": body["recommendationId"],
        "items": tuple(CAMPAIGN_ITEMS[:5]),
        "source": "campaign",
    }
    assert before_ms - 1 <= exposure.served_at <= time.time() * 1000 + 1


def test_the_personalize_arm_keeps_the_whole_fallback_chain(api, logged, monkeypatch):
    run(api, monkeypatch, experiment_placing("u-profile", Arm.PERSONALIZE))
    api.runtime.fail_with("InvalidInputException")

    status, body = api.get(USER.format("u-profile"))

    assert status == 200, body
    assert (body["arm"], body["source"], ids(body)) == ("personalize", "segment", SEGMENT_ITEMS[PROFILE_SEGMENT])
    assert [e.source for e in logged] == ["segment"]


def test_the_curation_arm_serves_the_user_s_newest_curation_list_the_pointer_may_serve(api, logged, monkeypatch):
    run(api, monkeypatch, experiment_placing("u-batch", Arm.CURATION))

    for _ in range(2):  # the same arm at every request
        status, body = api.get(USER.format("u-batch"))
        assert status == 200, body
        assert (body["arm"], body["source"], ids(body)) == ("curation", "curation", CURATION_ITEMS)
        assert body["runDate"] == CURATED_ON.isoformat()
    assert api.runtime.calls == []  # the campaign is Personalize's arm only
    assert [e.arm for e in logged] == [Arm.CURATION, Arm.CURATION]
    assert logged[0].recommendation_id == logged[1].recommendation_id


def test_the_curation_arm_falls_back_to_the_segment_then_the_country(api, logged, monkeypatch):
    run(api, monkeypatch, experiment_placing("u-profile", Arm.CURATION))
    status, body = api.get(USER.format("u-profile"))
    assert status == 200, body
    assert (body["arm"], body["source"], ids(body)) == ("curation", "segment", SEGMENT_ITEMS[PROFILE_SEGMENT])

    run(api, monkeypatch, experiment_placing("u-unknown", Arm.CURATION))
    status, body = api.get(USER.format("u-unknown"))
    assert status == 200, body
    assert (body["arm"], body["source"], ids(body)) == ("curation", "country", COUNTRY_ITEMS)
    assert api.runtime.calls == []
    assert [e.source for e in logged] == ["segment", "country"]


def test_the_popularity_arm_serves_the_country_list_even_to_a_user_with_their_own_lists(api, logged, monkeypatch):
    run(api, monkeypatch, experiment_placing("u-batch", Arm.POPULARITY))

    status, body = api.get(USER.format("u-batch"), {"count": "2"})

    assert status == 200, body
    assert (body["arm"], body["source"], ids(body)) == ("popularity", "country", COUNTRY_ITEMS[:2])
    assert api.runtime.calls == []
    assert [(e.arm, e.items) for e in logged] == [(Arm.POPULARITY, tuple(COUNTRY_ITEMS[:2]))]


def test_the_popularity_arm_without_a_country_list_is_refused_with_the_reason_and_logs_nothing(
    api, logged, monkeypatch
):
    run(api, monkeypatch, experiment_placing("u-batch", Arm.POPULARITY))
    key = {rm.PK: rm.country_list_pk("KR"), rm.SK: rm.list_sk(date(2026, 11, 16))}
    kept = api.writer.table.get_item(Key=key)["Item"]
    api.writer.table.delete_item(Key=key)
    try:
        status, body = api.get(USER.format("u-batch"))
    finally:
        api.writer.table.put_item(Item=kept)

    assert status == 503, body
    assert "country: no list" in body["message"]
    assert logged == []
