"""What the page concludes: the verdict (a paired bootstrap over users), the new-to-user evaluation, the trend.

Both report builders (evaluation.report in memory, evaluation.sql_report from the SQL outputs) call these with
the same lists, truth and users, so their reports stay equal.

Verdict: for each recommender against the current curation, the ratio of the mean number of truth items found in
the top `MRR_AT` (25) of each evaluated user's list (equal to the ratio of precision@25). Its 95 % interval is the
2.5th and 97.5th percentile of the same ratio over `BOOTSTRAP_SAMPLES` resamples of the evaluated users with
replacement, the same resampled users for every recommender (paired), from a fixed seed: the same data gives
the same interval on every run and engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from evaluation import metrics as m

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 20261201
BASELINE = "curation"
TREND_RUNS = 30
TREND_METRIC = f"normalized_discounted_cumulative_gain_at_{m.KS[1]}"

# Plain words for each metric, shown under the table (a product owner reads these, not the formulas).
EXPLANATIONS = {
    "precision_at_{k}": "Precision@{k}: of the first {k} titles shown, the share the user actually watched next.",
    "normalized_discounted_cumulative_gain_at_{k}": (
        "NDCG@{k}: like precision@{k}, but a title the user watched counts more the higher it is in the list "
        "(1 = everything they watched is at the very top)."
    ),
    "mean_reciprocal_rank_at_25": (
        "MRR@25: how far down the user must scroll to the first title they watched: 1 = first place, "
        "0.5 = second, 0.1 = tenth; 0 if none in the top 25."
    ),
    "coverage": "Coverage: the share of the catalogue that appears in at least one user's list.",
}


def explanations() -> dict[str, str]:
    """Metric name (as in report.json) -> one plain sentence."""
    out = {}
    for pattern, text in EXPLANATIONS.items():
        for k in m.KS if "{k}" in pattern else (None,):
            out[pattern.format(k=k)] = text.format(k=k)
    return out


class Interval(BaseModel):
    ratio: float | None  # recommender's mean hits / curation's; None when the curation finds nothing
    low: float | None
    high: float | None


class VerdictLine(BaseModel):
    evaluation: str  # "all" or "new_to_user"
    name: str
    label: str
    against: str = BASELINE  # the recommender it is compared with
    hits_per_100_users: float  # truth items found in the top 25, per 100 evaluated users
    baseline_hits_per_100_users: float
    interval: Interval
    outcome: str  # "better", "worse", "no clear difference"
    text: str


class Evaluation(BaseModel):
    """One recommender's metrics in the new-to-user evaluation (same names as recommenders[].metrics)."""

    name: str
    label: str
    users_evaluated: int
    metrics: dict[str, float]


class NewToUser(BaseModel):
    description: str
    users_evaluated: int
    truth_pairs: int
    recommenders: list[Evaluation]


class TrendPoint(BaseModel):
    run_date: str
    metric: str
    values: dict[str, float]  # recommender name -> value


def hits(lists: Mapping[str, Sequence[str]], truth: Mapping[str, Collection[str]], users: Sequence[str]) -> np.ndarray:
    """Per user: truth items in the top MRR_AT of their list."""
    return np.array(
        [sum(1 for item in list(lists.get(u, ()))[: m.MRR_AT] if item in truth.get(u, ())) for u in users],
        dtype=np.float64,
    )


def bootstrap_ratio(candidate: np.ndarray, baseline: np.ndarray) -> Interval:
    """Ratio of means with its paired-bootstrap 95 % interval (see the module docstring)."""
    if not len(baseline) or baseline.sum() == 0:
        return Interval(ratio=None, low=None, high=None)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(baseline)
    ratios = np.empty(BOOTSTRAP_SAMPLES)
    for b in range(BOOTSTRAP_SAMPLES):
        pick = rng.integers(0, n, n)
        base = baseline[pick].sum()
        ratios[b] = candidate[pick].sum() / base if base else np.inf
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Interval(
        ratio=round(float(candidate.sum() / baseline.sum()), 4), low=round(float(low), 4), high=round(float(high), 4)
    )


def _phrase(
    label: str, interval: Interval, hits_rec: float, what: str, against: str = "the current curation"
) -> tuple[str, str]:
    if interval.ratio is None:
        if hits_rec == 0:
            return "no clear difference", f"{label} and {against} both find none of {what}."
        return (
            "better",
            f"{label} finds {hits_rec:.1f} of {what} per 100 users; {against} finds none.",
        )
    r, lo, hi = interval.ratio, interval.low, interval.high
    # The interval comes from bootstrap_ratio (verdict), which sets ratio, low and high together: all None or none.
    assert lo is not None and hi is not None
    ci = f"95 % CI {lo:.2f}-{hi:.2f}x" if np.isfinite(hi) else f"95 % CI from {lo:.2f}x"
    if lo > 1:
        return "better", f"{label} finds {r:.1f}x more of {what} than {against} ({ci})."
    if hi < 1:
        return (
            "worse",
            f"{label} finds {1 - r:.0%} less of {what} than {against} ({r:.2f}x, {ci}).",
        )
    return "no clear difference", f"{label} is not clearly different from {against} ({r:.2f}x, {ci})."


