"""The open baseline: the `implicit` package's item-item BM25 recommender, trained on the same history.

What a few seconds of maintained open-source code give, so the page can say whether Personalize buys more.
Rules, the same as the curation's so both are scored on the same users and list lengths:
- trained on the history (interactions before the cutoff), one binary (user, item) cell per pair;
- a user's list: the top `list_length` unseen items by BM25 item-item score of their history (implicit's
  `filter_already_liked_items`), filled with the popularity list (unseen items) when shorter; a title is
  unseen when it is in none of the user's history, the part trained on (`users`, `items`) and the older part
  given as `older_seen` (the SQL path trains on each user's newest titles only: evaluation.queries);
- a user with no history gets the popularity list.
BM25 item-item (not ALS) because it is deterministic: no random initialisation, the same lists on every run.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# implicit warns (and slows down) when OpenBLAS runs its own threads beside implicit's. OpenBLAS reads this when
# numpy first loads, so `make report` and the report image (lambdas/Dockerfile.report) set it too.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from pydantic import BaseModel  # noqa: E402

NAME = "open_baseline"
NEIGHBOURS = 100  # implicit's default K for its item-item recommenders
CHUNK = 5000


class OpenBaselineInfo(BaseModel):
    library: str
    method: str
    neighbours_k: int
    training_seconds: float
    recommend_seconds: float
    users_trained: int


@dataclass
class OpenBaseline:
    lists: dict[str, list[str]]
    info: OpenBaselineInfo


def train_and_recommend(
    users: np.ndarray,
    items: np.ndarray,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    popular: Sequence[int],
    list_length: int,
    for_users: Sequence[int] | None = None,
    older_seen: Mapping[int, Sequence[int]] | None = None,
) -> OpenBaseline:
    """Lists (item ids) for `for_users` (indices; default all) from history pairs `users`, `items` (indices);
    `older_seen`: user index -> further seen items (indices), kept out of the user's list but not trained on."""
    # Imported here: the report models (OpenBaselineInfo) load without the library.
    import implicit
    from implicit.nearest_neighbours import BM25Recommender

    n_users, n_items = len(user_ids), len(item_ids)
    seen = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items), dtype=np.float32
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0
    model = BM25Recommender(K=NEIGHBOURS, num_threads=1)
    started = time.perf_counter()
    if seen.nnz:  # no history at all: nothing to train, everyone gets the popularity list
        with warnings.catch_warnings():
            # implicit's own bm25_weight hands fit a COO matrix and then warns about it (implicit 0.7.3).
            warnings.filterwarnings("ignore", message="Method expects CSR input", module="implicit")
            model.fit(seen, show_progress=False)
    trained = time.perf_counter() - started

    targets = np.arange(n_users) if for_users is None else np.asarray(for_users, dtype=np.int64)
    history = np.diff(seen.indptr)
    started = time.perf_counter()
    lists: dict[str, list[str]] = {}
    older = {user: set(map(int, extra)) for user, extra in (older_seen or {}).items() if extra}
    warm = targets[history[targets] > 0]
    for start in range(0, len(warm), CHUNK):
        block = warm[start : start + CHUNK]
        # Asking for as many more as the block's longest older part leaves list_length once those are dropped;
        # the scores stay those of the trained history.
        depth = min(n_items, list_length + max((len(older.get(user, ())) for user in block.tolist()), default=0))
        ids, scores = model.recommend(block, seen[block], N=depth, filter_already_liked_items=True)
        ids, scores = np.atleast_2d(ids), np.atleast_2d(scores)
        for row, user in enumerate(block.tolist()):
            extra = older.get(user, set())
            picked = [
                int(j)
                for j, s in zip(ids[row], scores[row], strict=True)
                if j >= 0 and np.isfinite(s) and s > 0 and int(j) not in extra
            ][:list_length]
            if len(picked) < list_length:
                trained_on = seen.indices[seen.indptr[user] : seen.indptr[user + 1]].tolist()
                already = set(picked) | set(trained_on) | extra
                picked += [p for p in popular if p not in already][: list_length - len(picked)]
            lists[user_ids[user]] = [item_ids[j] for j in picked]
    cold_list = [item_ids[j] for j in list(popular)[:list_length]]
    for user in targets[history[targets] == 0].tolist():
        lists[user_ids[user]] = cold_list
    return OpenBaseline(
        lists=lists,
        info=OpenBaselineInfo(
            library=f"implicit {implicit.__version__}",
            method=f"item-item BM25, top-{NEIGHBOURS} neighbours, unseen items only",
            neighbours_k=NEIGHBOURS,
            training_seconds=round(trained, 4),
            recommend_seconds=round(time.perf_counter() - started, 4),
            users_trained=int((history > 0).sum()),
        ),
    )


def from_history(
    rows: Iterable[Mapping],
    catalogue: Iterable[str],
    popular: Sequence[str],
    list_length: int,
    for_users: Iterable[str],
) -> OpenBaseline:
    """Train on the report SQL's history rows (report_history: `user_id`, `items`), lists for `for_users`;
    a row's `older_items` (titles older than its `items`) are kept out of that user's list, not trained on.

    `catalogue` (report_items) gives the item dimension, which BM25's weights depend on (its item count and mean
    item length), so the model equals the one trained on the full data when the history bounds did not bind.
    Ids are indexed in sorted order, as evaluation.data's, so ties break the same way.
    """
    rows = list(rows)
    history = [(str(row["user_id"]), [str(item) for item in row.get("items") or ()]) for row in rows]
    older = {str(row["user_id"]): [str(item) for item in row.get("older_items") or ()] for row in rows}
    targets = set(map(str, for_users))
    item_ids = sorted(set(catalogue).union(*(items for _, items in history), *older.values(), popular))
    user_ids = sorted({user for user, _ in history} | targets)
    item_index = {item: n for n, item in enumerate(item_ids)}
    user_index = {user: n for n, user in enumerate(user_ids)}
    pairs = sum(len(items) for _, items in history)
    users = np.fromiter((user_index[user] for user, items in history for _ in items), dtype=np.int32, count=pairs)
    items = np.fromiter((item_index[item] for _, its in history for item in its), dtype=np.int32, count=pairs)
    return train_and_recommend(
        users,
        items,
        user_ids,
        item_ids,
        [item_index[item] for item in popular],
        list_length,
        for_users=sorted(user_index[user] for user in targets),
        older_seen={user_index[user]: [item_index[item] for item in items] for user, items in older.items() if items},
    )


def from_dataset(dataset, run_date, list_length: int, truth_days: int, popularity_days: int) -> OpenBaseline:
    """Train on a Dataset's history (the report's time split and popularity list), lists for every user."""
    from evaluation.data import time_split, window_end
    from evaluation.recommenders import popularity_ranking

    split = time_split(dataset, window_end(run_date), truth_days)
    u, i, t = dataset.users[split.train], dataset.items[split.train], dataset.timestamps[split.train]
    popular = popularity_ranking(
        u, i, t, dataset.n_items, until=split.cutoff, days=popularity_days, item_ids=dataset.item_ids
    )
    return train_and_recommend(u, i, dataset.user_ids, dataset.item_ids, popular.tolist(), list_length)
