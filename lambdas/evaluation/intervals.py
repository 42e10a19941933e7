"""95 % intervals of the charted metrics (report.json `metric_intervals`), drawn as whiskers on the bar chart.

A metric on the page is a mean over the evaluated users; its interval is the 2.5th and 97.5th percentile of that
mean over evaluation.decision's BOOTSTRAP_SAMPLES resamples of the users with replacement, from its fixed seed:
the same data gives the same whiskers on every engine. With a handful of hits the whiskers are wide, which is
what keeps 0.002 against 0.004 from reading as a clear twofold difference.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
from pydantic import BaseModel

from evaluation import decision
from evaluation import metrics as m

# The metrics the page charts, by their report.json names, with the per-user value each averages.
CHARTED: dict[str, Callable[[Sequence[str], Collection[str]], float]] = {
    f"normalized_discounted_cumulative_gain_at_{m.KS[1]}": lambda r, t: m.ndcg_at_k(r, t, m.KS[1]),
    f"precision_at_{m.KS[1]}": lambda r, t: m.precision_at_k(r, t, m.KS[1]),
    f"mean_reciprocal_rank_at_{m.MRR_AT}": lambda r, t: m.reciprocal_rank(r, t),
}
# Resamples drawn at once: bounds the (chunk x users x columns) block in memory at 20,000 users.
_BLOCK_VALUES = 2**22


class MeanInterval(BaseModel):
    low: float
    high: float


def resampled_means(values: np.ndarray) -> np.ndarray:
    """values: (users, columns) per-user figures -> (BOOTSTRAP_SAMPLES, columns) means of seeded resamples."""
    n, columns = values.shape
    rng = np.random.default_rng(decision.BOOTSTRAP_SEED)
    means = np.empty((decision.BOOTSTRAP_SAMPLES, columns))
    chunk = max(1, _BLOCK_VALUES // max(n * columns, 1))
    for start in range(0, decision.BOOTSTRAP_SAMPLES, chunk):
        size = min(chunk, decision.BOOTSTRAP_SAMPLES - start)
        pick = rng.integers(0, n, (size, n))
        means[start : start + size] = values[pick].mean(axis=1)
    return means


def bootstrap_means(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values: (users, columns) per-user figures -> per column the 2.5th and 97.5th percentile of the mean."""
    low, high = np.percentile(resampled_means(values), [2.5, 97.5], axis=0)
    return low, high


def metric_intervals(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
) -> dict[str, dict[str, MeanInterval]]:
    """Recommender name -> charted metric -> its interval, over `users` (empty when there is none)."""
    if not users:
        return {}
    columns = [(name, metric) for name, _, _ in recommenders for metric in CHARTED]
    lists = {name: rec_lists for name, _, rec_lists in recommenders}
    values = np.array(
        [[CHARTED[metric](list(lists[name].get(u, ())), truth.get(u, ())) for name, metric in columns] for u in users],
        dtype=np.float64,
    )
    low, high = bootstrap_means(values)
    out: dict[str, dict[str, MeanInterval]] = {}
    for (name, metric), lo, hi in zip(columns, low.tolist(), high.tolist(), strict=True):
        out.setdefault(name, {})[metric] = MeanInterval(low=round(lo, 6), high=round(hi, 6))
    return out


def chart_intervals(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    truth: Mapping[str, Collection[str]],
    truth_new: Mapping[str, Collection[str]],
    evaluated: Sequence[str],
) -> dict[str, dict[str, dict[str, MeanInterval]]]:
    """Both evaluations of the page ("all", "new_to_user": the users with a new truth item, as in
    evaluation.decision.new_to_user) -> recommender -> metric -> interval."""
    return {
        "all": metric_intervals(recommenders, truth, evaluated),
        "new_to_user": metric_intervals(recommenders, truth_new, [u for u in evaluated if truth_new.get(u)]),
    }


def fresh_share_intervals(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    new_items: Collection[str],
    evaluated: Sequence[str],
) -> dict[str, MeanInterval]:
    """Recommender name -> the interval of its `fresh_share` (evaluation.metrics.freshness: new titles over the
    top-k slots of the evaluated users' lists). A share of slots is a ratio of two sums over the users, so each
    resample of the users gives sum(new slots) / sum(slots); a recommender with no slots gets no interval."""
    out: dict[str, MeanInterval] = {}
    if not evaluated:
        return out
    k = m.MRR_AT
    for name, _, lists in recommenders:
        top = [list(lists.get(u, ()))[:k] for u in evaluated]
        counts = np.array([[sum(item in new_items for item in items), len(items)] for items in top], dtype=np.float64)
        if not counts[:, 1].any():
            continue
        means = resampled_means(counts)
        # A resample of users who all have empty lists has no share: it is left out, not counted as 0.
        shares = np.divide(means[:, 0], means[:, 1], out=np.full(len(means), np.nan), where=means[:, 1] > 0)
        low, high = np.nanpercentile(shares, [2.5, 97.5])
        out[name] = MeanInterval(low=round(float(low), 6), high=round(float(high), 6))
    return out
