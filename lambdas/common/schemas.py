"""Personalize dataset schemas: the single source of field names and order.

CDK turns these into CfnSchema resources; the preparation SQL must emit CSV columns in exactly this order
(Personalize maps CSV columns by position to the schema's fields), and a test checks both agree.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

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

ITEMS_FIELDS: tuple[Field, ...] = (
    Field("ITEM_ID", "string"),
    Field("GENRES", "string", categorical=True),
    Field("CREATION_TIMESTAMP", "long"),
    # Always present, whatever the country's recipes: a schema that followed the recipe set would change the
    # Items dataset's create-only SchemaArn when the last text-reading recipe is dropped (docs/schema-evolution.md).
    # Recipes that do not read text ignore it.
    Field("TITLE", ["null", "string"], textual=True),
)

DATASET_TYPES = ("Interactions", "Users", "Items")

# Every published version of each dataset's schema, oldest first. A dataset is created with its FIRST version
# (CloudFormation's SchemaArn is create-only and never changes) and moved to the LAST one with Personalize's
# UpdateDataset. To change a schema, append a version (existing fields unchanged, new ones nullable, at the
# end) and pin its digest in PUBLISHED_DIGESTS; never edit or remove a published version.
SCHEMA_VERSIONS: dict[str, tuple[tuple[Field, ...], ...]] = {
    "Interactions": (INTERACTIONS_FIELDS,),
    "Users": (USERS_FIELDS,),
    "Items": (ITEMS_FIELDS,),
}
# Digest (schema_digest) of each version in SCHEMA_VERSIONS, in order: what has been deployed, so an edit of a
# published version is refused at synth instead of replacing a dataset. Never change an entry.
PUBLISHED_DIGESTS: dict[str, tuple[str, ...]] = {
    "Interactions": ("3068fe5e",),
    "Users": ("08f70014",),
    "Items": ("15dadd45",),
}
# Personalize: "You can't replace the schema of an Item interactions dataset" (updating-dataset-schema).
REPLACEABLE_TYPES = frozenset({"Users", "Items"})
# Metadata fields per dataset (Personalize's custom datasets and schemas): Users up to 25, Items up to 100.
MAX_METADATA_FIELDS = {"Users": 25, "Items": 100}


class SchemaChangeRefused(ValueError):
    """A schema change CloudFormation or Personalize cannot apply in place; the message says what to do."""


@dataclass(frozen=True)
class SchemaVersion:
    dataset_type: str
    number: int  # 1 = the version the dataset was created with
    fields: tuple[Field, ...]

    @property
    def json(self) -> str:
        return avro_json(self.dataset_type, self.fields)

    @property
    def digest(self) -> str:
        return schema_digest(self.json)


def avro_json(dataset_type: str, fields: tuple[Field, ...]) -> str:
    """The Avro JSON Personalize expects: a flat record in the `com.amazonaws.personalize.schema` namespace."""
    return json.dumps(
        {
            "type": "record",
            "name": dataset_type,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [f.to_avro() for f in fields],
            "version": "1.0",
        },
        separators=(",", ":"),
    )


def schema_digest(schema_json: str) -> str:
    return hashlib.sha256(schema_json.encode()).hexdigest()[:8]


def schema_versions(dataset_type: str) -> tuple[SchemaVersion, ...]:
    if dataset_type not in SCHEMA_VERSIONS:
        raise ValueError(f"unknown dataset type {dataset_type!r}: expected Interactions, Users or Items")
    return tuple(SchemaVersion(dataset_type, n, f) for n, f in enumerate(SCHEMA_VERSIONS[dataset_type], start=1))


def _nullable(field: Field) -> bool:
    return isinstance(field.type, list) and "null" in field.type


def check_schema_history() -> None:
    """Refuse (one line naming the dataset and what to do) any history UpdateDataset cannot follow."""
    for dataset_type in DATASET_TYPES:
        versions = schema_versions(dataset_type)
        pinned = PUBLISHED_DIGESTS.get(dataset_type, ())
        where = f"lambdas/common/schemas.py: {dataset_type} schema"
        if len(versions) < len(pinned):
            raise SchemaChangeRefused(
                f"{where}: published version {len(versions) + 1} was removed; restore it (a deployed dataset may "
                "use it) and append new versions after it"
            )
        for version, digest in zip(versions, pinned, strict=False):
            if version.digest != digest:
                raise SchemaChangeRefused(
                    f"{where}: published version {version.number} changed (digest {version.digest}, pinned "
                    f"{digest}); restore it and append the change to SCHEMA_VERSIONS[{dataset_type!r}] as a new version"
                )
        if len(versions) > 1 and dataset_type not in REPLACEABLE_TYPES:
            raise SchemaChangeRefused(
                f"{where}: Personalize cannot replace an Interactions dataset's schema (UpdateDataset takes Users and "
                "Items only); keep one version, or create a new dataset group for the new interactions schema"
            )
        for previous, version in zip(versions, versions[1:], strict=False):
            kept = version.fields[: len(previous.fields)]
            if kept != previous.fields:
                raise SchemaChangeRefused(
                    f"{where}: version {version.number} removes, reorders or changes fields of version "
                    f"{previous.number}; Personalize keeps every field with its type and attributes: add new "
                    "fields at the end instead (a renamed field is a new field)"
                )
            added = version.fields[len(previous.fields) :]
            if not added:
                raise SchemaChangeRefused(f"{where}: version {version.number} adds no field; remove it")
            not_null = [f.name for f in added if not _nullable(f)]
            if not_null:
                raise SchemaChangeRefused(
                    f"{where}: new field(s) {not_null} of version {version.number} must accept null (type "
                    "['null', ...]): Personalize requires it of fields added by a schema replacement"
                )
        if len(versions[-1].fields) - 1 > MAX_METADATA_FIELDS.get(dataset_type, len(versions[-1].fields)):
            raise SchemaChangeRefused(
                f"{where}: more than {MAX_METADATA_FIELDS[dataset_type]} metadata fields (Personalize's limit)"
            )
        for version in versions[len(pinned) :]:
            raise SchemaChangeRefused(
                f"{where}: version {version.number} is not pinned; after review add {version.digest!r} to "
                f"PUBLISHED_DIGESTS[{dataset_type!r}]"
            )


def dataset_fields(dataset_type: str, recipes: object = ()) -> tuple[Field, ...]:
    """The fields of the dataset's current (newest) schema, in CSV column order.

    `recipes` is accepted for existing callers and ignored: the schema no longer depends on the recipe set.
    """
    del recipes
    return schema_versions(dataset_type)[-1].fields


def csv_header(dataset_type: str, recipes: object = ()) -> list[str]:
    return [f.name for f in dataset_fields(dataset_type, recipes)]
