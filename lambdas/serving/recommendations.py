"""The fallback chain: which list a request is served, and where it came from (read_model.Source).

For a user: the country's promoted user campaign (GetRecommendations, with the filter's published ARN) -> the
user's newest batch list the pointer's run may serve -> the list of the user's segment (their profile in the read
model, else the request's hints; an unknown part is `common.schemas.UNKNOWN`, as in the Users dataset) -> the
country's list. The campaign is asked first and, while it answers, the read model's part of the chain is walked to
its first list: the campaign gets what is left of the budget less the reserve the items' metadata needs afterwards,
and the chain never waits for it past that. A source that fails (an error, a timeout, an empty list) is noted and
the next one is tried; only when every source fails is the request refused, with every reason.

During an experiment (common.experiments) the user's arm picks the chain: `personalize` the one above,
`curation` the user's newest curation list the pointer's run may serve -> segment -> country (no campaign call),
`popularity` the country's list.

`recommendationId`: the campaign's where the campaign served; else one made from a hash of what was served
(source, country, user, run date, items), so the same list shown again carries the same id and the events the
app sends back with it (docs/event-contract.md: 1-40 characters) join to that list without the API storing
anything; a uuid per response would make each impression its own list.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from common.experiments import Arm
from common.recipes import Recipe, spec, user_list_recipe
from common.schemas import UNKNOWN
from serving import read_model as rm
from serving.budget import Deadline
from serving.store import Pointer, ReadModel, StoredList

RECOMMENDATION_ID_MAX = 40  # docs/event-contract.md: `recommendation_id` is 1-40 characters
BACKEND_ERRORS = (ClientError, BotoCoreError)
# A user's own list in the read model: the batch job's (Personalize) or the legacy curation's, with its sort key.
_BATCH = (rm.Source.BATCH, rm.LIST_PREFIX)
_CURATION = (rm.Source.CURATION, rm.CURATION_PREFIX)


class UnknownFilter(ValueError):
    """The request names a filter the country's run did not publish."""


class Unavailable(Exception):
    """Every source failed; the message lists each one's reason."""


@dataclass(frozen=True)
class Hints:
    """Profile hints for a user the read model does not know."""

    locale: str | None = None
    age_group: str | None = None
    gender: str | None = None


@dataclass(frozen=True)
class Served:
    source: rm.Source
    run_date: date
    recommendation_id: str
    item_ids: list[str]
    filter_applied: bool = False


def made_recommendation_id(source: rm.Source, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join((source.value, *parts)).encode()).hexdigest()
    return f"{source.value}-{digest}"[:RECOMMENDATION_ID_MAX]


def campaign_of(pointer: Pointer, *, trending: bool) -> str | None:
    """The promoted campaign serving users (trending=False) or the trending list (trending=True), if any."""
    known = [r for r in pointer.campaigns if r in Recipe._value2member_map_]
    if trending:
        recipe = next((r for r in known if spec(r).cold_start_fallback), None)
    else:
        found = user_list_recipe(known)
        recipe = found.value if found else None
    return pointer.campaigns.get(recipe) if recipe else None


