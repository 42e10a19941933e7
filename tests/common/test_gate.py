"""The gate never approves on missing metrics, and gates recipes without metrics on a stated rule."""

from __future__ import annotations

from common.recipes import Recipe
from pipeline.gate import decide
from pipeline.model import GateSettings

SETTINGS = GateSettings(
    tolerance={"normalized_discounted_cumulative_gain_at_10": 0.05, "coverage": 0.1},
    floors={"normalized_discounted_cumulative_gain_at_10": 0.01},
    min_interactions=1000,
)
PROMOTED = {
    "solution_version_arn": "arn:old",
    "metrics": {"normalized_discounted_cumulative_gain_at_10": 0.2, "coverage": 0.3},
}


def test_no_metrics_against_a_promoted_version_is_rejected():
    decision = decide(Recipe.USER_PERSONALIZATION, "arn:new", {}, PROMOTED, SETTINGS)
    assert not decision.approved
    assert decision.reasons == [
        "metrics missing for the new version: coverage, normalized_discounted_cumulative_gain_at_10"
    ]


def test_no_metrics_for_a_first_version_is_rejected():
    decision = decide(Recipe.SIMILAR_ITEMS, "arn:new", {}, None, SETTINGS)
    assert not decision.approved and "normalized_discounted_cumulative_gain_at_10" in decision.reasons[0]


def test_a_partial_set_is_rejected_even_when_the_rest_improved():
    new = {"normalized_discounted_cumulative_gain_at_10": 0.3}
    decision = decide(Recipe.USER_PERSONALIZATION_V2, "arn:new", new, PROMOTED, SETTINGS)
    assert decision.reasons == ["metrics missing for the new version: coverage"]


def test_equal_metrics_pass():
    decision = decide(Recipe.USER_PERSONALIZATION, "arn:new", PROMOTED["metrics"], PROMOTED, SETTINGS)
    assert decision.approved and decision.gated_on == "metrics"


def test_a_recipe_without_metrics_is_gated_on_interactions():
    passed = decide(Recipe.TRENDING_NOW, "arn:new", {}, None, SETTINGS, interactions=5000)
    assert passed.approved and passed.gated_on.startswith("version ACTIVE and trained on >= 1000 interactions")
    few = decide(Recipe.TRENDING_NOW, "arn:new", {}, None, SETTINGS, interactions=999)
    assert not few.approved and few.reasons == ["trained on 999 interactions, fewer than 1000"]
    unknown = decide(Recipe.TRENDING_NOW, "arn:new", {}, None, SETTINGS)
    assert not unknown.approved and unknown.reasons == ["the run's interaction count is unknown"]
