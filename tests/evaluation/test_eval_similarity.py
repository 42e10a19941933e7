"""Jaccard neighbours: exact sparse == legacy pairwise sets; MinHash estimates; LSH; the chooser."""

from __future__ import annotations

import time

import numpy as np
import pytest

from evaluation import similarity as s
from evaluation.synthetic import generate


def _matrix(item_users: dict[int, list[int]], n_users: int):
    users = [u for users in item_users.values() for u in users]
    items = [i for i, users in item_users.items() for _ in users]
    return s.binary_matrix(np.array(users), np.array(items), n_users, max(item_users) + 1)


def test_exact_jaccard_on_a_hand_case():
    # item 0 users {0,1,2}, item 1 {1,2,3}, item 2 {4}, item 3 {0,1,2,3}
    # J(0,1) = |{1,2}| / |{0,1,2,3}| = 2/4 = 0.5; J(0,3) = 3/4 = 0.75; J(1,3) = 3/4 = 0.75;
    # item 2 shares nobody
    matrix = _matrix({0: [0, 1, 2], 1: [1, 2, 3], 2: [4], 3: [0, 1, 2, 3]}, 5)
    exact = s.exact_jaccard_topk(matrix, k=3)
    assert exact.indices[0].tolist() == [3, 1, -1]
    assert exact.scores[0].tolist() == pytest.approx([0.75, 0.5, 0.0])
    assert exact.indices[2].tolist() == [-1, -1, -1]  # no co-occurrence, no neighbour (self excluded)
    # item 3: J(3,0) = J(3,1) = 0.75, a tie -> the smaller index first
    assert exact.indices[3].tolist() == [0, 1, -1]


