"""Personalize dataset schemas: the single source of field names and order.

CDK turns these into CfnSchema resources; the preparation SQL must emit CSV columns in exactly this order
(Personalize maps CSV columns by position to the schema's fields), and a test checks both agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Recipes whose models read the items' unstructured `textual` field.
RECIPES_USING_TEXT = frozenset({"user-personalization", "personalized-ranking", "similar-items"})

EVENT_TYPES = ("purchase", "view")
UNKNOWN = "none"  # value for missing categorical metadata: Personalize ignores nulls in categoricals


@dataclass(frozen=True)
class Field:
    name: str
    type: str | list[str]
    categorical: bool = False
    textual: bool = False

    def to_avro(self) -> dict[str, Any]:
        field: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.categorical:
            field["categorical"] = True
        if self.textual:
            field["textual"] = True
        return field


INTERACTIONS_FIELDS: tuple[Field, ...] = (
    Field("USER_ID", "string"),
    Field("ITEM_ID", "string"),
    Field("TIMESTAMP", "long"),
    Field("EVENT_TYPE", "string"),
    Field("EVENT_VALUE", ["null", "float"]),
)

USERS_FIELDS: tuple[Field, ...] = (
    Field("USER_ID", "string"),
    Field("LOCALE", "string", categorical=True),
    Field("AGE_GROUP", "string", categorical=True),
    Field("GENDER", "string", categorical=True),
    Field("MEMBERSHIP", "string", categorical=True),
)

_ITEMS_BASE: tuple[Field, ...] = (
    Field("ITEM_ID", "string"),
    Field("GENRES", "string", categorical=True),
    Field("CREATION_TIMESTAMP", "long"),
)
_TITLE = Field("TITLE", ["null", "string"], textual=True)


def items_fields(recipes: frozenset[str] | set[str] | tuple[str, ...]) -> tuple[Field, ...]:
    """Items schema; TITLE is added only when an enabled recipe reads text (it costs training time)."""
    return _ITEMS_BASE + ((_TITLE,) if RECIPES_USING_TEXT & set(recipes) else ())


def dataset_fields(
    dataset_type: str, recipes: frozenset[str] | set[str] | tuple[str, ...]
) -> tuple[Field, ...]:
    if dataset_type == "Interactions":
        return INTERACTIONS_FIELDS
    if dataset_type == "Users":
        return USERS_FIELDS
    if dataset_type == "Items":
        return items_fields(recipes)
    raise ValueError(f"unknown dataset type {dataset_type!r}: expected Interactions, Users or Items")


def avro_schema(dataset_type: str, recipes: frozenset[str] | set[str] | tuple[str, ...]) -> str:
    """The Avro JSON Personalize expects: a flat record in the `com.amazonaws.personalize.schema` namespace."""
    return json.dumps(
        {
            "type": "record",
            "name": dataset_type,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [f.to_avro() for f in dataset_fields(dataset_type, recipes)],
            "version": "1.0",
        },
        separators=(",", ":"),
    )


def csv_header(dataset_type: str, recipes: frozenset[str] | set[str] | tuple[str, ...]) -> list[str]:
    return [f.name for f in dataset_fields(dataset_type, recipes)]
