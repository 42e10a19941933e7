"""The verdict's bootstrap, the new-to-user evaluation, the open baseline and the trend."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fixtures import RUN_DATE

from evaluation import decision, trend
from evaluation.data import time_split, window_end
from evaluation.open_baseline import NAME, from_dataset, train_and_recommend
from evaluation.rounding import interval_text


def test_bootstrap_is_seeded_and_brackets_the_ratio():
    rng = np.random.default_rng(1)
    baseline = rng.poisson(1.0, 400).astype(float)
    candidate = rng.poisson(2.0, 400).astype(float)
    first = decision.bootstrap_ratio(candidate, baseline)
    assert first == decision.bootstrap_ratio(candidate, baseline)  # deterministic
    assert first.ratio == pytest.approx(candidate.sum() / baseline.sum(), abs=1e-4)
    assert first.low < first.ratio < first.high
    assert 1.6 < first.low and first.high < 2.5  # a true ratio of 2 on 400 users
    # Fewer users: a wider interval.
    small = decision.bootstrap_ratio(candidate[:40], baseline[:40])
    assert small.high - small.low > first.high - first.low


def test_verdict_words_follow_the_interval():
    users = [f"u{n}" for n in range(200)]
    truth = {u: {"a"} for u in users}
    curation = {u: ["a"] if n % 4 == 0 else ["b"] for n, u in enumerate(users)}  # finds 1 in 4
    better = {u: ["a"] for u in users}
    same = dict(curation)
    worse = {u: ["a"] if n % 20 == 0 else ["b"] for n, u in enumerate(users)}
    lines = decision.verdict(
        "all",
        [("curation", "Cur", curation), ("x", "Better", better), ("y", "Same", same), ("z", "Worse", worse)],
        truth,
        users,
        curation,
    )
    by = {v.name: v for v in lines}
    assert set(by) == {"x", "y", "z"}  # no line for the curation itself
    assert by["x"].outcome == "better" and by["x"].text.startswith("Better finds 4.0x more of what users watch")
    assert "95 % CI" in by["x"].text and by["x"].hits_per_100_users == 100.0
    assert by["x"].baseline_hits_per_100_users == 25.0
    assert by["y"].outcome == "no clear difference" and by["y"].interval.ratio == 1.0
    assert by["z"].outcome == "worse" and "80% less" in by["z"].text
    # Personalize is also judged against the open baseline when both ran.
    lines = decision.verdicts(
        "all", [("curation", "Cur", curation), ("personalize", "P", same), ("open_baseline", "O", better)], truth, users
    )
    assert [(v.name, v.against, v.outcome) for v in lines] == [
        ("personalize", "curation", "no clear difference"),
        ("open_baseline", "curation", "better"),
        ("personalize", "open_baseline", "worse"),
    ]
    assert lines[-1].text.startswith("P finds 75% less of what users watch next than the open baseline")
    # A curation that finds nothing: no ratio, still a plain sentence.
    none = {u: ["b"] for u in users}
    (line,) = decision.verdict("all", [("x", "Better", better)], truth, users, none)
    assert line.interval.ratio is None and "finds none" in line.text


def test_new_to_user_drops_rewatches_and_users_left_with_nothing():
    truth = {"u1": {"a", "b"}, "u2": {"a"}, "u3": {"c"}}
    seen = {"u1": {"a"}, "u2": {"a"}}
    new = decision.new_truth(truth, seen)
    assert new == {"u1": {"b"}, "u2": set(), "u3": {"c"}}
    lists = {"u1": ["b", "a"], "u2": ["a"], "u3": ["a", "c"]}
    section, lines = decision.new_to_user(
        [("curation", "Cur", lists), ("popularity", "Pop", {u: ["a"] for u in truth})],
        new,
        ["u1", "u2", "u3"],
        {"a", "b", "c"},
    )
    assert section.users_evaluated == 2 and section.truth_pairs == 2  # u2 only re-watched
    cur = section.recommenders[0].metrics
    assert cur["mean_reciprocal_rank_at_25"] == pytest.approx((1 + 1 / 2) / 2)
    assert section.recommenders[1].metrics["precision_at_5"] == 0.0
    assert [(v.evaluation, v.name, v.outcome) for v in lines] == [("new_to_user", "popularity", "worse")]


def test_open_baseline_gives_every_user_a_full_unseen_list(small_dataset):
    baseline = from_dataset(small_dataset, RUN_DATE, 25, 7, 7)
    assert set(baseline.lists) == set(small_dataset.user_ids)
    assert all(len(items) == 25 and len(set(items)) == 25 for items in baseline.lists.values())
    split = time_split(small_dataset, window_end(RUN_DATE), 7)
    u, i = small_dataset.users[split.train], small_dataset.items[split.train]
    history = np.bincount(u, minlength=small_dataset.n_users)
    cold = [small_dataset.user_ids[x] for x in np.flatnonzero(history == 0)]
    warm = [x for x in np.flatnonzero(history > 0)][:50]
    assert cold and len({tuple(baseline.lists[c]) for c in cold}) == 1  # the popularity list
    for x in warm:
        seen = {small_dataset.item_ids[j] for j in i[u == x]}
        assert not seen & set(baseline.lists[small_dataset.user_ids[x]])
    assert len({tuple(baseline.lists[small_dataset.user_ids[x]]) for x in warm}) > 40  # personalised
    assert baseline.info.training_seconds >= 0 and baseline.info.library == "implicit 0.7.3"
    assert from_dataset(small_dataset, RUN_DATE, 25, 7, 7).lists == baseline.lists  # deterministic
    assert NAME == "open_baseline"


def test_open_baseline_fills_short_lists_with_popularity():
    # Two users who share one item: BM25 finds at most one unseen neighbour, popularity fills the rest.
    users, items = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2])
    got = train_and_recommend(users, items, ["u0", "u1", "cold"], ["a", "b", "c", "d"], [3, 1, 0, 2], 3)
    assert got.lists["u0"][0] == "c" and got.lists["u0"][1:] == ["d"]  # only 2 unseen items exist
    assert got.lists["cold"] == ["d", "b", "a"]


def test_trend_reads_earlier_reports_of_the_country_only(tmp_path):
    for n, (country, run_date, value) in enumerate(
        [("FR", "2026-10-01", 0.1), ("FR", "2026-10-08", 0.2), ("DE", "2026-10-08", 0.9)]
    ):
        folder = tmp_path / f"r{n}"
        folder.mkdir()
        data = {
            "country": country,
            "run_date": run_date,
            "decision": {"values": {"curation": value}},
        }
        (folder / "report.json").write_text(json.dumps(data))
    (tmp_path / "broken.json").write_text("{not json")
    current = trend.TrendPoint(run_date="2026-10-15", metric=decision.DECISION_METRIC, values={"curation": 0.3})
    # A report from before the decision existed: its metrics are not the decision's, so it is no trend point.
    old = {"country": "FR", "run_date": "2026-10-05", "recommenders": [{"name": "curation", "metrics": {"x": 1.0}}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    paths = [*tmp_path.glob("*/report.json"), tmp_path / "broken.json", tmp_path / "old.json"]
    points = trend.trend_from_reports(paths, "FR", current)
    assert [(p.run_date, p.values["curation"]) for p in points] == [
        ("2026-10-01", 0.1),
        ("2026-10-08", 0.2),
        ("2026-10-15", 0.3),
    ]
    # Only the last TREND_RUNS (30) runs.
    many = tmp_path / "many"
    for day in range(35):
        folder = many / f"d{day}"
        folder.mkdir(parents=True)
        data = {
            "country": "FR",
            "run_date": f"2026-09-{day + 1:02d}" if day < 30 else f"2026-10-{day - 29:02d}",
            "decision": {"values": {"curation": day / 100}},
        }
        (folder / "report.json").write_text(json.dumps(data))
    last = trend.trend_from_reports(many.glob("*/report.json"), "FR")
    assert len(last) == 30 and last[0].run_date == "2026-09-06" and last[-1].run_date == "2026-10-05"


def test_every_metric_has_plain_words():
    words = decision.explanations()
    for k in (5, 10, 25):
        assert f"precision_at_{k}" in words and f"normalized_discounted_cumulative_gain_at_{k}" in words
    assert "scroll" in words["mean_reciprocal_rank_at_25"] and "catalogue" in words["coverage"]


# --- the decision: one metric, one population, a fixed rule ---------------------------------------------


def _planted(rng, users: list[str], rate: float, truth: dict[str, set[str]]) -> dict[str, list[str]]:
    """Lists that hold the user's one new title (at a random rank of the top 25) with probability `rate`."""
    lists = {}
    for u in users:
        filler = [f"{u}-other{n}" for n in range(25)]
        if rng.random() < rate:
            filler[int(rng.integers(0, 25))] = next(iter(truth[u]))
        lists[u] = filler
    return lists


