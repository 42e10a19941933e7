"""The online outcome: the outcome SQL on DuckDB (hits within the window, per user and arm), the sample-ratio block
and the fixed horizon of evaluation.online's rule."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pytest

from common.experiments import Arm, Experiment, Exposure
from evaluation.decision import DECISION_METRIC
from evaluation.online import SRM_ALPHA, UserOutcome, Verdict, decide, sample_ratio, users_needed
from evaluation.online_local import create_tables, outcome_rows
from evaluation.online_sql import OnlineQueryParams, running_experiment
from evaluation.trend import TrendPoint, trend_from_documents

RUN_DATE = date(2026, 3, 11)
EXPERIMENT = Experiment(
    name="pz-vs-curation",
    arms={Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5},
    start=date(2026, 3, 1),
    end=date(2026, 4, 1),
    minimum_detectable_effect=0.1,
)
HOUR = 3600


def _epoch(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def _exposure(user: str, arm: Arm, items: list[str], at: int, rid: str, **overrides: str) -> tuple[str, str]:
    fields = {"country": "DE", "experiment": EXPERIMENT.name, **overrides}
    exposure = Exposure(
        arm=arm, user_id=user, recommendation_id=rid, items=tuple(items), source="batch", served_at=at * 1000,
        **fields,
    )  # fmt: skip
    day = datetime.fromtimestamp(at, tz=UTC).date().isoformat()
    return json.dumps({"level": "INFO", **exposure.line()}), day


def _event(table: str, user: str, item: str, at: int) -> tuple:
    return (user, item, at, None, "f.csv", None, datetime.fromtimestamp(at, tz=UTC).date().isoformat())


def _run(exposures: list[tuple[str, str]], views: list[tuple], purchases: list[tuple] = ()) -> dict:
    con = duckdb.connect()
    create_tables(con)
    con.executemany("INSERT INTO exposures VALUES (?, ?)", exposures)
    if views:
        con.executemany("INSERT INTO views_parsed VALUES (?, ?, ?, ?, ?, ?, ?)", views)
    if purchases:
        con.executemany("INSERT INTO purchases_parsed VALUES (?, ?, ?, ?, ?, ?, ?)", list(purchases))
    rows = outcome_rows(con, OnlineQueryParams(country="DE", run_date=RUN_DATE, experiment=EXPERIMENT))
    return {(r.arm, r.user_id): (r.exposures, r.hits) for r in rows}


def test_outcome_sql_counts_an_exposed_item_viewed_or_purchased_within_the_window_once_per_user_and_item():
    t = _epoch(date(2026, 3, 5), 10)
    exposures = [
        _exposure("u1", Arm.PERSONALIZE, ["a", "b", "c"], t, "r1"),
        _exposure("u1", Arm.PERSONALIZE, ["a", "b", "c"], t, "r1"),  # delivered twice: one exposure
        _exposure("u1", Arm.PERSONALIZE, ["a", "d"], t + HOUR, "r2"),
        _exposure("u2", Arm.CURATION, ["a", "b"], t, "r3"),
        _exposure("u3", Arm.CURATION, ["x"], t, "r4", experiment="other-experiment"),
        _exposure("u4", Arm.CURATION, ["x"], t, "r5", country="FR"),
        # Served 10 h before run_date: its 24 h window is not over, so it does not count yet.
        _exposure("u5", Arm.CURATION, ["a"], _epoch(RUN_DATE) - 10 * HOUR, "r6"),
    ]
    views = [
        _event("views", "u1", "a", t + 2 * HOUR),  # hit
        _event("views", "u1", "a", t + 3 * HOUR),  # same item again: still one hit
        _event("views", "u1", "b", t - HOUR),  # before the exposure: no hit
        _event("views", "u1", "c", t + 25 * HOUR),  # after the window: no hit
        _event("views", "u1", "z", t + HOUR),  # not exposed: no hit
        _event("views", "u2", "a", t + HOUR),  # exposed to u2 but viewed by u1? no: by u2, a hit
        _event("views", "u9", "b", t + HOUR),  # another user: no hit for u2
        _event("views", "u3", "x", t + HOUR),
        _event("views", "u4", "x", t + HOUR),
    ]
    purchases = [_event("purchases", "u1", "d", t + 2 * HOUR)]  # a purchase counts too
    assert _run(exposures, views, purchases) == {
        (Arm.PERSONALIZE, "u1"): (2, 2),
        (Arm.CURATION, "u2"): (1, 1),
    }


def test_outcome_sql_recovers_a_planted_effect_in_hits_per_exposed_user():
    rng = np.random.default_rng(5)
    t0 = _epoch(date(2026, 3, 2))
    exposures, views = [], []
    rate = {Arm.PERSONALIZE: 0.6, Arm.CURATION: 0.3}
    for n in range(2000):
        arm = Arm.PERSONALIZE if n % 2 else Arm.CURATION
        at = t0 + int(rng.integers(0, 5 * 24 * HOUR))
        items = [f"i{n}-{k}" for k in range(5)]
        exposures.append(_exposure(f"u{n}", arm, items, at, f"r{n}"))
        for item in items:
            if rng.random() < rate[arm] / 5:
                views.append(_event("views", f"u{n}", item, at + int(rng.integers(0, 24 * HOUR))))
    rows = _run(exposures, views)
    per_arm = {arm: np.mean([h for (a, _), (_, h) in rows.items() if a is arm]) for arm in rate}
    assert len(rows) == 2000
    assert per_arm[Arm.PERSONALIZE] == pytest.approx(0.6, abs=0.06)
    assert per_arm[Arm.CURATION] == pytest.approx(0.3, abs=0.05)
    users = [UserOutcome(arm=a, user_id=u, exposures=e, hits=h) for (a, u), (e, h) in rows.items()]
    # A doubling is far above a 50 % minimum detectable effect, whose horizon 1,000 users per arm pass.
    outcome = decide(EXPERIMENT.model_copy(update={"minimum_detectable_effect": 0.5}), users)
    assert outcome.verdict is Verdict.ADOPT and outcome.comparisons[0].arm is Arm.PERSONALIZE


def _users(arm: Arm, n: int, mean: float, rng: np.random.Generator, offset: int = 0) -> list[UserOutcome]:
    return [
        UserOutcome(arm=arm, user_id=f"{arm.value}-{offset + k}", exposures=1, hits=int(h))
        for k, h in enumerate(rng.poisson(mean, n))
    ]


def test_a_split_off_the_weights_blocks_any_verdict_even_with_a_clear_difference():
    rng = np.random.default_rng(1)
    rows = _users(Arm.PERSONALIZE, 5200, 0.6, rng) + _users(Arm.CURATION, 4800, 0.3, rng)
    outcome = decide(EXPERIMENT, rows)
    assert not outcome.sample_ratio.passed and outcome.sample_ratio.p_value < SRM_ALPHA
    assert outcome.verdict is Verdict.BLOCKED
    assert [c.verdict for c in outcome.comparisons] == [Verdict.BLOCKED]
    assert outcome.text.startswith("Blocked by sample ratio")


def test_the_sample_ratio_check_passes_a_split_on_the_weights():
    check = sample_ratio({Arm.PERSONALIZE: 5030, Arm.CURATION: 4970}, EXPERIMENT.arms)
    assert check.passed and check.p_value == pytest.approx(0.5485, abs=1e-3)  # chi2 = 0.36, df 1


def test_users_needed_is_the_two_sample_size_formula_on_the_controls_variance():
    # (1.959964 + 0.841621)^2 * (0.3 + 0.3 * 1.1^2) / (0.1 * 0.3)^2 = 5782.01
    assert users_needed(0.3, 0.3, 0.1, 0.05, 0.8) == 5783
    assert users_needed(0.0, 0.0, 0.1, 0.05, 0.8) is None


def test_no_verdict_before_the_horizon_however_large_the_difference():
    rng = np.random.default_rng(2)
    early = _users(Arm.PERSONALIZE, 1000, 0.6, rng) + _users(Arm.CURATION, 1000, 0.3, rng)
    outcome = decide(EXPERIMENT, early)
    assert outcome.users_needed_per_arm is not None and outcome.users_needed_per_arm > 1000
    assert outcome.verdict is Verdict.WAITING
    assert outcome.comparisons[0].interval is None
    needed = outcome.users_needed_per_arm
    late = _users(Arm.PERSONALIZE, needed, 0.6, rng) + _users(Arm.CURATION, needed, 0.3, rng, offset=1000)
    assert decide(EXPERIMENT, early + late).verdict is Verdict.ADOPT


def test_keep_when_the_candidate_is_worse_at_the_horizon():
    rng = np.random.default_rng(3)
    rows = _users(Arm.PERSONALIZE, 8000, 0.25, rng) + _users(Arm.CURATION, 8000, 0.3, rng)
    outcome = decide(EXPERIMENT, rows)
    assert outcome.verdict is Verdict.KEEP
    assert outcome.comparisons[0].interval is not None and outcome.comparisons[0].interval.high < 0


def test_the_reported_experiment_is_the_one_running_on_the_newest_day_of_data():
    assert running_experiment([EXPERIMENT], EXPERIMENT.start) is None
    assert running_experiment([EXPERIMENT], EXPERIMENT.end) is EXPERIMENT  # the final report
    assert running_experiment([EXPERIMENT], date(2026, 4, 2)) is None
    assert math.isclose(sum(EXPERIMENT.arms.values()), 1)


def test_the_trend_carries_each_earlier_runs_online_hits_per_exposed_user():
    rng = np.random.default_rng(4)
    outcome = decide(EXPERIMENT, _users(Arm.PERSONALIZE, 50, 0.4, rng) + _users(Arm.CURATION, 50, 0.3, rng))
    earlier = {
        "country": "DE",
        "run_date": "2026-03-10",
        "decision": {"values": {"curation": 0.1}},
        "online": outcome.model_dump(mode="json"),
    }
    before = {"country": "DE", "run_date": "2026-03-09", "decision": {"values": {"curation": 0.1}}}
    current = TrendPoint(run_date="2026-03-11", metric=DECISION_METRIC, values={"curation": 0.2})
    points = trend_from_documents([json.dumps(before), json.dumps(earlier)], "DE", current)
    assert [p.online for p in points] == [
        {},
        {"personalize": outcome.arms[0].hits_per_user, "curation": outcome.arms[1].hits_per_user},
        {},
    ]
