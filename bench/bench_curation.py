"""Curation speed and accuracy on generated data with taste structure.

Figures:
- curation_speedup_vs_naive: the legacy pairwise-set Jaccard (every item against every other, Python sets),
  timed on a random sample of items and extrapolated to the catalogue, divided by the time of the method
  the chooser picked, on the full catalogue. Goal >= 100.
- curation_top10_recall: the chosen method's top-10 neighbours vs exact. Goal >= 0.9.
- minhash_speedup_vs_exact, minhash_top10_recall: MinHash (128 rows) + LSH (32 bands x 4 rows) on the
  full catalogue, so the choice is visible.
- curation_seconds_1m / curation_seconds_10m: the whole curation (chooser + neighbours + every user's
  list of 25) for 1 M and 10 M interactions over the same 5,000 items: how the cost grows.

Data: evaluation.synthetic (40 tastes, Zipf popularity inside a taste, heavy-tailed user activity), the
same generator the tests use; 5,000 items, 1 M interactions from 50,000 users (10 M from 500,000).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from evaluation import similarity as s
from evaluation.recommenders import curation_lists, popularity_ranking, recent_items_matrix
from evaluation.synthetic import generate

ITEMS = 5_000
NAIVE_SAMPLE = 40
K = 20


def _curation_seconds(n_users: int, n_interactions: int, seed: int) -> tuple[float, s.CurationChoice]:
    data = generate(n_users, ITEMS, n_interactions, seed=seed)
    start = time.perf_counter()
    matrix = s.binary_matrix(data.users, data.items, data.n_users, data.n_items)
    hashes = s.user_hashes([f"u{u}" for u in range(data.n_users)])
    choice = s.choose_neighbours(matrix, hashes, k=K)
    until = int(data.timestamps.max()) + 1
    popular = popularity_ranking(data.users, data.items, data.timestamps, ITEMS, until=until)
    recent = recent_items_matrix(data.users, data.items, data.timestamps, data.n_users, ITEMS, 10)
    curation_lists(matrix, recent, choice.neighbours, popular, 25, np.arange(data.n_users))
    return time.perf_counter() - start, choice


def figures() -> Iterator[tuple[str, float, str]]:
    data = generate(50_000, ITEMS, 1_000_000, seed=1)
    matrix = s.binary_matrix(data.users, data.items, data.n_users, data.n_items)
    hashes = s.user_hashes([f"u{u}" for u in range(data.n_users)])

    start = time.perf_counter()
    exact = s.exact_jaccard_topk(matrix, K)
    exact_seconds = time.perf_counter() - start

    start = time.perf_counter()
    minhash = s.minhash_topk(matrix, hashes, K)
    minhash_seconds = time.perf_counter() - start
    minhash_recall = s.top_k_recall(minhash, exact, 10)

    choice = s.choose_neighbours(matrix, hashes, k=K)
    chosen_seconds = exact_seconds if choice.method == "exact" else choice.minhash_seconds
    chosen_recall = 1.0 if choice.method == "exact" else s.top_k_recall(choice.neighbours, exact, 10)

    # Legacy: per item, Jaccard against every other item's user set; cost is the same for every row on
    # average, so a random sample of rows extrapolates linearly to the catalogue.
    sets = s.user_sets(matrix)
    rows = np.random.default_rng(0).choice(ITEMS, NAIVE_SAMPLE, replace=False)
    start = time.perf_counter()
    naive = s.naive_jaccard_topk(sets, K, rows=rows.tolist())
    naive_seconds = (time.perf_counter() - start) * ITEMS / NAIVE_SAMPLE
    # The faster method must still give the legacy answer on the sampled rows.
    if not np.array_equal(naive.indices, exact.indices[rows]):
        raise AssertionError("exact sparse Jaccard differs from the legacy pairwise sets on sampled items")

    yield "curation_method_is_exact", int(choice.method == "exact"), "bool"
    yield "curation_speedup_vs_naive", naive_seconds / chosen_seconds, "x"
    yield "curation_naive_seconds_extrapolated", naive_seconds, "s"
    yield "curation_neighbours_seconds", chosen_seconds, "s"
    yield "curation_top10_recall", chosen_recall, "ratio"
    yield "minhash_speedup_vs_exact", exact_seconds / minhash_seconds, "x"
    yield "minhash_top10_recall", minhash_recall, "ratio"
    yield "jaccard_best_neighbour_median", float(np.median(exact.scores[:, 0])), "jaccard"

    seconds_1m, _ = _curation_seconds(50_000, 1_000_000, seed=2)
    yield "curation_seconds_1m", seconds_1m, "s"
    # Whole curation (chooser, neighbours, every user's list) over 5,000 items; the method is reported apart.
    seconds_10m, choice_10m = _curation_seconds(500_000, 10_000_000, seed=3)
    yield "curation_seconds_10m", seconds_10m, "s"
    yield "curation_method_is_exact_10m", int(choice_10m.method == "exact"), "bool"


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value} {unit}", flush=True)