def _country(seed: int, warm: int, cold: int, curation_rate: float, candidate_rate: float, cold_rate: float = 0.0):
    """A generated country: every evaluated user watches one title new to them. Warm users are found at the planted
    rates; cold users are found by the candidate at `cold_rate` and never by the curation (its popularity list)."""
    rng = np.random.default_rng(seed)
    warm_users = [f"w{n}" for n in range(warm)]
    cold_users = [f"c{n}" for n in range(cold)]
    truth = {u: {f"{u}-next"} for u in warm_users + cold_users}
    curation = _planted(rng, warm_users, curation_rate, truth) | _planted(rng, cold_users, 0.0, truth)
    candidate = _planted(rng, warm_users, candidate_rate, truth) | _planted(rng, cold_users, cold_rate, truth)
    popularity = _planted(rng, warm_users + cold_users, 0.0, truth)
    named = [
        ("curation", "Current curation", curation),
        ("personalize", "Personalize", candidate),
        ("popularity", "Popularity", popularity),
    ]
    evaluated = sorted(truth)
    return decision.decide(named, truth, truth, evaluated, set(warm_users))


def test_a_recommender_truly_better_for_warm_users_is_adopted():
    got = _country(seed=3, warm=600, cold=300, curation_rate=0.2, candidate_rate=0.4)
    assert got.outcome == decision.Outcome.ADOPT
    assert got.candidate == "personalize" and got.against == "curation"
    assert got.interval.low > 1 and got.users == 600  # warm users only
    assert got.baseline_hits >= decision.MIN_HITS and got.candidate_hits >= decision.MIN_HITS
    assert got.sample.evaluated_users == 900 and got.sample.warm_users == 600 and got.sample.cold_users == 300
    assert got.sample.warm_share == pytest.approx(2 / 3) and got.sample.cold_share == pytest.approx(1 / 3)
    assert got.text.startswith("Adopt Personalize: on 600 warm users Personalize finds")
    assert set(got.values) == {"curation", "personalize", "popularity"}  # the trend plots these


