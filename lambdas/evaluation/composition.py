"""What each recommender's lists are made of: how much is the popularity fallback, how much equals popularity.

Over the evaluated users with history (a user without history gets the popularity list from the curation and the
open baseline by construction; the cold-start section shows them):
- fallback_share: of all slots of those users' lists, the share filled by the popularity fallback (a list shorter
  than the list length is completed with popular unseen items). Known where the builder counts it (the curation);
  None for a recommender whose fill is not visible (Personalize);
- overlap_share: the mean share of a list's top OVERLAP_AT that is also in the popularity list's top OVERLAP_AT;
  users_sharing_half: the share of users with at least half of their top OVERLAP_AT shared.

A recommender is *mostly popularity* when more than MOSTLY_POPULARITY_SHARE of its slots come from the fallback,
or more than MOSTLY_POPULARITY_SHARE of its top OVERLAP_AT are popularity's on average (popularity in disguise:
a model that learned to return the popular items). "Curation against popularity" is then largely popularity
against itself, and the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from evaluation import metrics as m
from evaluation.ties import TieShare

POPULARITY = "popularity"
MOSTLY_POPULARITY_SHARE = 0.5
OVERLAP_AT = m.KS[1]
HALF_OF_TOP = (OVERLAP_AT + 1) // 2  # 5 of 10

RULE = (
    f"A recommender is mostly popularity when more than {MOSTLY_POPULARITY_SHARE:.0%} of its slots for users with "
    f"history come from the popularity fallback, or when on average more than {MOSTLY_POPULARITY_SHARE:.0%} of its "
    f"top {OVERLAP_AT} are also in the popularity top {OVERLAP_AT}."
)


class RecommenderComposition(BaseModel):
    name: str
    label: str
    fallback_share: float | None  # share of slots filled by the popularity fallback; None = not known
    overlap_share: float | None  # mean share of the top OVERLAP_AT shared with popularity's top OVERLAP_AT
    users_sharing_half: float | None  # share of users with >= HALF_OF_TOP of their top OVERLAP_AT shared
    mostly_popularity: bool
    text: str | None  # the plain sentence the page shows when mostly_popularity


class Composition(BaseModel):
    rule: str = RULE
    users: int  # evaluated users with history: the figures' population
    overlap_at: int = OVERLAP_AT
    shared_at_least: int = HALF_OF_TOP
    recommenders: list[RecommenderComposition]
    popularity_ties: TieShare


def composition(
    recommenders: Sequence[tuple[str, str, Mapping[str, Sequence[str]]]],
    own_items: Mapping[str, Mapping[str, int]],
    popularity: Sequence[str],
    warm_users: Sequence[str],
    popularity_ties: TieShare,
) -> Composition:
    """recommenders: (name, label, user -> list); own_items: name -> user -> how many leading items of the list
    came from the recommender itself (the rest is the fallback); popularity: the popularity list."""
    top_popular = set(popularity[:OVERLAP_AT])
    out = []
    for name, label, lists in recommenders:
        if name == POPULARITY:
            continue
        user_lists = [list(lists.get(u, ())) for u in warm_users]
        slots = sum(len(items) for items in user_lists)
        fallback_share = None
        if name in own_items and slots:
            counts = own_items[name]
            filled = sum(max(0, len(items) - counts.get(u, 0)) for u, items in zip(warm_users, user_lists, strict=True))
            fallback_share = filled / slots
        shared = [len(set(items[:OVERLAP_AT]) & top_popular) for items in user_lists]
        overlap = sum(shared) / (OVERLAP_AT * len(shared)) if shared and top_popular else None
        half = sum(s >= HALF_OF_TOP for s in shared) / len(shared) if shared and top_popular else None
        mostly, text = _mostly(label, fallback_share, overlap)
        out.append(
            RecommenderComposition(
                name=name,
                label=label,
                fallback_share=fallback_share,
                overlap_share=overlap,
                users_sharing_half=half,
                mostly_popularity=mostly,
                text=text,
            )
        )
    return Composition(users=len(warm_users), recommenders=out, popularity_ties=popularity_ties)


def _over_threshold(share: float) -> str:
    """A share above MOSTLY_POPULARITY_SHARE as text that never reads as the threshold itself (50.02 % is not
    "50.0 %", which would contradict "more than 50 %")."""
    text = f"{share:.1%}"
    return text if float(text[:-1]) / 100 > MOSTLY_POPULARITY_SHARE else f"just over {MOSTLY_POPULARITY_SHARE:.0%}"


def _mostly(label: str, fallback: float | None, overlap: float | None) -> tuple[bool, str | None]:
    threshold = f"more than {MOSTLY_POPULARITY_SHARE:.0%}"
    if fallback is not None and fallback > MOSTLY_POPULARITY_SHARE:
        return True, (
            f"{label} is mostly popularity: {_over_threshold(fallback)} of its slots for users with history are "
            f"popular items filling lists its own logic left short ({threshold} counts as mostly), so comparing it "
            "with popularity largely compares popularity with itself."
        )
    if overlap is not None and overlap > MOSTLY_POPULARITY_SHARE:
        return True, (
            f"{label} is mostly popularity: on average {_over_threshold(overlap)} of its top {OVERLAP_AT} for users "
            f"with history are the popularity top {OVERLAP_AT} ({threshold} counts as mostly)."
        )
    return False, None
