"""The user counts behind the page's figures, as one ordered list: each count names the count it is drawn from
(`of`) and says in plain words which of those users it keeps (`filter`), so no user count on the page goes
unexplained. Both report builders (evaluation.report, evaluation.sql_report) fill `Populations` and call
`user_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel


class UserCountName(StrEnum):
    USERS = "users"
    IN_WINDOW = "users_in_window"
    WITH_HISTORY = "users_with_history"
    OPEN_BASELINE_TRAINED = "open_baseline_trained"
    WITHOUT_HISTORY = "users_without_history"
    PERSONALIZE_COLD = "personalize_cold_users"
    WITH_TRUTH = "users_with_truth"
    WITH_PERSONALIZE_LIST = "users_with_personalize_list"
    EVALUATED = "evaluated"
    WARM = "warm"
    COLD = "cold"
    NEW_TO_USER = "evaluated_new_to_user"
    DECISION = "decision"
    HEAVY = "heavy_users"


class UserCount(BaseModel):
    name: UserCountName
    count: int
    of: UserCountName | None  # the count these users are drawn from; None for the first
    filter: str  # which of `of`'s users are kept, in plain words


@dataclass(frozen=True)
class Populations:
    """The counts one report has; None where the report does not have that population."""

    users: int
    users_in_window: int | None
    with_history: int
    open_baseline_trained: int | None
    personalize_cold: int | None  # None without Personalize output
    with_truth: int
    with_personalize_list: int | None  # None without Personalize output
    evaluated: int
    max_evaluated: int
    warm: int
    new_to_user: int | None
    decision: int | None
    heavy: int


def user_counts(p: Populations, start: str, cutoff: str, end: str, truth_days: int) -> list[UserCount]:
    """The ordered list: from every user of the country down to the users each section of the page counts."""
    n = UserCountName
    out = [UserCount(name=n.USERS, count=p.users, of=None, filter="every user of the country in the prepared data")]
    parent = n.USERS
    if p.users_in_window is not None:
        out.append(
            UserCount(
                name=n.IN_WINDOW,
                count=p.users_in_window,
                of=n.USERS,
                filter=f"with an interaction from {start} to {end} (the rest are in the users file only)",
            )
        )
        parent = n.IN_WINDOW
    out.append(
        UserCount(
            name=n.WITH_HISTORY,
            count=p.with_history,
            of=parent,
            filter=f"with an interaction before the cut-off {cutoff}: the history every list is built from",
        )
    )
    if p.open_baseline_trained is not None:
        kept = (
            "all of them"
            if p.open_baseline_trained == p.with_history
            else "every evaluated user, then others drawn by a hash of the user id, to fit the report's memory"
        )
        out.append(
            UserCount(
                name=n.OPEN_BASELINE_TRAINED,
                count=p.open_baseline_trained,
                of=n.WITH_HISTORY,
                filter=f"whose history the open baseline trained on: {kept}",
            )
        )
    out.append(
        UserCount(
            name=n.WITHOUT_HISTORY,
            count=p.users - p.with_history,
            of=n.USERS,
            filter="with no interaction before the cut-off (cold start): the curation, the open baseline and "
            "popularity show them the popularity list",
        )
    )
    if p.personalize_cold is not None:
        out.append(
            UserCount(
                name=n.PERSONALIZE_COLD,
                count=p.personalize_cold,
                of=n.WITHOUT_HISTORY,
                filter="with a Personalize list",
            )
        )
    out.append(
        UserCount(
            name=n.WITH_TRUTH,
            count=p.with_truth,
            of=n.USERS,
            filter=f"with an interaction in the truth days (the last {truth_days}, {cutoff} to {end})",
        )
    )
    parent = n.WITH_TRUTH
    if p.with_personalize_list is not None:
        out.append(
            UserCount(
                name=n.WITH_PERSONALIZE_LIST,
                count=p.with_personalize_list,
                of=n.WITH_TRUTH,
                filter="with a Personalize list, so every recommender is scored on the same users",
            )
        )
        parent = n.WITH_PERSONALIZE_LIST
    drawn = (
        "all of them"
        if p.evaluated == (p.with_personalize_list if p.with_personalize_list is not None else p.with_truth)
        else f"at most {p.max_evaluated:,}, drawn by a hash of the user id (the same users in every run)"
    )
    out += [
        UserCount(name=n.EVALUATED, count=p.evaluated, of=parent, filter=f"evaluated: {drawn}"),
        UserCount(name=n.WARM, count=p.warm, of=n.EVALUATED, filter="warm: with history before the cut-off"),
        UserCount(name=n.COLD, count=p.evaluated - p.warm, of=n.EVALUATED, filter="cold: no history"),
    ]
    if p.new_to_user is not None:
        out.append(
            UserCount(
                name=n.NEW_TO_USER,
                count=p.new_to_user,
                of=n.EVALUATED,
                filter="who watched at least one title new to them (the new-to-user evaluation)",
            )
        )
    if p.decision is not None:
        out.append(
            UserCount(
                name=n.DECISION,
                count=p.decision,
                of=n.WARM,
                filter="who watched at least one title new to them: the decision's population",
            )
        )
    out.append(
        UserCount(
            name=n.HEAVY,
            count=p.heavy,
            of=n.WITH_HISTORY,
            filter="the heavy users shown: most history interactions"
            + (", with a Personalize list" if p.with_personalize_list is not None else ""),
        )
    )
    return out
