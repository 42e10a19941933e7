"""The recipes this app offers and what each can do: the one table every step, the config model, the fakes and
the report ask (never a recipe name inside step code).

Capabilities follow each recipe's page in the Personalize developer guide and the CreateSolutionVersion /
CreateCampaign / CreateBatchInferenceJob API references (docs/personalize-behaviour.md quotes them):
- `update_training`: trainingMode UPDATE ("updates the model to consider new items ... not a full
  retraining"; only aws-user-personalization v1 and HRNN-coldstart accept it).
- `automatic_updates`: a version deployed in a campaign gets new items every two hours at no cost (v1 and v2
  user-personalization); a manual UPDATE stops those automatic updates.
- `exploration`: itemExplorationConfig (explorationWeight, explorationItemAgeCutOff) on campaigns and batch jobs
  (v1 user-personalization; v2 explores by itself, without these settings).
- `batch`: batch inference jobs (Trending-Now is served by its campaign only).
- `campaign`: served in real time by the pipeline's campaigns when `campaign.enabled`.
- `metrics`: solution versions report offline metrics (GetSolutionMetrics) the gate can compare.
- `batch_input`: the prepared output (common.prepared_outputs, made by lambdas/dataprep) a batch job reads, per run
  kind.
- `cold_start_fallback`: its campaign serves users without a batch list (Trending-Now: the same trending items
  for every user, which is what a user with no history can be given in real time).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from common.prepared_outputs import Output


class Recipe(StrEnum):
    USER_PERSONALIZATION = "user-personalization"
    USER_PERSONALIZATION_V2 = "user-personalization-v2"
    PERSONALIZED_RANKING = "personalized-ranking"
    PERSONALIZED_RANKING_V2 = "personalized-ranking-v2"
    SIMILAR_ITEMS = "similar-items"
    TRENDING_NOW = "trending-now"


@dataclass(frozen=True)
class RecipeSpec:
    arn: str
    short_name: str  # in resource names (63-character limit)
    update_training: bool
    automatic_updates: bool
    exploration: bool
    batch: bool
    campaign: bool
    metrics: bool
    # prepared output read by a batch job: (on a full-training day, on other days); None: no batch job
    batch_input: tuple[Output, Output] | None
    reads_text: bool  # uses the Items' textual field (TITLE)
    # its campaign is the cold-start fallback for users without a batch list (pipeline/cold_start.py)
    cold_start_fallback: bool = False


RECIPES: dict[Recipe, RecipeSpec] = {
    Recipe.USER_PERSONALIZATION: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-user-personalization",
        short_name="userpers",
        update_training=True,
        automatic_updates=True,
        exploration=True,
        batch=True,
        campaign=True,
        metrics=True,
        batch_input=(Output.ALL_USERS, Output.CHANGED_USERS),
        reads_text=True,
    ),
    Recipe.USER_PERSONALIZATION_V2: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-user-personalization-v2",
        short_name="userpers2",
        update_training=False,
        automatic_updates=True,
        exploration=False,
        batch=True,
        campaign=True,
        metrics=True,
        batch_input=(Output.ALL_USERS, Output.CHANGED_USERS),
        reads_text=True,
    ),
    Recipe.PERSONALIZED_RANKING: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-personalized-ranking",
        short_name="ranking",
        update_training=False,
        automatic_updates=False,
        exploration=False,
        batch=True,
        campaign=False,
        metrics=True,
        batch_input=(Output.RANKING_INPUT, Output.RANKING_INPUT),
        reads_text=True,
    ),
    Recipe.PERSONALIZED_RANKING_V2: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-personalized-ranking-v2",
        short_name="ranking2",
        update_training=False,
        automatic_updates=False,
        exploration=False,
        batch=True,
        campaign=False,
        metrics=True,
        batch_input=(Output.RANKING_INPUT, Output.RANKING_INPUT),
        reads_text=True,
    ),
    Recipe.SIMILAR_ITEMS: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-similar-items",
        short_name="simitems",
        update_training=False,
        automatic_updates=False,
        exploration=False,
        batch=True,
        campaign=False,
        metrics=True,
        batch_input=(Output.ITEMS_BATCH, Output.ITEMS_BATCH),
        reads_text=True,
    ),
    Recipe.TRENDING_NOW: RecipeSpec(
        arn="arn:aws:personalize:::recipe/aws-trending-now",
        short_name="trending",
        update_training=False,
        automatic_updates=False,
        exploration=False,
        batch=False,
        campaign=True,
        metrics=False,
        batch_input=None,
        reads_text=False,
        cold_start_fallback=True,
    ),
}


def spec(recipe: Recipe | str) -> RecipeSpec:
    return RECIPES[Recipe(recipe)]


def with_capability(capability: str) -> frozenset[Recipe]:
    return frozenset(r for r, s in RECIPES.items() if getattr(s, capability))


# Derived views (the table above is the source).
RECIPE_ARNS = {r: s.arn for r, s in RECIPES.items()}
SHORT_NAMES = {r: s.short_name for r, s in RECIPES.items()}
BATCH_CAPABLE = with_capability("batch")
CAMPAIGN_RECIPES = with_capability("campaign")


def user_list_recipe(recipes) -> Recipe | None:
    """The configured recipe whose batch job gives each user a list (what the report compares), v1 or v2."""
    return next((Recipe(r) for r in recipes if (spec(r).batch_input or (None,))[0] == Output.ALL_USERS), None)
