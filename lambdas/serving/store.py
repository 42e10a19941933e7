"""Reads of the read model (serving.read_model) for the API: the country's pointer, the newest list of a key that
the pointer's run may serve, a user's profile. DynamoDB's low-level client, one call per read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from serving import read_model as rm

_DESERIALIZE = TypeDeserializer().deserialize


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (attribute values) as plain Python values."""
    return {name: _DESERIALIZE(value) for name, value in item.items()}


@dataclass(frozen=True)
class Pointer:
    """The country's `CURRENT` item: the run the API serves and what that run promoted."""

    country: str
    run_date: date
    campaigns: dict[str, str] = field(default_factory=dict)  # recipe -> campaign ARN
    filters: dict[str, str] = field(default_factory=dict)  # filter name -> published filter ARN
    report_key: str | None = None


@dataclass(frozen=True)
class StoredList:
    run_date: date
    items: list[str]


@dataclass(frozen=True)
class Profile:
    locale: str | None
    age_group: str | None
    gender: str | None


class ReadModel:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.dynamodb = dynamodb
        self.table = table_name

    def pointer(self, country: str) -> Pointer | None:
        item = self._get(rm.country_key(country))
        if item is None:
            return None
        return Pointer(
            country=country,
            run_date=date.fromisoformat(item["run_date"]),
            campaigns=dict(item.get("campaigns") or {}),
            filters=dict(item.get("filters") or {}),
            report_key=item.get("report_key"),
        )

    def latest_list(self, pk: str, pointer: Pointer, prefix: str = rm.LIST_PREFIX) -> StoredList | None:
        """The newest `<prefix><run_date>` of `pk` (a `LIST#` by default, or a user's `CURATION#`) not after the
        pointer's run: a run still loading is never read."""
        response = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :first AND :last",
            ExpressionAttributeNames={"#pk": rm.PK, "#sk": rm.SK},
            ExpressionAttributeValues={
                ":pk": {"S": pk},
                ":first": {"S": prefix},
                ":last": {"S": f"{prefix}{pointer.run_date.isoformat()}"},
            },
            ScanIndexForward=False,
            Limit=1,
        )
        if not response.get("Items"):
            return None
        item = plain(response["Items"][0])
        run_date = date.fromisoformat(item[rm.SK].removeprefix(prefix))
        return StoredList(run_date=run_date, items=[str(i) for i in item.get("items") or []])

    def profile(self, country: str, user_id: str) -> Profile | None:
        item = self._get({rm.PK: rm.user_pk(country, user_id), rm.SK: rm.PROFILE})
        if item is None:
            return None
        return Profile(item.get("locale"), item.get("age_group"), item.get("gender"))

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(TableName=self.table, Key={k: {"S": v} for k, v in key.items()})
        return plain(response["Item"]) if "Item" in response else None
