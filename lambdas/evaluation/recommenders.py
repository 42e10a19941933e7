"""The two non-Personalize recommenders compared on the page: current curation and popularity.

Curation (the legacy logic, made fast): a user's list is the merged top-k Jaccard neighbours of their most
recent items, each candidate scored by the sum of its similarities to those items, minus everything the
user already saw, top N. The legacy page shows a full row, so a list shorter than N is filled with the
popularity list (unseen items), and a user with no history gets the popularity list: that is what makes
the curation's cold-start figure what it is, and the page says so.

Popularity: the items with the most distinct users over the last 7 days of the history, same list for all.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from evaluation.data import DAY
from evaluation.similarity import Neighbours, _rank_within_rows


def popularity_ranking(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, n_items: int, until: int, days: int = 7
) -> np.ndarray:
    """Item indices by distinct users in [until - days, until), most popular first, ties by index."""
    recent = (timestamps >= until - days * DAY) & (timestamps < until)
    pairs = np.unique(users[recent].astype(np.int64) * n_items + items[recent])
    counts = np.bincount(pairs % n_items, minlength=n_items)
    ranked = np.lexsort((np.arange(n_items), -counts))
    return ranked[counts[ranked] > 0]


def recent_items_matrix(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, n_users: int, n_items: int, recent: int
) -> sp.csr_matrix:
    """Binary user x item matrix of each user's `recent` most recently touched distinct items."""
    order = np.lexsort((items, -timestamps, users))  # by user, newest first, ties by item (as the SQL)
    u, i = users[order].astype(np.int64), items[order].astype(np.int64)
    _, first = np.unique(u * n_items + i, return_index=True)  # latest touch of each (user, item)
    first = np.sort(first)
    u, i = u[first], i[first]
    rank = np.arange(len(u)) - np.searchsorted(u, u)  # position within the user's newest-first items
    keep = rank < recent
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float64), (u[keep], i[keep])), shape=(n_users, n_items)
    )


def curation_lists(
    seen: sp.csr_matrix,
    recent: sp.csr_matrix,
    neighbours: Neighbours,
    popular: np.ndarray,
    n: int,
    users: np.ndarray,
    chunk: int = 20_000,
) -> list[np.ndarray]:
    """Top-n item indices for each user in `users` (see the module docstring for the rules)."""
    n_items = seen.shape[1]
    similarity = neighbours.to_sparse(n_items)  # items x items
    out: list[np.ndarray] = []
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        scores = (recent[block] @ similarity).tocsr()
        # Drop what the user already saw: multiply by (1 - seen) on the sparse pattern only.
        seen_block = seen[block]
        scores = scores - scores.multiply(seen_block)
        scores.eliminate_zeros()
        coo = scores.tocoo()
        top, _ = _rank_within_rows(coo.row, coo.col, coo.data, len(block), n)
        for row, user_items in enumerate(top):
            picked = user_items[user_items >= 0]
            if len(picked) < n:
                already = set(picked.tolist()) | set(
                    seen_block.indices[seen_block.indptr[row] : seen_block.indptr[row + 1]].tolist()
                )
                fill = [p for p in popular[: n + len(already)].tolist() if p not in already][
                    : n - len(picked)
                ]
                picked = np.concatenate([picked, np.asarray(fill, dtype=np.int32)])
            out.append(picked)
    return out
