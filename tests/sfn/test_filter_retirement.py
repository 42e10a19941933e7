"""pipeline.filters.superseded: which of a dataset group's filters the promote step deletes, and which it never
touches (the executed case: tests/sfn/test_pipeline_personalize_settings.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline import filters
from pipeline.model import FilterSettings, RunSettings

NOW = datetime(2026, 11, 17, 3, 0, tzinfo=UTC)
ARN = "arn:aws:personalize:us-east-1:123456789012:filter/"


def _settings(genres=("Horror",), prefix="personalize-dev", exclude_purchased=False) -> RunSettings:
    return RunSettings.model_construct(
        name_prefix=prefix,
        country="KR",
        filters=FilterSettings(exclude_purchased=exclude_purchased, exclude_genres=list(genres)),
    )


def _summary(name: str, age: timedelta) -> dict:
    return {"name": name, "filterArn": ARN + name, "creationDateTime": NOW - age, "status": "ACTIVE"}


def _current(settings: RunSettings, key: str = filters.GENRES) -> str:
    return filters.filter_name(settings, filters.definitions(settings)[key])


def test_the_filter_a_day_old_replacement_replaced_is_retired_and_nothing_else():
    old, settings = _current(_settings(["Horror"])), _settings(["Horror", "Adult"])
    listed = [
        _summary(old, timedelta(days=9)),
        _summary(_current(settings), timedelta(days=1)),
        _summary("made-by-hand", timedelta(days=30)),
        _summary("personalize-dev-kr-filter-exclude-genres-by-hand", timedelta(days=30)),  # not a digest
        _summary("personalize-dev-jp-filter-exclude-genres-0a1b2c", timedelta(days=30)),  # another country
    ]
    assert filters.superseded(settings, listed, NOW, [filters.GENRES]) == [ARN + old]


def test_a_replacement_younger_than_a_day_or_published_only_by_this_run_keeps_the_old_filter():
    old, settings = _current(_settings(["Horror"])), _settings(["Horror", "Adult"])
    young = [_summary(old, timedelta(days=9)), _summary(_current(settings), timedelta(hours=23))]
    assert filters.superseded(settings, young, NOW, [filters.GENRES]) == []
    settled = [_summary(old, timedelta(days=9)), _summary(_current(settings), timedelta(days=3))]
    # a run that failed before publishing, replayed days later: the app was given the new ARN only now
    assert filters.superseded(settings, settled, NOW, []) == []
    assert filters.superseded(settings, settled, NOW, [filters.GENRES]) == [ARN + old]


def test_an_unpublished_filter_only_batch_jobs_use_is_retired_by_its_age_alone():
    before = _settings(["Horror"], exclude_purchased=True)
    after = _settings(["Horror", "Adult"], exclude_purchased=True)
    old_chain, new_chain = _current(before, filters.BATCH_USERS), _current(after, filters.BATCH_USERS)
    listed = [_summary(old_chain, timedelta(days=9)), _summary(new_chain, timedelta(days=2))]
    assert filters.superseded(after, listed, NOW, []) == [ARN + old_chain]


def test_a_key_no_longer_configured_keeps_its_filters():
    old = _current(_settings(["Horror"]))
    settings = RunSettings.model_construct(
        name_prefix="personalize-dev", country="KR", filters=FilterSettings(exclude_purchased=True)
    )
    listed = [_summary(old, timedelta(days=9)), _summary(_current(settings, filters.PURCHASED), timedelta(days=5))]
    assert filters.superseded(settings, listed, NOW, [filters.PURCHASED]) == []


def test_names_shortened_to_fit_are_never_matched():
    long_prefix = "personalize-" + "x" * 60
    old, settings = _current(_settings(["Horror"], prefix=long_prefix)), _settings(["Adult"], prefix=long_prefix)
    listed = [_summary(old, timedelta(days=9)), _summary(_current(settings), timedelta(days=5))]
    assert filters.superseded(settings, listed, NOW, [filters.GENRES]) == []