def verdict(
    evaluation: str,
    recommenders: Iterable[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
    baseline_lists: Mapping[str, Sequence[str]],
    against: tuple[str, str] = (BASELINE, "the current curation"),
) -> list[VerdictLine]:
    """One line per recommender but `against` (name, words): (name, label, lists) against `baseline_lists`."""
    what = "what users watch next" if evaluation == "all" else "the titles users watch next for the first time"
    base = hits(baseline_lists, truth, users)
    n = max(len(users), 1)
    out = []
    for name, label, lists in recommenders:
        if name == against[0]:
            continue
        cand = hits(lists, truth, users)
        interval = bootstrap_ratio(cand, base)
        per100, base100 = round(100 * cand.sum() / n, 2), round(100 * base.sum() / n, 2)
        outcome, text = _phrase(label, interval, per100, what, against[1])
        out.append(
            VerdictLine(
                evaluation=evaluation,
                name=name,
                label=label,
                against=against[0],
                hits_per_100_users=per100,
                baseline_hits_per_100_users=base100,
                interval=interval,
                outcome=outcome,
                text=text,
            )
        )
    return out


def new_truth(truth: Mapping[str, Collection[str]], seen: Mapping[str, Collection[str]]) -> dict[str, set[str]]:
    """Truth minus re-watches: items the user had not interacted with in the history."""
    return {user: set(items) - set(seen.get(user, ())) for user, items in truth.items()}


NEW_TO_USER_DESCRIPTION = (
    "Only what users watched next for the first time: re-watches (titles in the user's history) are removed from "
    "the truth, and users left with nothing are not counted. This is the job the current curation is built for."
)


def new_to_user(
    recommenders: Iterable[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth_new: Mapping[str, Collection[str]],
    evaluated: Sequence[str],
    catalogue: Collection[str],
) -> tuple[NewToUser, list[VerdictLine]]:
    """The new-to-user evaluation and its verdict lines, over the evaluated users with a new truth item."""
    rec = list(recommenders)
    users = [u for u in evaluated if truth_new.get(u)]
    section = NewToUser(
        description=NEW_TO_USER_DESCRIPTION,
        users_evaluated=len(users),
        truth_pairs=sum(len(truth_new[u]) for u in users),
        recommenders=[
            Evaluation(
                name=name,
                label=label,
                users_evaluated=len(users),
                metrics=m.evaluate(lists, truth_new, users, catalogue),
            )
            for name, label, lists in rec
        ],
    )
    return section, verdicts("new_to_user", rec, truth_new, users)


PERSONALIZE, OPEN_BASELINE = "personalize", "open_baseline"


def verdicts(
    evaluation: str,
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
) -> list[VerdictLine]:
    """Every recommender against the curation; and Personalize against the open baseline when both ran (does
    a day of training buy more than a few seconds of open-source code?)."""
    by_name = {name: lists for name, _, lists in recommenders}
    out = verdict(evaluation, recommenders, truth, users, by_name.get(BASELINE, {}))
    if PERSONALIZE in by_name and OPEN_BASELINE in by_name:
        pair = [r for r in recommenders if r[0] == PERSONALIZE]
        out += verdict(evaluation, pair, truth, users, by_name[OPEN_BASELINE], (OPEN_BASELINE, "the open baseline"))
    return out


# Whether an earlier report.json (parsed) was built from the same data as the current run.
SameData = Callable[[Mapping[str, Any]], bool]


def trend_from_reports(
    paths: Iterable[Path | str],
    country: str,
    current: TrendPoint | None = None,
    same_data: SameData | None = None,
) -> list[TrendPoint]:
    """The last TREND_RUNS runs' TREND_METRIC per recommender from earlier report.json files (bad ones skipped).

    Only reports of `country`, dated before `current` when it is given, and accepted by `same_data` when given
    (`make report` passes evaluation.raw_identity's rule; the deployed report step reads only its own results
    bucket, whose reports all come from the env's raw bucket).
    """
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue
    return trend_from_documents(texts, country, current, same_data)


def trend_from_documents(
    documents: Iterable[str | bytes],
    country: str,
    current: TrendPoint | None = None,
    same_data: SameData | None = None,
) -> list[TrendPoint]:
    """As trend_from_reports, from the report.json texts (the report step reads them from S3)."""
    points: dict[str, TrendPoint] = {}
    for document in documents:
        try:
            data = json.loads(document)
            if data.get("country") != country:
                continue
            if current is not None and str(data["run_date"]) >= current.run_date:
                continue  # a later run (or this date's earlier copy) is not this run's history
            if same_data is not None and not same_data(data):
                continue
            values = {r["name"]: float(r["metrics"][TREND_METRIC]) for r in data["recommenders"] if r["metrics"]}
            points[str(data["run_date"])] = TrendPoint(
                run_date=str(data["run_date"]), metric=TREND_METRIC, values=values
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    if current is not None:
        points[current.run_date] = current
    return [points[d] for d in sorted(points)][-TREND_RUNS:]


def current_point(run_date: str, results: Iterable[tuple[str, Mapping[str, float]]]) -> TrendPoint:
    return TrendPoint(
        run_date=run_date,
        metric=TREND_METRIC,
        values={name: metrics[TREND_METRIC] for name, metrics in results if TREND_METRIC in metrics},
    )