def test_duplicate_interactions_count_once():
    matrix = s.binary_matrix(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), 2, 2)
    assert matrix.nnz == 3 and matrix.data.max() == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_sparse_equals_naive_pairwise_sets(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 120, 60
    # Few users per item -> many equal Jaccard values, so the tie order is exercised too.
    matrix = s.binary_matrix(rng.integers(0, n_users, 700), rng.integers(0, n_items, 700), n_users, n_items)
    exact = s.exact_jaccard_topk(matrix, k=8)
    naive = s.naive_jaccard_topk(s.user_sets(matrix), k=8)
    assert np.array_equal(exact.indices, naive.indices)
    assert np.array_equal(exact.scores, naive.scores)
    # Chunking (one row per block, several threads) changes nothing.
    chunked = s.exact_jaccard_topk(matrix, k=8, max_block_bytes=1, workers=2)
    assert np.array_equal(chunked.indices, exact.indices)
    # A subset of rows gives the same rows.
    rows = np.array([5, 17, 42])
    assert np.array_equal(s.exact_jaccard_topk(matrix, k=8, rows=rows).indices, exact.indices[rows])


def test_minhash_estimate_is_close_to_exact_jaccard():
    # item 0 = users 0..199, item 1 = users 100..299: J = 100/300 = 1/3
    # item 2 = users 0..199 again: J(0,2) = 1; item 3 = users 300..399: J(0,3) = 0
    matrix = _matrix(
        {0: list(range(200)), 1: list(range(100, 300)), 2: list(range(200)), 3: list(range(300, 400))}, 400
    )
    hashes = s.user_hashes([f"user-{u}" for u in range(400)])
    sig = s.minhash_signatures(matrix, hashes, num_perm=512)
    est = s.estimated_jaccard(sig, np.array([0, 0, 0]), np.array([1, 2, 3]))
    # standard error at J = 1/3 with 512 rows: sqrt(1/3 * 2/3 / 512) = 0.021; allow ~4 of them
    assert est[0] == pytest.approx(1 / 3, abs=0.085)
    assert est[1] == 1.0
    assert est[2] == 0.0


def test_minhash_estimates_track_exact_on_random_data():
    rng = np.random.default_rng(3)
    n_users, n_items = 400, 40
    matrix = s.binary_matrix(rng.integers(0, n_users, 6000), rng.integers(0, n_items, 6000), n_users, n_items)
    exact = s.exact_jaccard_topk(matrix, k=n_items)
    sig = s.minhash_signatures(matrix, s.user_hashes([str(u) for u in range(n_users)]), num_perm=256)
    rows, slots = np.nonzero(exact.indices >= 0)
    est = s.estimated_jaccard(sig, rows, exact.indices[rows, slots])
    assert np.abs(est - exact.scores[rows, slots]).mean() < 0.03
    # Signatures do not depend on user row order: they hash user ids, like the SQL version.
    assert np.array_equal(
        sig, s.minhash_signatures(matrix, s.user_hashes([str(u) for u in range(n_users)]), 256)
    )


def test_lsh_candidates_catch_similar_pairs_and_miss_low_jaccard_ones():
    # 30 pairs of items with J = 0.8 (shared 80 of 100 users in the union) and 30 pairs with J = 0.05.
    groups: dict[int, list[int]] = {}
    user = 0
    for p in range(30):
        shared = list(range(user, user + 80))
        groups[2 * p] = shared + list(range(user + 80, user + 90))
        groups[2 * p + 1] = shared + list(range(user + 90, user + 100))
        user += 100
    for p in range(30, 60):
        shared = list(range(user, user + 5))
        groups[2 * p] = shared + list(range(user + 5, user + 53))
        groups[2 * p + 1] = shared + list(range(user + 53, user + 100))
        user += 100
    matrix = _matrix(groups, user)
    sig = s.minhash_signatures(matrix, s.user_hashes([str(u) for u in range(user)]), num_perm=128)
    pairs = {tuple(p) for p in s.lsh_candidate_pairs(sig, bands=32, rows=4).tolist()}
    high = {(2 * p, 2 * p + 1) for p in range(30)}
    low = {(2 * p, 2 * p + 1) for p in range(30, 60)}
    # P(candidate) = 1 - (1 - s^4)^32: s = 0.8 -> ~1.0; s = 0.05 -> ~2e-4
    assert high <= pairs
    assert len(low & pairs) <= 1
    # No pair across groups (disjoint users) is a candidate... unless 4 hash minima collide: never here.
    assert pairs <= high | low
    # One row per band (128 bands): P = 1 - 0.95^128 ~ 0.9986 for s = 0.05: the low pairs now show up.
    wide = {tuple(p) for p in s.lsh_candidate_pairs(sig, bands=128, rows=1).tolist()}
    assert len(low & wide) >= 27
    with pytest.raises(ValueError, match="exceeds"):
        s.lsh_candidate_pairs(sig, bands=33, rows=4)


def test_minhash_topk_recall_is_low_on_taste_data_with_usual_bands():
    data = generate(8000, 400, 60_000, seed=4)
    matrix = s.binary_matrix(data.users, data.items, data.n_users, data.n_items)
    exact = s.exact_jaccard_topk(matrix, 10)
    hashes = s.user_hashes([str(u) for u in range(data.n_users)])
    usual = s.minhash_topk(matrix, hashes, 10, bands=32, rows=4)
    assert np.median(exact.scores[:, 0]) < 0.3  # interaction data: low Jaccard values
    assert s.top_k_recall(usual, exact, 10) < 0.3
    assert s.top_k_recall(exact, exact, 10) == 1.0


def test_chooser_keeps_exact_when_minhash_misses_neighbours():
    data = generate(3000, 400, 60_000, seed=5)
    matrix = s.binary_matrix(data.users, data.items, data.n_users, data.n_items)
    choice = s.choose_neighbours(matrix, s.user_hashes([str(u) for u in range(data.n_users)]), k=10)
    assert choice.method == "exact"
    assert "recall" in choice.reason and choice.minhash_top10_recall < 0.9
    assert np.array_equal(choice.neighbours.indices, s.exact_jaccard_topk(matrix, 10).indices)


def test_chooser_picks_minhash_when_it_is_accurate_and_faster(monkeypatch):
    # Near-duplicate items (J ~ 0.9) make MinHash accurate; a slowed-down exact makes it the faster one.
    groups = {}
    for p in range(40):
        base = list(range(p * 50, p * 50 + 45))
        groups[2 * p] = base + [p * 50 + 45, p * 50 + 46]
        groups[2 * p + 1] = base + [p * 50 + 47, p * 50 + 48]
    matrix = _matrix(groups, 2000)
    real_exact = s.exact_jaccard_topk

    def slow_exact(*args, **kwargs):
        time.sleep(0.5)
        return real_exact(*args, **kwargs)

    monkeypatch.setattr(s, "exact_jaccard_topk", slow_exact)
    choice = s.choose_neighbours(matrix, s.user_hashes([str(u) for u in range(2000)]), k=1, sample_items=20)
    assert choice.method == "minhash", choice.reason
    assert choice.minhash_top10_recall >= 0.9
    assert choice.exact_seconds_extrapolated and choice.exact_seconds > choice.minhash_seconds
