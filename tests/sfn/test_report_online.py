"""The report step's online outcome on the executed pipeline: with an experiment running, the Report step's online
UNLOAD runs (FakeAthena, on DuckDB) over the exposure log as Firehose delivered it and the columnar days' views and
purchases, and report.json's `online` section counts the arms, the users exposed and the hits planted; without an
experiment no online query starts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from common.experiments import Arm, Experiment, Exposure, assign
from evaluation.online_sql import OUTPUT as ONLINE_OUTPUT
from stacks.constructs.exposure_log import DELIVERY_PREFIX, FILTER_PATTERN, PROCESSORS
from testkit import exposure_delivery as delivery

SUNDAY = "2026-11-15"
RESULTS = "personalize-dev-results-123456789012-us-east-1"
EXPERIMENT = Experiment(
    name="kr-online-in-pipeline",
    arms={Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5},
    start=date(2026, 11, 1),
    end=date(2026, 12, 1),
    hit_window_hours=24,
)
SERVED = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
USERS = [f"u{n}" for n in range(10)]
HOUR_MS = 3_600_000


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _exposure(user: str, n: int, served_at: datetime, *, experiment: str = EXPERIMENT.name) -> Exposure:
    return Exposure(
        country="KR",
        experiment=experiment,
        arm=assign(EXPERIMENT, user),
        user_id=user,
        recommendation_id=f"rec-{user}-{n}",
        items=(f"i{n}", f"i{n + 1}", f"i{n + 2}"),
        source="user",
        served_at=_ms(served_at),
    )


def _deliver(harness, exposures: list[Exposure], arrival: datetime) -> None:
    """The exposure lines through the log subscription and Firehose (testkit.exposure_delivery), as served."""
    lines = [json.dumps(e.line()) for e in exposures]
    records = delivery.subscription_records(FILTER_PATTERN, lines, log_group="/aws/lambda/serving", filter_name="f")
    delivery.deliver(
        harness.s3,
        RESULTS,
        records,
        processors=[(kind, params) for kind, params in PROCESSORS],
        prefix=DELIVERY_PREFIX,
        arrival=arrival,
    )


def _view(user: str, item: str, at_ms: int) -> dict:
    return {"user_id": user, "item_id": item, "ts": at_ms // 1000, "event_value": 1}


def test_the_report_gives_the_running_experiment_s_online_outcome_from_the_exposure_log(harness):
    harness.settings_changes["experiments"] = [EXPERIMENT.model_dump(mode="json")]
    counted = [_exposure(u, 0, SERVED + timedelta(minutes=n)) for n, u in enumerate(USERS)]
    second = _exposure(USERS[0], 5, SERVED + timedelta(hours=1))  # u0 is exposed twice
    # Not counted: another experiment's line, and an exposure whose hit window has not closed by the run date.
    other = _exposure(USERS[1], 0, SERVED, experiment="kr-another")
    late = _exposure(USERS[2], 7, datetime(2026, 11, 14, 12, 0, tzinfo=UTC))
    _deliver(harness, [*counted, second, other], SERVED + timedelta(minutes=5))
    _deliver(harness, [counted[0]], SERVED + timedelta(minutes=30))  # delivered twice: changes nothing
    _deliver(harness, [late], datetime(2026, 11, 14, 12, 5, tzinfo=UTC))

    hits = {USERS[0]: 3, USERS[3]: 1, USERS[6]: 1}
    harness.athena.parsed_events["views_parsed"] = [
        # u0: two items of its first exposure and one of its second, within 24 h; the same item again adds nothing
        _view(USERS[0], "i0", counted[0].served_at + HOUR_MS),
        _view(USERS[0], "i0", counted[0].served_at + 2 * HOUR_MS),
        _view(USERS[0], "i2", counted[0].served_at + 23 * HOUR_MS),
        _view(USERS[0], "i6", second.served_at + HOUR_MS),
        _view(USERS[3], "i1", counted[3].served_at + 5 * HOUR_MS),
        # not hits: after the window, an item not exposed to the user, before the exposure, the late exposure's item
        _view(USERS[4], "i0", counted[4].served_at + 25 * HOUR_MS),
        _view(USERS[5], "i9", counted[5].served_at + HOUR_MS),
        _view(USERS[7], "i0", counted[7].served_at - HOUR_MS),
        _view(USERS[2], "i7", late.served_at + HOUR_MS),
    ]
    harness.athena.parsed_events["purchases_parsed"] = [_view(USERS[6], "i2", counted[6].served_at + 3 * HOUR_MS)]

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    report = json.loads(harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/report.json")["Body"].read())
    online = report["online"]
    assert online["experiment"] == EXPERIMENT.name
    arms = {row["arm"]: row for row in online["arms"]}
    assert set(arms) == {Arm.PERSONALIZE, Arm.CURATION}
    for arm in arms:
        users = [u for u in USERS if assign(EXPERIMENT, u) == arm]
        assert arms[arm]["users"] == len(users)
        assert arms[arm]["exposures"] == len(users) + (USERS[0] in users)
        assert arms[arm]["hits"] == sum(hits.get(u, 0) for u in users)
    assert sum(row["users"] for row in online["arms"]) == len(USERS)
    assert sum(row["hits"] for row in online["arms"]) == sum(hits.values())
    assert report["trend"][-1]["online"] is not None  # this run's trend point carries it


def test_a_run_without_a_running_experiment_starts_no_online_query(harness):
    ended = EXPERIMENT.model_copy(update={"start": date(2026, 10, 1), "end": date(2026, 11, 14)})
    harness.settings_changes["experiments"] = [ended.model_dump(mode="json")]
    _deliver(harness, [_exposure(USERS[0], 0, SERVED)], SERVED)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
    assert started and not [sql for sql in started if f"/{ONLINE_OUTPUT}/'" in sql]
    report = json.loads(harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/report.json")["Body"].read())
    assert report["online"] is None
