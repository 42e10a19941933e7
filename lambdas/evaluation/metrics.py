"""Offline metrics, defined as Amazon Personalize defines its solution-version metrics.

Source: Personalize developer guide, "Evaluating a solution version with metrics" (metric definitions and
worked example). Terms: a *relevant* recommendation is one that matches an item in the user's truth (here:
the items the user interacted with in the held-out last days); *rank* is the 1-based position in the list.

- precision_at_K: relevant recommendations in the top K, divided by K.
- normalized_discounted_cumulative_gain_at_K: DCG = sum over relevant recommendations in the top K of
  1/log(1 + position); divided by the ideal DCG, which Personalize defines as the same top K sorted by
  relevance, i.e. the relevant ones moved to positions 1..h. (Textbook NDCG would use min(|truth|, K)
  ideal positions instead; we follow Personalize so the numbers compare with its console.) The base of the
  log cancels out in the ratio.
- mean_reciprocal_rank_at_25: mean of 1/rank of the first relevant recommendation in the top 25 (0 if none).
- coverage: unique recommended items over all queries, divided by the number of unique items in the
  interactions and items datasets (the catalogue).

Every per-user metric is averaged over the evaluated users (one query per user).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

KS = (5, 10, 25)
MRR_AT = 25


def precision_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    return sum(1 for item in recommended[:k] if item in relevant) / k


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    positions = [pos for pos, item in enumerate(recommended[:k], start=1) if item in relevant]
    if not positions:
        return 0.0
    dcg = sum(1 / math.log(1 + pos) for pos in positions)
    ideal = sum(1 / math.log(1 + pos) for pos in range(1, len(positions) + 1))
    return dcg / ideal


def reciprocal_rank(recommended: Sequence[str], relevant: Collection[str], k: int = MRR_AT) -> float:
    for pos, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            return 1 / pos
    return 0.0


def coverage(lists: Sequence[Sequence[str]], catalogue: Collection[str], k: int = MRR_AT) -> float:
    """Unique recommended catalogue items (top k of each list) over the catalogue size."""
    if not catalogue:
        return 0.0
    recommended = {item for items in lists for item in items[:k]}
    return len(recommended & set(catalogue)) / len(catalogue)


def evaluate(
    lists: Mapping[str, Sequence[str]],
    truth: Mapping[str, Collection[str]],
    users: Sequence[str],
    catalogue: Collection[str],
    ks: Sequence[int] = KS,
) -> dict[str, float]:
    """Personalize's metric names -> values, averaged over `users` (a user without a list gets nothing)."""
    n = len(users)
    metrics: dict[str, float] = {}
    if n == 0:
        return metrics
    per_user = [(lists.get(u, []), truth.get(u, ())) for u in users]
    for k in ks:
        metrics[f"precision_at_{k}"] = sum(precision_at_k(r, t, k) for r, t in per_user) / n
    for k in ks:
        metrics[f"normalized_discounted_cumulative_gain_at_{k}"] = (
            sum(ndcg_at_k(r, t, k) for r, t in per_user) / n
        )
    metrics[f"mean_reciprocal_rank_at_{MRR_AT}"] = sum(reciprocal_rank(r, t) for r, t in per_user) / n
    metrics["coverage"] = coverage([r for r, _ in per_user], catalogue)
    return metrics


def cold_start_figures(
    lists: Mapping[str, Sequence[str]], cold_users: Collection[str], k: int = MRR_AT
) -> dict:
    """Among users with no history who got a list: how many distinct lists, and the most common list's share.

    One distinct list with share 1.0 means every new user sees the same thing.
    """
    got = [tuple(lists[u][:k]) for u in cold_users if u in lists]
    if not got:
        return {"users": 0, "distinct_lists": 0, "most_common_list_share": None}
    counts = Counter(got)
    return {
        "users": len(got),
        "distinct_lists": len(counts),
        "most_common_list_share": counts.most_common(1)[0][1] / len(got),
    }


def freshness(lists: Sequence[Sequence[str]], new_items: Collection[str], k: int = MRR_AT) -> float | None:
    """Share of recommended slots (top k of every list) holding an item released in the freshness window."""
    slots = [item for items in lists for item in items[:k]]
    if not slots:
        return None
    return sum(1 for item in slots if item in new_items) / len(slots)
