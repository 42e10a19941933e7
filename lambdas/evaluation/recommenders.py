"""Two of the recommenders compared on the page: current curation and popularity (the open baseline is
evaluation.open_baseline, Personalize the batch output).

Curation (the legacy logic, made fast): a user's list is the merged top-k Jaccard neighbours of their most
recent items, each candidate scored by the sum of its similarities to those items, minus everything the
user already saw, top N. The legacy page shows a full row, so a list shorter than N is filled with the
popularity list (unseen items), and a user with no history gets the popularity list: that is what makes
the curation's cold-start figure what it is, and the page says so.

Popularity: the items with the most distinct users over the last 7 days of the history, same list for all.

Equal scores in both are ordered by evaluation.ties' rule (the item's latest interaction, then a seeded hash), as
the report SQL orders them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from evaluation.data import DAY
from evaluation.similarity import Neighbours, _rank_within_rows
from evaluation.ties import tie_order


def popularity_counts(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, n_items: int, until: int, days: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    """Per item: distinct users in [until - days, until), and the latest interaction time in it (0 if none)."""
    recent = (timestamps >= until - days * DAY) & (timestamps < until)
    pairs = np.unique(users[recent].astype(np.int64) * n_items + items[recent])
    counts = np.bincount(pairs % n_items, minlength=n_items)
    last = np.zeros(n_items, dtype=np.int64)
    np.maximum.at(last, items[recent], timestamps[recent].astype(np.int64))
    return counts, last


def popularity_ranking(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray,
    n_items: int,
    until: int,
    days: int = 7,
    item_ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Item indices by distinct users in [until - days, until), most popular first, ties by evaluation.ties'
    rule on `item_ids` (default: each index as text, for callers that have no ids)."""
    counts, last = popularity_counts(users, items, timestamps, n_items, until, days)
    ids = [str(x) for x in range(n_items)] if item_ids is None else item_ids
    ranked = np.lexsort((tie_order(ids, last), -counts))
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
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float64), (u[keep], i[keep])), shape=(n_users, n_items))


def curation_lists(
    seen: sp.csr_matrix,
    recent: sp.csr_matrix,
    neighbours: Neighbours,
    popular: np.ndarray,
    n: int,
    users: np.ndarray,
    chunk: int = 20_000,
    tie_rank: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Top-n item indices for each user in `users` (see the module docstring for the rules)."""
    return curation_with_fill(seen, recent, neighbours, popular, n, users, chunk, tie_rank)[0]


def curation_with_fill(
    seen: sp.csr_matrix,
    recent: sp.csr_matrix,
    neighbours: Neighbours,
    popular: np.ndarray,
    n: int,
    users: np.ndarray,
    chunk: int = 20_000,
    tie_rank: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The curation lists and, per user, how many leading items came from the neighbours (the rest of a list is
    the popularity fallback). Equal scores are ordered by `tie_rank` (evaluation.ties.tie_order of each item;
    default the item index)."""
    n_items = seen.shape[1]
    similarity = neighbours.to_sparse(n_items)  # items x items
    out: list[np.ndarray] = []
    picked_counts = np.zeros(len(users), dtype=np.int64)
    for start in range(0, len(users), chunk):
        block = users[start : start + chunk]
        scores = (recent[block] @ similarity).tocsr()
        # Drop what the user already saw: multiply by (1 - seen) on the sparse pattern only.
        seen_block = seen[block]
        scores = scores - scores.multiply(seen_block)
        scores.eliminate_zeros()
        coo = scores.tocoo()
        top = _top_by_score(coo.row, coo.col, coo.data, len(block), n, tie_rank)
        for row, user_items in enumerate(top):
            picked = user_items[user_items >= 0]
            picked_counts[start + row] = len(picked)
            if len(picked) < n:
                already = set(picked.tolist()) | set(
                    seen_block.indices[seen_block.indptr[row] : seen_block.indptr[row + 1]].tolist()
                )
                fill = [p for p in popular[: n + len(already)].tolist() if p not in already][: n - len(picked)]
                picked = np.concatenate([picked, np.asarray(fill, dtype=np.int32)])
            out.append(picked)
    return out, picked_counts


def _top_by_score(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int, k: int, tie_rank: np.ndarray | None
) -> np.ndarray:
    """(n_rows, k) item indices by score descending, equal scores by tie_rank (or the index), -1 past the end."""
    if tie_rank is None:
        return _rank_within_rows(rows, cols, vals, n_rows, k)[0]
    # Rank on the tie positions, then map the positions back to items.
    by_position = np.empty(len(tie_rank), dtype=np.int32)
    by_position[tie_rank] = np.arange(len(tie_rank), dtype=np.int32)
    top, _ = _rank_within_rows(rows, tie_rank[cols], vals, n_rows, k)
    return np.where(top >= 0, by_position[np.maximum(top, 0)], -1)
