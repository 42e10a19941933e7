"""The event contract (docs/event-contract.md) as a typed model, and its PutEvents `Event` form.

A record that fails here can never succeed however often Kinesis retries it, so every failure is a
`RecordRejected` carrying a reason from a fixed list (metrics and the dead-letter queue group by it) and a
detail that names the fields but never echoes their values (user and session ids are personal data).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from common.event_kinds import EventKind

# Personalize limits (developer guide, "Amazon Personalize endpoints and quotas"; botocore PutEvents model).
MAX_EVENTS_PER_CALL = 10  # EventList max 10; botocore's validator does not check `max`, so we must
MAX_EVENT_BYTES = 10 * 1024  # per event, as serialised on the wire
MAX_IMPRESSIONS = 25
# Far above any valid event (all ids at their maximum length is ~8 KB of ASCII): the bound only keeps a
# junk multi-megabyte record from being parsed at all.
MAX_RAW_RECORD_BYTES = 64 * 1024

# The window for `timestamp`, both forms, in epoch seconds: [2000-01-01, 5138-11-16T09:46:40Z).
# PutEvents documents `sentAt` only as "The timestamp (in Unix time) on the client side when the event
# occurred" (API reference, Event), and the developer guide's data formatting page says timestamp data "must be
# in Unix epoch time format in seconds": epoch values before 2000 or from 1e11 on are unit mistakes (0, ms).
# The window is also what botocore can send. Its validator and serialiser both call
# `botocore.utils.parse_to_aware_datetime`, which does `datetime_obj.astimezone(tzutc())`: an instant whose UTC
# date is past year 9999 (e.g. 9999-12-31T23:59:59-05:00) raises OverflowError while the request is built.
# Bounding the ISO form by the same epoch window keeps every accepted event within what botocore converts.
_MIN_EPOCH_S = 946_684_800
_MAX_EPOCH_S = 100_000_000_000


class RejectReason(StrEnum):
    MALFORMED_BASE64 = "malformed_base64"
    MALFORMED_JSON = "malformed_json"
    MISSING_FIELD = "missing_field"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_COUNTRY = "unknown_country"
    TOO_LARGE = "too_large"
    UNSENDABLE = "unsendable"  # the SDK raised while building the PutEvents request for this event
    REJECTED_BY_PERSONALIZE = "rejected_by_personalize"


class RecordRejected(Exception):
    """The record can never be delivered: it belongs in the dead-letter queue, not in a retry."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def _parse_timestamp(value: Any) -> datetime:
    # bool is an int subclass: `true` must not become 1970-01-01T00:00:01.
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string with a time zone or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not _MIN_EPOCH_S <= value < _MAX_EPOCH_S:
            raise ValueError(
                "epoch seconds out of range (after 2000-01-01 and in seconds, not milliseconds, expected)"
            )
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:
            # A local time would be read differently depending on where the Lambda runs.
            raise ValueError("ISO 8601 date-time needs a time zone (Z or +hh:mm)")
        # timestamp() of an aware datetime subtracts offsets without building a UTC datetime: it cannot overflow.
        if not _MIN_EPOCH_S <= parsed.timestamp() < _MAX_EPOCH_S:
            raise ValueError("outside 2000-01-01T00:00:00Z .. 5138-11-16T09:46:40Z (what PutEvents can be sent)")
        return parsed
    raise ValueError("must be an ISO 8601 string with a time zone or epoch seconds")


Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]


class InteractionEvent(BaseModel):
    """One record of the contract.

    Unknown fields are rejected so that a typo (`userId`) is caught instead of silently dropped.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # Lax for this field only: strict mode would make a Python caller pass an EventKind rather than its value.
    # JSON and Python input alike accept exactly the kinds' values; anything else is UNKNOWN_EVENT_TYPE.
    event_type: Annotated[EventKind, Field(strict=False)]
    country: CountryCode
    session_id: Id
    user_id: Id | None = None
    item_id: Id
    timestamp: Timestamp
    view_count: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    event_id: Id | None = None
    recommendation_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    impression: Annotated[list[Id], Field(min_length=1, max_length=MAX_IMPRESSIONS)] | None = None

    def default_event_id(self) -> str:
        """A content hash: the same event sent twice (a producer retry) gets the same id.

        Personalize ignores later events with an id it has seen when training, and already keeps only one
        of two events with the same timestamp and properties, so this adds no new merging rule.
        """
        key = "\x1f".join(
            (
                self.event_type,
                self.session_id,
                self.user_id or "",
                self.item_id,
                self.timestamp.isoformat(),
                "" if self.view_count is None else repr(self.view_count),
                self.recommendation_id or "",
                "\x1e".join(self.impression or ()),
            )
        )
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def to_put_event(self) -> dict[str, Any]:
        """The botocore `Event` dict for PutEvents (userId and sessionId belong to the call)."""
        event: dict[str, Any] = {
            "eventId": self.event_id or self.default_event_id(),
            "eventType": self.event_type.value,
            "itemId": self.item_id,
            "sentAt": self.timestamp,
        }
        if self.view_count is not None:
            event["eventValue"] = float(self.view_count)
        if self.recommendation_id is not None:
            event["recommendationId"] = self.recommendation_id
        if self.impression is not None:
            event["impression"] = list(self.impression)
        return event


def wire_size(event: dict[str, Any]) -> int:
    """Bytes of the event in the request body as botocore writes it (json.dumps escapes non-ASCII)."""
    return len(json.dumps({**event, "sentAt": event["sentAt"].timestamp()}))


def _describe(error: ValidationError) -> tuple[RejectReason, str]:
    errors = error.errors(include_url=False, include_input=False)
    kinds = {e["type"] for e in errors}
    if kinds & {"json_invalid", "json_type"}:
        return RejectReason.MALFORMED_JSON, "payload is not valid UTF-8 JSON"
    if "model_type" in kinds:
        return RejectReason.MALFORMED_JSON, "payload is JSON but not an object"
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in errors)
    if "missing" in kinds:
        return RejectReason.MISSING_FIELD, detail
    if any(e["loc"] and e["loc"][0] == "event_type" for e in errors):
        return RejectReason.UNKNOWN_EVENT_TYPE, detail
    return RejectReason.INVALID_FIELD, detail


def parse_record(data_b64: str) -> InteractionEvent:
    """Kinesis record data (base64, as Lambda delivers it) -> validated event, or RecordRejected."""
    try:
        raw = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise RecordRejected(RejectReason.MALFORMED_BASE64, "record data is not valid base64") from None
    if len(raw) > MAX_RAW_RECORD_BYTES:
        raise RecordRejected(
            RejectReason.TOO_LARGE, f"record is {len(raw)} bytes; the contract allows {MAX_RAW_RECORD_BYTES}"
        )
    try:
        return InteractionEvent.model_validate_json(raw)
    except ValidationError as error:
        reason, detail = _describe(error)
        raise RecordRejected(reason, detail) from None


def to_put_event(event: InteractionEvent) -> dict[str, Any]:
    """PutEvents `Event` dict, or RecordRejected(TOO_LARGE) above Personalize's per-event limit."""
    put_event = event.to_put_event()
    size = wire_size(put_event)
    if size > MAX_EVENT_BYTES:
        raise RecordRejected(
            RejectReason.TOO_LARGE,
            f"event is {size} bytes in PutEvents; Personalize accepts {MAX_EVENT_BYTES}",
        )
    return put_event