def test_equal_recommenders_are_not_decided_even_when_cold_users_favour_one():
    # Cold users all find their title with the candidate: an all-users comparison would call it better.
    got = _country(seed=4, warm=600, cold=900, curation_rate=0.2, candidate_rate=0.2, cold_rate=1.0)
    assert got.outcome == decision.Outcome.NOT_DECIDED
    assert got.interval.low <= 1 <= got.interval.high
    assert got.sample.cold_hits_per_100_users["personalize"] == 100.0
    assert got.sample.cold_hits_per_100_users["curation"] == 0.0


def test_a_tiny_signal_country_is_not_enough_signal_to_decide():
    got = _country(seed=5, warm=60, cold=10, curation_rate=0.2, candidate_rate=0.4)
    assert got.outcome == decision.Outcome.NOT_ENOUGH_SIGNAL
    assert got.baseline_hits < decision.MIN_HITS
    assert f"at least {decision.MIN_HITS}" in got.text


def test_a_recommender_truly_worse_keeps_the_current_curation():
    got = _country(seed=6, warm=800, cold=0, curation_rate=0.3, candidate_rate=0.1)
    assert got.outcome == decision.Outcome.KEEP and got.interval.high < 1
    assert got.sample.cold_share == 0.0


def test_the_candidate_is_personalize_then_the_open_baseline_then_popularity():
    users = [f"w{n}" for n in range(10)]
    truth = {u: {"a"} for u in users}
    lists = {u: ["a"] for u in users}
    for names, expected in (
        (["curation", "personalize", "open_baseline", "popularity"], "personalize"),
        (["curation", "open_baseline", "popularity"], "open_baseline"),
        (["curation", "popularity"], "popularity"),
    ):
        got = decision.decide([(n, n, lists) for n in names], truth, truth, users, set(users))
        assert got.candidate == expected
    assert decision.decide([("popularity", "P", lists)], truth, truth, users, set(users)) is None


