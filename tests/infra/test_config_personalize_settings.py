"""Config of exploration, filters, v2 recipes and the gate: defaults, and one-line errors naming file and field."""

from __future__ import annotations

import json

import pytest

from stacks.config import Recipe, load_config
from tests.infra.test_config import DEV, error_for, write_env


def dev_defaults_with(**changes) -> dict:
    data = json.loads(json.dumps(DEV))
    data["defaults"].update(changes)
    return data


def test_defaults_explore_and_exclude_purchases():
    kr = load_config("dev").country("KR")
    assert kr.exploration.weight == 0.5 and kr.exploration.item_age_cutoff_days == 30
    assert kr.filters.exclude_purchased is True and kr.filters.exclude_genres == ()
    assert kr.filters.max_item_age_days is None
    assert kr.gate.min_interactions == 1000


def test_an_empty_tolerance_is_refused(tmp_path):
    gate = {"tolerance": {}, "floors": DEV["defaults"]["gate"]["floors"]}
    message = error_for(tmp_path, dev_defaults_with(gate=gate))
    assert "countries[KR].gate.tolerance: is empty: the gate would compare nothing" in message


def test_v2_recipes_are_config_choices(tmp_path):
    write_env(tmp_path, "dev", dev_defaults_with(recipes=["user-personalization-v2", "personalized-ranking-v2"]))
    jp = load_config("dev", config_dir=tmp_path).country("JP")
    assert jp.recipes == (Recipe.USER_PERSONALIZATION_V2, Recipe.PERSONALIZED_RANKING_V2)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"exploration": {"weight": 1.5}}, "exploration.weight", "less than or equal to 1"),
        ({"exploration": {"item_age_cutoff_days": 0}}, "exploration.item_age_cutoff_days", "greater than 0"),
        ({"filters": {"exclude_genres": ['Hor"ror']}}, "filters.exclude_genres", "without double quotes"),
        ({"filters": {"max_item_age_days": 0}}, "filters.max_item_age_days", "greater than or equal to 1"),
        ({"gate": {"min_interactions": 10}}, "gate.min_interactions", "greater than or equal to 1000"),
    ],
)
def test_bad_personalize_settings_name_the_field(tmp_path, changes, field, words):
    message = error_for(tmp_path, dev_defaults_with(**changes))
    assert f"countries[KR].{field}" in message and words in message
