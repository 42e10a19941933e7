"""The tie rule of the popularity, item-neighbour and curation rankings, and how many popularity slots it decided.

Equal scores (distinct users for popularity, Jaccard for an item's neighbours, summed similarity for the curation)
are ordered by the item's most recent interaction in the history, newest first (the item users touched last is
the likelier next one), then by the md5 of `TIE_SEED#item_id` as lowercase hex: a seeded hash, so no catalogue's
id scheme (numeric ids, prefixes) decides the order. The report SQL (evaluation/sql/_report_base.sql) spells the
same rule with Athena/Trino functions, `lower(to_hex(md5(to_utf8('<seed>#' || item_id))))`, which the local runner
translates to DuckDB; the item id itself is the last key only so the order is total should two hashes ever collide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from evaluation.queries import TIE_SEED

TIE_RULE = (
    "equal counts are ordered by the item's most recent interaction in the history (newest first), then by a "
    f"seeded hash of the item id (md5 of '{TIE_SEED}#<item id>'), never by the id itself"
)


def tie_hash(item_id: str) -> str:
    """The last tie key of an item: what the SQL's lower(to_hex(md5(to_utf8(seed || '#' || item_id)))) gives."""
    return hashlib.md5(f"{TIE_SEED}#{item_id}".encode()).hexdigest()


def tie_order(item_ids: Sequence[str], last_ts: np.ndarray) -> np.ndarray:
    """Each item's position under the tie rule alone (0 = first): a secondary sort key for a ranking."""
    hashes = np.array([tie_hash(item) for item in item_ids], dtype=object)
    order = np.lexsort((np.asarray(item_ids, dtype=object), hashes, -np.asarray(last_ts, dtype=np.int64)))
    rank = np.empty(len(item_ids), dtype=np.int64)
    rank[order] = np.arange(len(item_ids))
    return rank


class TieShare(BaseModel):
    """How much of the popularity list the tie rule decided (report.json `composition.popularity_ties`)."""

    rule: str = TIE_RULE
    slots: int  # slots of the popularity list (at most the list length)
    tied_share: float | None  # share of slots whose item has the same count as its neighbour in the ranking
    hash_share: float | None  # of all slots, the share where the recency was equal too, so the hash decided


def tie_share(counts: Sequence[int], last_ts: Sequence[int], slots: int) -> TieShare:
    """Tie figures of the first `slots` items of a ranking, given every ranked item's count and last interaction
    in rank order (one item past the list is enough to see a tie across its end: it decided what got in)."""
    n = min(slots, len(counts))
    tied = by_hash = 0
    for r in range(n):
        neighbours = [x for x in (r - 1, r + 1) if 0 <= x < len(counts)]
        same = [x for x in neighbours if counts[x] == counts[r]]
        tied += bool(same)
        by_hash += any(last_ts[x] == last_ts[r] for x in same)
    return TieShare(slots=n, tied_share=tied / n if n else None, hash_share=by_hash / n if n else None)
