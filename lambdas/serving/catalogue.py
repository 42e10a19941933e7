"""Item metadata decoration: item ids -> items with title, genres and created date from `ITEM#<id>` / `META`.

BatchGetItem in chunks of `MAX_KEYS_PER_CALL`; the DynamoDB API reference: "A single operation can retrieve up to
16 MB of data, which can contain as many as 100 items" and "If you request more than 100 items, BatchGetItem
returns a ValidationException". Keys DynamoDB leaves unprocessed are asked once more; an item still without
metadata is served with its id only (the list is never shortened for a missing title).
"""

from __future__ import annotations

from typing import Any

from serving import read_model as rm
from serving.store import plain

MAX_KEYS_PER_CALL = 100
_ATTRIBUTES = ("title", "genres", "created")


def decorate(dynamodb: Any, table: str, item_ids: list[str]) -> list[dict[str, Any]]:
    """[{itemId, title?, genres?, created?}] in the order of `item_ids`."""
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(item_ids))
    id_of = {rm.item_key(i)[rm.PK]: i for i in unique}
    for start in range(0, len(unique), MAX_KEYS_PER_CALL):
        keys = [{k: {"S": v} for k, v in rm.item_key(i).items()} for i in unique[start : start + MAX_KEYS_PER_CALL]]
        for attempt in range(2):
            response = dynamodb.batch_get_item(
                RequestItems={
                    table: {
                        "Keys": keys,
                        "ProjectionExpression": "#pk, #title, #genres, #created",
                        "ExpressionAttributeNames": {
                            "#pk": rm.PK,
                            **{f"#{name}": name for name in _ATTRIBUTES},
                        },
                    }
                }
            )
            for raw in response.get("Responses", {}).get(table, []):
                item = plain(raw)
                found[id_of[item[rm.PK]]] = item
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys or attempt:
                break
    return [_public(item_id, found.get(item_id)) for item_id in item_ids]


def _public(item_id: str, meta: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"itemId": item_id}
    if meta:
        if meta.get("title") is not None:
            out["title"] = str(meta["title"])
        if meta.get("genres") is not None:
            out["genres"] = [str(g) for g in meta["genres"]]
        if meta.get("created") is not None:
            out["created"] = int(meta["created"])
    return out
