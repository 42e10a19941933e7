"""The verdict's bootstrap, the new-to-user evaluation, the open baseline and the trend."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fixtures import RUN_DATE

from evaluation import decision
from evaluation.data import time_split, window_end
from evaluation.open_baseline import NAME, from_dataset, train_and_recommend


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
            "recommenders": [{"name": "curation", "metrics": {decision.TREND_METRIC: value}}],
        }
        (folder / "report.json").write_text(json.dumps(data))
    (tmp_path / "broken.json").write_text("{not json")
    current = decision.TrendPoint(run_date="2026-10-15", metric=decision.TREND_METRIC, values={"curation": 0.3})
    paths = [*tmp_path.glob("*/report.json"), tmp_path / "broken.json"]
    trend = decision.trend_from_reports(paths, "FR", current)
    assert [(p.run_date, p.values["curation"]) for p in trend] == [
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
            "recommenders": [{"name": "curation", "metrics": {decision.TREND_METRIC: day / 100}}],
        }
        (folder / "report.json").write_text(json.dumps(data))
    last = decision.trend_from_reports(many.glob("*/report.json"), "FR")
    assert len(last) == 30 and last[0].run_date == "2026-09-06" and last[-1].run_date == "2026-10-05"


def test_every_metric_has_plain_words():
    words = decision.explanations()
    for k in (5, 10, 25):
        assert f"precision_at_{k}" in words and f"normalized_discounted_cumulative_gain_at_{k}" in words
    assert "scroll" in words["mean_reciprocal_rank_at_25"] and "catalogue" in words["coverage"]
