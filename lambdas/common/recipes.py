"""The recipes this app offers, shared by the config model (CDK) and the pipeline (Lambda)."""

from __future__ import annotations

from enum import StrEnum


class Recipe(StrEnum):
    USER_PERSONALIZATION = "user-personalization"
    PERSONALIZED_RANKING = "personalized-ranking"
    SIMILAR_ITEMS = "similar-items"
    TRENDING_NOW = "trending-now"


# v1 user-personalization: it accepts UPDATE training (a cheap daily refresh) and explores new items, which
# the legacy curation never surfaced.
RECIPE_ARNS = {
    Recipe.USER_PERSONALIZATION: "arn:aws:personalize:::recipe/aws-user-personalization",
    Recipe.PERSONALIZED_RANKING: "arn:aws:personalize:::recipe/aws-personalized-ranking",
    Recipe.SIMILAR_ITEMS: "arn:aws:personalize:::recipe/aws-similar-items",
    Recipe.TRENDING_NOW: "arn:aws:personalize:::recipe/aws-trending-now",
}
# Only aws-user-personalization (v1) and HRNN-coldstart accept trainingMode UPDATE.
UPDATE_CAPABLE = frozenset({Recipe.USER_PERSONALIZATION})
# Trending-now cannot run as a batch job; it is served by its campaign only.
BATCH_CAPABLE = frozenset({Recipe.USER_PERSONALIZATION, Recipe.PERSONALIZED_RANKING, Recipe.SIMILAR_ITEMS})
# Recipes served in real time when campaigns are enabled (anonymous sessions, trending lists).
CAMPAIGN_RECIPES = frozenset({Recipe.USER_PERSONALIZATION, Recipe.TRENDING_NOW})
# Short forms for resource names (63-character limit).
SHORT_NAMES = {
    Recipe.USER_PERSONALIZATION: "userpers",
    Recipe.PERSONALIZED_RANKING: "ranking",
    Recipe.SIMILAR_ITEMS: "simitems",
    Recipe.TRENDING_NOW: "trending",
}
