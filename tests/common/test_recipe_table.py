"""The one recipe table: every step asks it; these are the capabilities the pipeline's choices rest on."""

from __future__ import annotations

from common.recipes import RECIPES, Recipe, spec, user_list_recipe, with_capability
from dataprep.queries import JSONL_OUTPUTS, Output


def test_every_recipe_has_a_spec_with_a_public_recipe_arn_and_a_short_name():
    assert set(RECIPES) == set(Recipe)
    assert len({s.short_name for s in RECIPES.values()}) == len(RECIPES)
    assert all(s.arn == f"arn:aws:personalize:::recipe/aws-{r.value}" for r, s in RECIPES.items())


def test_capabilities_that_steer_the_pipeline():
    # CreateSolutionVersion: only aws-user-personalization (v1) takes trainingMode UPDATE
    assert with_capability("update_training") == {Recipe.USER_PERSONALIZATION}
    # CampaignConfig: itemExplorationConfig only for the User-Personalization recipe (v1)
    assert with_capability("exploration") == {Recipe.USER_PERSONALIZATION}
    # Trending-Now has no batch jobs and no offline metrics the gate could compare
    assert not spec(Recipe.TRENDING_NOW).batch and not spec(Recipe.TRENDING_NOW).metrics
    assert spec("similar-items").batch_input == ("items_batch", "items_batch")


def test_the_report_compares_the_per_user_recipe_configured_v1_or_v2():
    assert user_list_recipe(["similar-items", "user-personalization"]) == Recipe.USER_PERSONALIZATION
    assert user_list_recipe(["user-personalization-v2", "trending-now"]) == Recipe.USER_PERSONALIZATION_V2
    assert user_list_recipe(["similar-items", "trending-now"]) is None


def test_every_batch_input_is_a_prepared_json_lines_output():
    for recipe, recipe_spec in RECIPES.items():
        if recipe_spec.batch_input is None:
            assert not recipe_spec.batch, recipe
            continue
        for output in recipe_spec.batch_input:
            # the output member itself (not its name), and one a batch job can read: JSON lines
            assert type(output) is Output and output in JSONL_OUTPUTS, (recipe, output)