def test_below_the_minimum_hits_the_interval_cannot_decide():
    """Why MIN_HITS: simulated users whose hit counts are Poisson around the expected hits. With half MIN_HITS
    curation hits a recommender truly 1.5x better is adopted less than half the time, and two equal ones get an
    interval spanning more than 2.5x (high / low); with twice MIN_HITS most such recommenders are adopted."""
    rng = np.random.default_rng(2026)
    users, runs = 150, 30

    def simulate(expected_hits: float) -> tuple[float, float]:
        adopted, spans = 0, []
        for _ in range(runs):
            base = rng.poisson(expected_hits / users, users).astype(float)
            better = rng.poisson(1.5 * expected_hits / users, users).astype(float)
            equal = rng.poisson(expected_hits / users, users).astype(float)
            adopted += decision.bootstrap_ratio(better, base).low > 1
            same = decision.bootstrap_ratio(equal, base)
            spans.append(same.high / same.low if same.low else np.inf)
        return adopted / runs, float(np.median(spans))

    adopted, span = simulate(decision.MIN_HITS / 2)
    assert adopted < 0.5 and span > 2.5
    adopted, span = simulate(decision.MIN_HITS * 2)
    assert adopted > 0.5 and span < 2.0


@pytest.mark.parametrize(
    ("candidate_hits", "baseline_hits", "low", "high", "expected"),
    [
        (120, 60, 1.4, 2.8, decision.Outcome.ADOPT),
        (60, 180, 0.2, 0.5, decision.Outcome.KEEP),
        (100, 95, 0.9956, 1.09, decision.Outcome.NOT_DECIDED),
        (100, 100, 1.0, 1.0, decision.Outcome.NOT_DECIDED),  # identical lists: 1 is neither above nor below 1
        (decision.MIN_HITS - 1, 400, 0.01, 0.2, decision.Outcome.NOT_ENOUGH_SIGNAL),
        (400, decision.MIN_HITS - 1, 5.0, 12.0, decision.Outcome.NOT_ENOUGH_SIGNAL),
    ],
)
def test_the_rule(candidate_hits, baseline_hits, low, high, expected):
    interval = decision.Interval(ratio=candidate_hits / baseline_hits, low=low, high=high)
    assert decision.outcome_of(candidate_hits, baseline_hits, interval) == expected


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (0.9956, 1.0912, "0.99-1.10x"),  # outward: never 1.00 for a bound below 1
        (1.0004, 1.3, "1.0004-1.30x"),  # a lower bound above 1 never prints as 1.00
        (0.5, 0.9991, "0.50-0.9991x"),
        (1.0, 1.0, "1.00-1.00x"),
    ],
)
def test_rounding_never_contradicts_the_outcome(low, high, text):
    assert interval_text(decision.Interval(ratio=1.0, low=low, high=high)) == f"95 % CI {text}"


def test_verdict_lines_round_their_interval_outward():
    users = [f"u{n}" for n in range(400)]
    truth = {u: {"a"} for u in users}
    rng = np.random.default_rng(12)  # a seed whose lower bound is just below 1
    curation = {u: ["a"] if rng.random() < 0.5 else ["b"] for u in users}
    near = {u: ["a"] if rng.random() < 0.56 else ["b"] for u in users}
    (line,) = decision.verdict("all", [("x", "Near", near)], truth, users, curation)
    low, high = line.interval.low, line.interval.high
    assert line.outcome == "no clear difference" and 0.995 <= low < 1
    assert "CI 1.00" not in line.text
    assert interval_text(line.interval) in line.text
    printed_low = float(line.text.split("95 % CI ")[1].split("-")[0])
    assert printed_low <= low and (printed_low < 1) == (low < 1) and high >= 1


def test_the_notification_states_the_decision():
    from pipeline.notify import notification

    text = "Adopt Personalize: it finds 1.52x (95 % CI 1.21-1.90x) the titles ..."
    record = {"country": "FR", "run_date": "2026-11-01", "status": "SUCCEEDED", "report_decision": text}
    got = notification(record)
    assert f"Decision: {text}" in got["message"].splitlines()
    assert json.loads(got["detail"])["report_decision"] == text
