"""Item-item Jaccard top-k neighbours: exact (sparse products), legacy (pairwise sets), MinHash + LSH.

Jaccard(A, B) = |A ∩ B| / |A ∪ B| over the sets of users who interacted with items A and B in the window.

- `exact_jaccard_topk`: binary user x item matrix X; co-occurrence X^T X gives every |A ∩ B| at once and
  |A ∪ B| = |A| + |B| - |A ∩ B|. Rows are processed in chunks so at most `max_block_bytes` of dense
  similarities exist at any time, whatever the catalogue size.
- `naive_jaccard_topk`: what the legacy curation does (Python sets, pair by pair); kept for the benchmark and
  as the reference the exact method is tested against.
- `minhash_signatures` + `lsh_candidate_pairs` + `minhash_topk`: estimated Jaccard from signatures, candidate
  pairs from LSH banding. A signature is, per seed, the minimum over an item's users of hash(user_id, seed),
  so it can be computed where the data lives. On Athena (Trino SQL), for catalogues too big for one machine:

      SELECT item_id, seed,
             min(from_big_endian_64(xxhash64(to_utf8(user_id || '#' || CAST(seed AS varchar))))) AS h
      FROM interactions CROSS JOIN UNNEST(sequence(1, 128)) AS t(seed)
      GROUP BY item_id, seed

  and the estimated Jaccard of two items is the share of seeds where their `h` agree (a self-join on
  (seed, h) counts the agreements per pair). Athena's hash differs from the local one below, so signatures
  are not bit-identical, but the estimator is the same.

Interaction data has low Jaccard values (best neighbour ~0.05 on our generated data). With the usual
banding (32 bands x 4 rows) a pair at s = 0.05 becomes a candidate with probability 1 - (1 - s^4)^32 ~ 2e-4,
so LSH misses most true neighbours; `choose_neighbours` measures this rather than assuming it.

Neighbour lists are arrays of shape (n_items, k): `indices` (-1 = no neighbour) and `scores`, sorted by
score descending. Equal scores go by `tie_rank` (each item's position under evaluation.ties' rule: latest
interaction, then a seeded hash, as the report SQL's `neighbours` step orders them), or by the smaller item index
when none is given, so every method orders equal scores the same way.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_U64 = np.uint64


@dataclass(frozen=True)
class Neighbours:
    """Top-k neighbours per item (row i = item i, or the i-th of `rows` when computed for a subset)."""

    indices: np.ndarray  # int32 (rows, k), -1 where an item has fewer than k neighbours with Jaccard > 0
    scores: np.ndarray  # float64 (rows, k), 0 where indices is -1

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def take(self, rows: np.ndarray) -> Neighbours:
        return Neighbours(self.indices[rows], self.scores[rows])

    def to_sparse(self, n_items: int) -> sp.csr_matrix:
        """(rows x n_items) matrix of the neighbour scores, for merging neighbours by matrix products."""
        rows, slots = np.nonzero(self.indices >= 0)
        return sp.csr_matrix(
            (self.scores[rows, slots], (rows, self.indices[rows, slots])),
            shape=(self.indices.shape[0], n_items),
        )


def binary_matrix(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix: repeated interactions count once (Jaccard is about sets of users)."""
    matrix = sp.csr_matrix(
        (np.ones(len(user_idx), dtype=np.float32), (np.asarray(user_idx), np.asarray(item_idx))),
        shape=(n_users, n_items),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def top_k_dense(block: np.ndarray, k: int, tie_rank: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k positive entries of each row of a dense block: (indices, scores); ties -> smaller tie_rank of the
    column (default the column itself)."""
    n_rows, n_cols = block.shape
    indices = np.full((n_rows, k), -1, dtype=np.int32)
    scores = np.zeros((n_rows, k), dtype=np.float64)
    if n_rows == 0 or n_cols == 0 or k == 0:
        return indices, scores
    # A cheap lower bound of each row's k-th largest value: split the row into >= k column groups and take
    # the k-th largest of the group maxima (k distinct entries are >= it). Entries below the bound cannot be
    # in the top k; the few above it (ties included) are ranked exactly, so ties never depend on the order
    # a partial sort would have left them in. A full np.partition per row costs several times more.
    groups = max(k, min(4 * k, n_cols))
    width = -(-n_cols // groups)
    groups = -(-n_cols // width)
    padded = block
    if groups * width != n_cols:
        padded = np.zeros((n_rows, groups * width), dtype=block.dtype)
        padded[:, :n_cols] = block
    maxima = padded.reshape(n_rows, groups, width).max(axis=2)
    kk = min(k, groups)
    bound = np.partition(maxima, groups - kk, axis=1)[:, groups - kk]
    rows, cols = np.nonzero((block >= bound[:, None]) & (block > 0))
    return _rank_within_rows(rows, cols, block[rows, cols], n_rows, k, tie_rank)


def _rank_within_rows(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int, k: int, tie_rank: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sort (row, col, val) triples by row, score desc, tie_rank[col] (default col) asc; keep each row's first k."""
    indices = np.full((n_rows, k), -1, dtype=np.int32)
    scores = np.zeros((n_rows, k), dtype=np.float64)
    if len(rows) == 0:
        return indices, scores
    order = np.lexsort((cols if tie_rank is None else tie_rank[cols], -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - starts[rows]
    keep = rank < k
    indices[rows[keep], rank[keep]] = cols[keep]
    scores[rows[keep], rank[keep]] = vals[keep]
    return indices, scores


def exact_jaccard_topk(
    matrix: sp.csr_matrix,
    k: int,
    rows: np.ndarray | None = None,
    max_block_bytes: int = 16 * 2**20,
    workers: int | None = None,
    tie_rank: np.ndarray | None = None,
) -> Neighbours:
    """Exact top-k Jaccard neighbours of every item (or of the items in `rows`), self excluded, equal scores by
    `tie_rank` (see the module docstring).

    `max_block_bytes` bounds the dense similarity block of each chunk (per worker thread).
    """
    workers = workers or min(2, os.cpu_count() or 1)
    n_items = matrix.shape[1]
    items_by_user = matrix.T.tocsr()  # items x users: row i is item i's users
    size = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
    targets = np.arange(n_items) if rows is None else np.asarray(rows, dtype=np.int64)
    # float64 similarities (8 bytes each, plus the intersection block): chunk so a block stays in budget.
    chunk = max(1, min(len(targets), max_block_bytes // (16 * max(n_items, 1))))
    out_idx = np.full((len(targets), k), -1, dtype=np.int32)
    out_sc = np.zeros((len(targets), k), dtype=np.float64)

    def one_chunk(start: int) -> None:
        block_items = targets[start : start + chunk]
        jaccard = (items_by_user[block_items] @ matrix).toarray().astype(np.float64)  # |A ∩ B|
        union = size[block_items, None] + size[None, :]
        union -= jaccard
        np.divide(jaccard, union, out=jaccard, where=jaccard > 0)  # in place: zeros stay zeros
        jaccard[np.arange(len(block_items)), block_items] = 0.0  # an item is not its own neighbour
        out_idx[start : start + chunk], out_sc[start : start + chunk] = top_k_dense(jaccard, k, tie_rank)

    # numpy and scipy's sparse product release the GIL on large arrays: chunks run on all cores.
    starts = range(0, len(targets), chunk)
    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one_chunk, starts))
    else:
        for start in starts:
            one_chunk(start)
    return Neighbours(out_idx, out_sc)


def user_sets(matrix: sp.csr_matrix) -> list[set[int]]:
    """Each item's set of users: the legacy method's data structure."""
    by_item = matrix.T.tocsr()
    return [
        set(by_item.indices[by_item.indptr[i] : by_item.indptr[i + 1]].tolist())
        for i in range(matrix.shape[1])
    ]


def naive_jaccard_topk(sets: Sequence[set[int]], k: int, rows: Sequence[int] | None = None) -> Neighbours:
    """Legacy curation: Jaccard of every pair of item user-sets, one pair at a time."""
    targets = list(range(len(sets))) if rows is None else list(rows)
    out_idx = np.full((len(targets), k), -1, dtype=np.int32)
    out_sc = np.zeros((len(targets), k), dtype=np.float64)
    for r, i in enumerate(targets):
        a = sets[i]
        found: list[tuple[float, int]] = []
        for j, b in enumerate(sets):
            if j == i:
                continue
            inter = len(a & b)
            if inter:
                found.append((-(inter / (len(a) + len(b) - inter)), j))
        found.sort()
        for slot, (neg_score, j) in enumerate(found[:k]):
            out_idx[r, slot] = j
            out_sc[r, slot] = -neg_score
    return Neighbours(out_idx, out_sc)


# --- MinHash + LSH -----------------------------------------------------------------------------------


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap, well-mixed 64-bit hash, vectorised (uint64 arithmetic wraps)."""
    x = x.astype(_U64, copy=True)
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def user_hashes(user_ids: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash of each user id (independent of row order, like hash(user_id) in SQL)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(u.encode(), digest_size=8).digest(), "little") for u in user_ids),
        dtype=_U64,
        count=len(user_ids),
    )


def minhash_signatures(
    matrix: sp.csr_matrix,
    user_hash: np.ndarray,
    num_perm: int = 128,
    seed: int = 1,
    max_block_bytes: int = 2**28,
) -> np.ndarray:
    """(num_perm, n_items) uint32 signatures: per seed, min over the item's users of hash(user, seed).

    Items with no users get the maximum value in every row; `minhash_topk` never pairs them.
    """
    by_item = matrix.tocsc()
    by_item.sort_indices()
    n_items = matrix.shape[1]
    seeds = _mix64(np.arange(seed, seed + num_perm, dtype=_U64) * _U64(0x9E3779B97F4A7C15))
    signatures = np.full((num_perm, n_items), np.iinfo(np.uint32).max, dtype=np.uint32)
    starts = by_item.indptr[:-1]
    nonempty = np.flatnonzero(np.diff(by_item.indptr) > 0)
    if len(nonempty) == 0:
        return signatures
    per_chunk = max(1, max_block_bytes // (4 * max(by_item.nnz, 1)))
    for p0 in range(0, num_perm, per_chunk):
        p1 = min(num_perm, p0 + per_chunk)
        # Top 32 bits of a 64-bit mix of (user hash, seed): one row of hash values per seed.
        hashed = (_mix64(user_hash[None, :] ^ seeds[p0:p1, None]) >> _U64(32)).astype(np.uint32)
        # Empty items have zero-length segments, so reducing at the non-empty starts only is exact.
        signatures[p0:p1, nonempty] = np.minimum.reduceat(
            hashed[:, by_item.indices], starts[nonempty], axis=1
        )
    return signatures


def estimated_jaccard(signatures: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Share of signature rows where two items agree: an unbiased estimate of their Jaccard."""
    out = np.empty(len(left), dtype=np.float64)
    step = max(1, 2**24 // max(signatures.shape[0], 1))
    for s in range(0, len(left), step):
        out[s : s + step] = (signatures[:, left[s : s + step]] == signatures[:, right[s : s + step]]).mean(
            axis=0
        )
    return out


def lsh_candidate_pairs(
    signatures: np.ndarray, bands: int, rows: int, valid: np.ndarray | None = None
) -> np.ndarray:
    """Unique (i, j) pairs, i < j, whose signatures agree on all `rows` of at least one of `bands` bands."""
    num_perm, n_items = signatures.shape
    if bands * rows > num_perm:
        raise ValueError(f"bands x rows = {bands * rows} exceeds the {num_perm} signature rows")
    items = np.arange(n_items) if valid is None else np.flatnonzero(valid)
    found: list[np.ndarray] = []
    for band in range(bands):
        key = np.zeros(len(items), dtype=_U64)
        for r in range(band * rows, (band + 1) * rows):
            key = _mix64(key ^ signatures[r, items].astype(_U64))
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        boundaries = np.flatnonzero(np.diff(sorted_keys)) + 1
        for group in np.split(order, boundaries):
            if len(group) > 1:
                a, b = np.triu_indices(len(group), 1)
                members = np.sort(items[group])
                found.append(members[a] * n_items + members[b])
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found).astype(np.int64))
    return np.stack([codes // n_items, codes % n_items], axis=1)


def minhash_topk(
    matrix: sp.csr_matrix,
    user_hash: np.ndarray,
    k: int,
    num_perm: int = 128,
    bands: int = 32,
    rows: int = 4,
    seed: int = 1,
    tie_rank: np.ndarray | None = None,
) -> Neighbours:
    """Top-k neighbours among LSH candidates, ranked by signature-estimated Jaccard (equal estimates by
    `tie_rank`)."""
    n_items = matrix.shape[1]
    signatures = minhash_signatures(matrix, user_hash, num_perm=num_perm, seed=seed)
    valid = np.diff(matrix.tocsc().indptr) > 0
    pairs = lsh_candidate_pairs(signatures, bands, rows, valid)
    if len(pairs) == 0:
        return Neighbours(np.full((n_items, k), -1, dtype=np.int32), np.zeros((n_items, k)))
    est = estimated_jaccard(signatures, pairs[:, 0], pairs[:, 1])
    keep = est > 0
    left, right, est = pairs[keep, 0], pairs[keep, 1], est[keep]
    # Both directions: j is a neighbour of i and i of j.
    idx, scores = _rank_within_rows(
        np.concatenate([left, right]), np.concatenate([right, left]), np.concatenate([est, est]), n_items, k, tie_rank
    )
    return Neighbours(idx, scores)


def top_k_recall(approx: Neighbours, exact: Neighbours, k: int = 10) -> float:
    """Share of the exact top-k neighbours (over all items) that the approximate top-k also holds."""
    hits = total = 0
    for a_row, e_row in zip(approx.indices[:, :k], exact.indices[:, :k], strict=True):
        truth = set(e_row[e_row >= 0].tolist())
        total += len(truth)
        hits += len(truth & set(a_row[a_row >= 0].tolist()))
    return hits / total if total else 1.0


# --- choosing a method ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurationChoice:
    """Which neighbour method the curation used, and the measurements behind the choice."""

    method: str  # "exact" or "minhash"
    reason: str
    neighbours: Neighbours
    exact_seconds: (
        float  # full catalogue; extrapolated from `sample_items` rows when exact was not run in full
    )
    exact_seconds_extrapolated: bool
    minhash_seconds: float
    minhash_top10_recall: float
    sample_items: int


def choose_neighbours(
    matrix: sp.csr_matrix,
    user_hash: np.ndarray,
    k: int = 20,
    recall_goal: float = 0.9,
    sample_items: int = 300,
    seed: int = 7,
    num_perm: int = 128,
    bands: int = 32,
    rows: int = 4,
    tie_rank: np.ndarray | None = None,
) -> CurationChoice:
    """Use MinHash only if it reaches `recall_goal` top-10 recall vs exact AND takes less time than exact.
    Either orders equal scores by `tie_rank` (see the module docstring).

    Exact is timed on a random sample of items (its cost is linear in the rows computed) and extrapolated;
    MinHash is timed in full (its signatures are global). Recall is measured on the same sample.
    """
    n_items = matrix.shape[1]
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(matrix.tocsc().indptr) > 0)
    sampled = np.sort(rng.choice(active, size=min(sample_items, len(active)), replace=False))
    full_sample = len(sampled) == n_items

    t0 = time.perf_counter()
    exact_sample = exact_jaccard_topk(matrix, k, rows=sampled, tie_rank=tie_rank)
    sample_seconds = time.perf_counter() - t0
    exact_seconds = sample_seconds * (n_items / max(len(sampled), 1))

    t0 = time.perf_counter()
    approx = minhash_topk(matrix, user_hash, k, num_perm=num_perm, bands=bands, rows=rows, tie_rank=tie_rank)
    minhash_seconds = time.perf_counter() - t0
    recall = top_k_recall(approx.take(sampled), exact_sample, 10)

    if recall >= recall_goal and minhash_seconds < exact_seconds:
        reason = (
            f"MinHash+LSH reached top-10 recall {recall:.3f} >= {recall_goal} vs exact on {len(sampled)} "
            "sampled "
            f"items and took {minhash_seconds:.2f} s < {exact_seconds:.2f} s for exact"
        )
        return CurationChoice(
            "minhash", reason, approx, exact_seconds, not full_sample, minhash_seconds, recall, len(sampled)
        )
    if recall < recall_goal:
        why = (
            f"MinHash+LSH top-10 recall {recall:.3f} < {recall_goal} vs exact on {len(sampled)} sampled items"
        )
    else:
        why = f"MinHash+LSH took {minhash_seconds:.2f} s, not less than exact's {exact_seconds:.2f} s"
    if full_sample:
        neighbours = exact_sample
    else:
        t0 = time.perf_counter()
        neighbours = exact_jaccard_topk(matrix, k, tie_rank=tie_rank)
        exact_seconds = time.perf_counter() - t0
    reason = f"{why}; exact sparse Jaccard used"
    return CurationChoice(
        "exact", reason, neighbours, exact_seconds, False, minhash_seconds, recall, len(sampled)
    )
