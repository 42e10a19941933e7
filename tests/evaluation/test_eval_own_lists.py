"""Each recommender is scored on its own lists: on the sample data the per-user recommenders' lists differ, and every
figure of report.json equals the one computed from that recommender's lists alone, so a copy of one recommender's
lists into another's (or its metrics under another's name) cannot pass. The open baseline's exact tie with the
curation on hits@25 on the sample data is real: their lists differ for most users and the gains and losses cancel."""

from __future__ import annotations

from datetime import date
from itertools import combinations

import pytest

from dataprep import sample_data
from evaluation import metrics as m
from evaluation import report_local
from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.report_model import Report
from evaluation.sql_report import _recommender_lists, read_output_folder, train_open_baseline

RUN_DATE = "2025-06-24"
PER_USER = ("curation", OPEN_BASELINE)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-lists")
    sample_data.generate(root / "raw", users=400, items=120, days=40, seed=3, end_date="2025-07-01")
    out = root / "out"
    argv = ["--raw", str(root / "raw"), "--country", "KR", "--run-date", RUN_DATE, "--out", str(out)]
    assert report_local.main(argv) == 0
    report = Report.model_validate_json((out / "report.json").read_text())
    inputs = read_output_folder(out / "sql")
    baseline, _ = train_open_baseline(inputs)
    names = [r.name for r in report.recommenders]
    lists = _recommender_lists(inputs, names, inputs.popularity[:25], baseline)
    return report, inputs, lists


def test_the_per_user_recommenders_lists_differ_for_warm_users(run):
    report, inputs, lists = run
    warm = [row["user_id"] for row in inputs.users if row.get("sampled") and row.get("history_interactions")]
    assert warm and set(PER_USER) <= {r.name for r in report.recommenders}
    for a, b in combinations([*PER_USER, "popularity"], 2):
        differing = sum(list(lists[a][user]) != list(lists[b][user]) for user in warm)
        assert differing > len(warm) // 2, f"{a} and {b} give the same list to {len(warm) - differing} warm users"


def test_each_recommenders_metrics_are_computed_from_its_own_lists(run):
    report, inputs, lists = run
    evaluated = sorted(row["user_id"] for row in inputs.users if row.get("sampled"))
    truth = {row["user_id"]: set(row.get("truth") or ()) for row in inputs.users}
    own = {name: m.evaluate(lists[name], truth, evaluated, set(inputs.items)) for name in lists}
    for result in report.recommenders:
        assert result.metrics == pytest.approx(own[result.name]), result.name
    # the figures tell the recommenders apart, so a copy under another name would not equal its own
    for a, b in combinations(lists, 2):
        assert own[a] != own[b], (a, b)


def test_the_open_baselines_hits_tie_with_the_curations_only_where_gains_and_losses_cancel(run):
    report, inputs, lists = run
    evaluated = [row["user_id"] for row in inputs.users if row.get("sampled")]
    truth = {row["user_id"]: set(row.get("truth") or ()) for row in inputs.users}

    def hits(name: str, user: str) -> int:
        return len(truth[user] & set(list(lists[name][user])[:25]))

    gains = sum(max(hits(OPEN_BASELINE, u) - hits("curation", u), 0) for u in evaluated)
    losses = sum(max(hits("curation", u) - hits(OPEN_BASELINE, u), 0) for u in evaluated)
    (line,) = [v for v in report.verdict if v.evaluation == "all" and v.name == OPEN_BASELINE]
    total = {name: sum(hits(name, u) for u in evaluated) for name in PER_USER}
    # the verdict's figures are these users' hits per 100 users, whatever they are
    assert line.hits_per_100_users == pytest.approx(100 * total[OPEN_BASELINE] / len(evaluated), abs=0.01)
    assert line.baseline_hits_per_100_users == pytest.approx(100 * total["curation"] / len(evaluated), abs=0.01)
    assert total[OPEN_BASELINE] - total["curation"] == gains - losses
    assert date.fromisoformat(report.run_date) == date.fromisoformat(RUN_DATE)
