"""How the run ledger's items are stored: plain values as DynamoDB attribute values, and back.

Nested documents (steps, gate decisions, metrics, ...) are stored as JSON strings. Decoding checks each such field
holds the JSON type the code expects; a field that does not is never a crash: `decode_item(..., partial=True)`
leaves it out and names it, in one line, under `MALFORMED` (readers that must go on: the tool, BeginRun, the failure
recorder), and `undecodable_fields` tells a takeover which raw values to keep (pipeline.ledger.claim_run).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def to_dynamo(value: Any) -> dict[str, Any]:
    """Plain JSON values as DynamoDB attribute values (nested documents are stored as JSON strings)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, (date, datetime)):
        return {"S": value.isoformat()}
    if isinstance(value, str):
        return {"S": value}
    return {"S": json.dumps(value, default=str, sort_keys=True)}


# Fields stored as JSON strings, and the JSON type each holds (null is allowed for all).
_JSON_FIELDS: dict[str, type] = {
    "steps": dict,
    "counts": dict,
    "data_quality": dict,
    "metrics": dict,
    "promoted": dict,
    "failure": dict,
    "earlier_failure": dict,
    "late_failure": dict,
    "jobs": dict,
    "gate": list,
    "new_metrics": dict,
    "training": dict,
    "cold_start": dict,
    "cost": dict,  # cost drivers and the estimate (pipeline.steps.finish.cost)
    "quarantined": list,
}
_JSON_NAMES: dict[type, str] = {dict: "a JSON object", list: "a JSON array"}
# Fields the ledger's own conditions and the readers compare as strings.
_STRING_FIELDS = frozenset({"pk", "sk", "status", "execution_arn"})

# Key a partially decoded record carries when some of its fields could not be decoded: one line naming the
# item's key and each such field (`decode_item(..., partial=True)`).
MALFORMED = "malformed"


class MalformedRecord(ValueError):
    """A ledger item with fields the code cannot decode (a hand edit gone wrong, a foreign writer)."""


class _Undecodable(ValueError):
    pass


def _decode_value(key: str, value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    expected = _JSON_FIELDS.get(key)
    if expected is not None and kind != "NULL":
        if kind != "S":
            raise _Undecodable(f"is not {_JSON_NAMES[expected]}")
        try:
            decoded = json.loads(raw)
        except ValueError as error:
            raise _Undecodable(f"is not valid JSON ({error})") from None
        if decoded is not None and not isinstance(decoded, expected):
            raise _Undecodable(f"is not {_JSON_NAMES[expected]}")
        return decoded
    if key in _STRING_FIELDS and kind != "S":
        raise _Undecodable("is not a string")
    if kind == "S":
        return raw
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NULL":
        return None
    if kind == "SS":
        return sorted(raw)
    return raw  # BOOL, and kinds the ledger does not write, as they are


def undecodable_fields(item: dict[str, Any]) -> dict[str, str]:
    """Field -> why it cannot be decoded, for each field of a raw DynamoDB item that cannot."""
    problems: dict[str, str] = {}
    for key, value in item.items():
        try:
            _decode_value(key, value)
        except _Undecodable as why:
            problems[key] = str(why)
    return problems


def decode_item(item: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A raw DynamoDB item as plain values. A field that cannot be decoded raises MalformedRecord, whose message is
    one line naming the item's key and the field; `partial`: leave such fields out and put that line under
    MALFORMED instead (readers that must go on: the tool, BeginRun, the failure recorder)."""
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in item.items():
        try:
            out[key] = _decode_value(key, value)
        except _Undecodable as why:
            problems[key] = str(why)
    if problems:
        where = " ".join(str(item.get(part, {}).get("S", "?")) for part in ("pk", "sk"))
        line = f"ledger record {where} is malformed: " + "; ".join(f"{k} {why}" for k, why in problems.items())
        if not partial:
            raise MalformedRecord(" ".join(line.split()))
        out[MALFORMED] = " ".join(line.split())
    return out
