"""Synthetic interactions with taste structure, vectorised so 10 M rows take seconds.

Used by the benchmark and the tests (the data-preparation issue's generator writes raw CSV exports; this
one produces index arrays directly, which is what the similarity code consumes). Structure:
- items belong to one of `tastes` groups; within a group, item popularity follows a Zipf-like law;
- each user has a main and a second taste and a heavy-tailed activity level (a few heavy users);
- an interaction picks the main taste with probability 0.65, the second 0.2, anything else 0.15.
This gives the low Jaccard values seen on real viewing data (best neighbour a few percent) with clear
taste neighbourhoods for the curation to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400


@dataclass(frozen=True)
class Synthetic:
    users: np.ndarray  # int32
    items: np.ndarray  # int32
    timestamps: np.ndarray  # int64
    item_taste: np.ndarray  # int32 per item
    created: np.ndarray  # int64 creation timestamp per item
    n_users: int
    n_items: int


def generate(
    n_users: int,
    n_items: int,
    n_interactions: int,
    tastes: int = 40,
    days: int = 90,
    end: int = 1_790_000_000,
    seed: int = 0,
) -> Synthetic:
    rng = np.random.default_rng(seed)
    item_taste = rng.integers(0, tastes, n_items).astype(np.int32)
    # Items of each taste in popularity order, with Zipf(1.0)-like weights.
    by_taste = [np.flatnonzero(item_taste == g) for g in range(tastes)]
    cum_by_taste = []
    for members in by_taste:
        rng.shuffle(members)
        w = 1.0 / np.arange(1, len(members) + 1) ** 0.9
        cum_by_taste.append(np.cumsum(w) / w.sum() if len(members) else np.array([1.0]))
    global_w = 1.0 / np.arange(1, n_items + 1) ** 0.8
    global_order = rng.permutation(n_items)
    global_cum = np.cumsum(global_w) / global_w.sum()

    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    per_user = rng.multinomial(n_interactions, activity / activity.sum())
    users = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    main = rng.integers(0, tastes, n_users)
    second = (main + rng.integers(1, tastes, n_users)) % tastes
    choice = rng.random(n_interactions)
    taste = np.where(choice < 0.65, main[users], second[users])
    items = np.empty(n_interactions, dtype=np.int32)
    anything = choice >= 0.85
    items[anything] = global_order[
        np.minimum(np.searchsorted(global_cum, rng.random(int(anything.sum()))), n_items - 1)
    ]
    for g in range(tastes):
        pick = (taste == g) & ~anything
        count = int(pick.sum())
        if count and len(by_taste[g]):
            pos = np.minimum(np.searchsorted(cum_by_taste[g], rng.random(count)), len(by_taste[g]) - 1)
            items[pick] = by_taste[g][pos]
    start = end - days * DAY
    # 5% of the catalogue is released in the last 30 days; the rest long before the window.
    created = np.where(
        rng.random(n_items) < 0.05,
        end - rng.integers(1, 30 * DAY, n_items),
        start - rng.integers(DAY, 3 * 365 * DAY, n_items),
    ).astype(np.int64)
    timestamps = rng.integers(start, end, n_interactions).astype(np.int64)
    # Nobody watches an item before it is released.
    timestamps = np.maximum(timestamps, created[items] + 60)
    timestamps = np.minimum(timestamps, end - 1)
    return Synthetic(users, items, timestamps, item_taste, created, n_users, n_items)


GENRES = (
    "drama",
    "comedy",
    "thriller",
    "documentary",
    "animation",
    "romance",
    "sci-fi",
    "horror",
    "family",
    "crime",
)


def to_dataset(data: Synthetic, extra_users: int = 0):
    """A `Dataset` with string ids, titles and genres (two per taste), plus users with no history."""
    from evaluation.data import Dataset, ItemInfo

    info = {
        f"i{j:06d}": ItemInfo(
            title=f"Title {j} <{GENRES[data.item_taste[j] % len(GENRES)]}>",
            genres=(
                GENRES[data.item_taste[j] % len(GENRES)],
                GENRES[(data.item_taste[j] // len(GENRES)) % len(GENRES)],
            ),
            created=int(data.created[j]),
        )
        for j in range(data.n_items)
    }
    records = zip(
        (f"u{u:07d}" for u in data.users.tolist()),
        (f"i{j:06d}" for j in data.items.tolist()),
        data.timestamps.tolist(),
        strict=True,
    )
    cold = [f"new{u:05d}" for u in range(extra_users)]
    return Dataset.from_records(records, info, cold)