class Recommender:
    def __init__(self, read_model: ReadModel, runtime: Any, pool: Executor, reserve_s: float) -> None:
        self.read_model = read_model
        self.runtime = runtime
        self.pool = pool
        self.reserve_s = reserve_s

    # ------------------------------------------------------------------------------------------- users

    def for_user(
        self,
        pointer: Pointer,
        user_id: str,
        count: int,
        filter_name: str | None,
        hints: Hints,
        deadline: Deadline,
        arm: Arm = Arm.PERSONALIZE,
    ) -> Served:
        filter_arn = None
        if filter_name is not None:
            filter_arn = pointer.filters.get(filter_name)
            if filter_arn is None:
                known = ", ".join(sorted(pointer.filters)) or "none"
                raise UnknownFilter(f"filter {filter_name!r} is not published for {pointer.country} (known: {known})")
        failures: list[str] = []
        if arm is Arm.POPULARITY:
            return self._country(pointer, count, failures, user_id)
        if arm is Arm.CURATION:
            curated = self._from_read_model(pointer, user_id, hints, count, failures, own=_CURATION)
            if curated:
                return curated
            raise Unavailable("; ".join(failures))
        campaign_arn = campaign_of(pointer, trending=False)
        pending: Future | None = None
        if campaign_arn:
            params = {"campaignArn": campaign_arn, "userId": user_id, "numResults": count}
            if filter_arn:
                params["filterArn"] = filter_arn
            pending = self.pool.submit(self.runtime.get_recommendations, **params)
        else:
            failures.append("campaign: none promoted")
        fallback = self._from_read_model(pointer, user_id, hints, count, failures)
        if pending is not None:
            served = self._campaign_answer(pending, pointer, deadline, failures, filter_applied=bool(filter_arn))
            if served:
                return served
        if fallback:
            return fallback
        raise Unavailable("; ".join(failures))

    def _from_read_model(
        self,
        pointer: Pointer,
        user_id: str,
        hints: Hints,
        count: int,
        failures: list[str],
        own: tuple[rm.Source, str] = _BATCH,
    ) -> Served | None:
        """The first list of the user's own (batch, or curation) -> segment -> country, read while the campaign
        answers: when it fails, only the items' metadata is left to read."""
        source, prefix = own
        listed = self._list(rm.user_pk(pointer.country, user_id), pointer, source, failures, prefix)
        if listed:
            return self._served(source, listed, count, pointer.country, user_id)
        segment = self._segment(pointer, user_id, hints, failures)
        if segment:
            return self._served(rm.Source.SEGMENT, segment, count, pointer.country, user_id)
        country = self._list(rm.country_list_pk(pointer.country), pointer, rm.Source.COUNTRY, failures)
        return self._served(rm.Source.COUNTRY, country, count, pointer.country, user_id) if country else None

    def _segment(self, pointer: Pointer, user_id: str, hints: Hints, failures: list[str]) -> StoredList | None:
        try:
            profile = self.read_model.profile(pointer.country, user_id)
        except BACKEND_ERRORS as error:
            failures.append(f"profile: {reason(error)}")
            profile = None
        parts = (
            (profile.locale, profile.age_group, profile.gender)
            if profile
            else (hints.locale, hints.age_group, hints.gender)
        )
        if not profile and parts == (None, None, None):
            failures.append("segment: no profile and no hints")
            return None
        locale, age_group, gender = (part or UNKNOWN for part in parts)
        return self._list(
            rm.segment_pk(pointer.country, locale, age_group, gender), pointer, rm.Source.SEGMENT, failures
        )

    # ----------------------------------------------------------------------------------------- trending

    def trending(self, pointer: Pointer, count: int, deadline: Deadline) -> Served:
        failures: list[str] = []
        campaign_arn = campaign_of(pointer, trending=True)
        if campaign_arn:
            pending = self.pool.submit(self.runtime.get_recommendations, campaignArn=campaign_arn, numResults=count)
            served = self._campaign_answer(pending, pointer, deadline, failures, filter_applied=False)
            if served:
                return served
        else:
            failures.append("campaign: no trending campaign promoted")
        return self._country(pointer, count, failures, "")

    # ------------------------------------------------------------------------------------------ similar

    def similar(self, pointer: Pointer, item_id: str, count: int) -> Served | None:
        """The item's similar-items list (batch output); None for an item the run has no list for."""
        stored = self.read_model.latest_list(rm.similar_pk(pointer.country, item_id), pointer)
        if stored is None:
            return None
        return self._served(rm.Source.BATCH, stored, count, pointer.country, f"item:{item_id}")

    # ------------------------------------------------------------------------------------------ helpers

    def _campaign_answer(
        self, pending: Future, pointer: Pointer, deadline: Deadline, failures: list[str], *, filter_applied: bool
    ) -> Served | None:
        wait_s = deadline.remaining_s(keep_s=self.reserve_s)
        try:
            response = pending.result(timeout=wait_s)
        except FutureTimeout:
            pending.cancel()
            failures.append(f"campaign: no answer within {wait_s * 1000:.0f} ms")
            return None
        except BACKEND_ERRORS as error:
            failures.append(f"campaign: {reason(error)}")
            return None
        items = [entry["itemId"] for entry in response.get("itemList", [])]
        if not items:
            failures.append("campaign: empty list")
            return None
        return Served(
            rm.Source.CAMPAIGN, pointer.run_date, response["recommendationId"], items, filter_applied=filter_applied
        )

    def _country(self, pointer: Pointer, count: int, failures: list[str], subject: str) -> Served:
        stored = self._list(rm.country_list_pk(pointer.country), pointer, rm.Source.COUNTRY, failures)
        if stored:
            return self._served(rm.Source.COUNTRY, stored, count, pointer.country, subject)
        raise Unavailable("; ".join(failures))

    def _list(
        self, pk: str, pointer: Pointer, source: rm.Source, failures: list[str], prefix: str = rm.LIST_PREFIX
    ) -> StoredList | None:
        try:
            stored = self.read_model.latest_list(pk, pointer, prefix)
        except BACKEND_ERRORS as error:
            failures.append(f"{source.value}: {reason(error)}")
            return None
        if stored is None or not stored.items:
            failures.append(f"{source.value}: no list")
            return None
        return stored

    @staticmethod
    def _served(source: rm.Source, stored: StoredList, count: int, country: str, subject: str) -> Served:
        items = stored.items[:count]
        made = made_recommendation_id(source, country, subject, stored.run_date.isoformat(), *items)
        return Served(source, stored.run_date, made, items)


def reason(error: Exception) -> str:
    """The error code of a service error, else the exception's class name (one word for a one-line message)."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "error")
    return type(error).__name__
