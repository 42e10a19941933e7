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

from collections.abc import Collection, Iterable, Mapping, Sequence
from enum import StrEnum

import numpy as np
from pydantic import BaseModel

from evaluation import metrics as m
from evaluation.rounding import interval_text, ratio_text

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 20261201
BASELINE = "curation"
TREND_RUNS = 30

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
    ci = interval_text(interval)
    if lo > 1:
        return "better", f"{label} finds {r:.1f}x more of {what} than {against} ({ci})."
    if hi < 1:
        return (
            "worse",
            f"{label} finds {1 - r:.0%} less of {what} than {against} ({ratio_text(r)}x, {ci}).",
        )
    return "no clear difference", f"{label} is not clearly different from {against} ({ratio_text(r)}x, {ci})."


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


# --- The decision: one metric on one population, one candidate, a fixed rule --------------------------------


class Outcome(StrEnum):
    ADOPT = "adopt"
    KEEP = "keep the current curation"
    NOT_DECIDED = "not decided"
    NOT_ENOUGH_SIGNAL = "not enough signal to decide"


POPULARITY = "popularity"
# The recommender the decision is about, the first present: Personalize when the batch step ran, else the open
# baseline, else popularity (fixed before the data is seen, never the best-looking one).
CANDIDATES = (PERSONALIZE, OPEN_BASELINE, POPULARITY)
# precision@25 on titles new to the user: the curation fills a 25-title list with titles the user has not seen,
# and a ratio of precision@25 is the ratio of hits, the counts MIN_HITS bounds.
DECISION_METRIC = f"precision_at_{m.MRR_AT}"
DECISION_METRIC_LABEL = f"Precision@{m.MRR_AT} on titles new to the user"
POPULATION = (
    "Warm users: evaluated users with history before the cut-off who watched at least one title new to them in "
    "the truth period. Cold users get the same popularity list from every recommender but Personalize, so they "
    "cannot tell the curation from its alternatives; they are judged in the cold-start section."
)
# Fewer hits than this on either side and the 95 % interval cannot tell a 1.5x better recommender from an equal
# one: at 25 hits a side the interval of two equal recommenders spans over 2.5x and a truly 1.5x better one is
# adopted less than half the time (the simulation in tests/evaluation/test_eval_decision.py).
MIN_HITS = 50
RULE = (
    f"Adopt the candidate when the lower bound of the 95 % interval of its ratio to the current curation is above "
    f"1x; keep the current curation when the upper bound is below 1x; otherwise not decided. Not enough signal "
    f"to decide when either side finds fewer than {MIN_HITS} titles."
)


class Sample(BaseModel):
    """The evaluated users split by whether they have history before the cut-off."""

    evaluated_users: int
    warm_users: int
    cold_users: int
    warm_share: float | None
    cold_share: float | None
    # Per recommender: titles found in the top 25 per 100 cold evaluated users (everything they watched next).
    cold_hits_per_100_users: dict[str, float]


class Decision(BaseModel):
    outcome: Outcome
    text: str
    rule: str = RULE
    metric: str = DECISION_METRIC
    metric_label: str = DECISION_METRIC_LABEL
    population: str = POPULATION
    candidate: str
    candidate_label: str
    against: str = BASELINE
    users: int  # warm users the decision is computed on
    candidate_hits: int
    baseline_hits: int
    min_hits: int = MIN_HITS
    interval: Interval
    values: dict[str, float]  # DECISION_METRIC per recommender on the same users (what the trend plots)
    sample: Sample


def outcome_of(candidate_hits: float, baseline_hits: float, interval: Interval) -> Outcome:
    """RULE applied to the candidate's and the curation's hits and their ratio's interval."""
    if min(candidate_hits, baseline_hits) < MIN_HITS or interval.low is None or interval.high is None:
        return Outcome.NOT_ENOUGH_SIGNAL
    if interval.low > 1:
        return Outcome.ADOPT
    if interval.high < 1:
        return Outcome.KEEP
    return Outcome.NOT_DECIDED


def _decision_text(outcome: Outcome, label: str, cand: int, base: int, interval: Interval, users: int) -> str:
    if outcome is Outcome.NOT_ENOUGH_SIGNAL:
        return (
            f"Not enough signal to decide: on {users} warm users {label} finds {cand} and the current curation "
            f"{base} titles new to the user; at least {MIN_HITS} on each side are needed."
        )
    assert interval.ratio is not None  # set whenever both sides reach MIN_HITS
    found = (
        f"on {users} warm users {label} finds {ratio_text(interval.ratio)}x as many titles new to the user as the "
        f"current curation ({interval_text(interval)}; {cand} vs {base})"
    )
    if outcome is Outcome.ADOPT:
        return f"Adopt {label}: {found}."
    if outcome is Outcome.KEEP:
        return f"Keep the current curation: {found}."
    return f"Not decided: {found}; the interval contains 1x."


def split_sample(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    evaluated: Sequence[str],
    warm: Collection[str],
) -> Sample:
    cold = [u for u in evaluated if u not in warm]
    n = len(evaluated)
    return Sample(
        evaluated_users=n,
        warm_users=n - len(cold),
        cold_users=len(cold),
        warm_share=(n - len(cold)) / n if n else None,
        cold_share=len(cold) / n if n else None,
        cold_hits_per_100_users={
            name: round(100 * float(hits(lists, truth, cold).sum()) / len(cold), 2) if cold else 0.0
            for name, _, lists in recommenders
        },
    )


def decide(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    truth_new: Mapping[str, Collection[str]],
    evaluated: Sequence[str],
    warm: Collection[str],
) -> Decision | None:
    """The decision (RULE) for the first of CANDIDATES against the curation, on the warm evaluated users with a
    new title; None without a curation or a candidate. `warm`: users with history before the cut-off."""
    by_name = {name: (label, lists) for name, label, lists in recommenders}
    candidate = next((name for name in CANDIDATES if name in by_name), None)
    if candidate is None or BASELINE not in by_name:
        return None
    warm = set(warm)
    users = [u for u in evaluated if u in warm and truth_new.get(u)]
    base, cand = hits(by_name[BASELINE][1], truth_new, users), hits(by_name[candidate][1], truth_new, users)
    interval = bootstrap_ratio(cand, base)
    outcome = outcome_of(cand.sum(), base.sum(), interval)
    label = by_name[candidate][0]
    return Decision(
        outcome=outcome,
        text=_decision_text(outcome, label, int(cand.sum()), int(base.sum()), interval, len(users)),
        candidate=candidate,
        candidate_label=label,
        users=len(users),
        candidate_hits=int(cand.sum()),
        baseline_hits=int(base.sum()),
        interval=interval,
        # precision@25 averaged over the users: their hits in the top 25 over 25 slots each.
        values={
            name: float(hits(lists, truth_new, users).sum()) / (m.MRR_AT * len(users)) if users else 0.0
            for name, (_, lists) in by_name.items()
        },
        sample=split_sample(recommenders, truth, evaluated, warm),
    )


# Whether an earlier report.json (parsed) was built from the same data as the current run.
