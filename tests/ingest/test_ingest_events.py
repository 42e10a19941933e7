"""The record contract: parsing, validation errors, conversion to the botocore PutEvents Event shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from botocore.validate import validate_parameters

from ingest.events import (
    MAX_EVENT_BYTES,
    RecordRejected,
    RejectReason,
    parse_record,
    to_put_event,
    wire_size,
)
from testkit.fakes.ingest import PUT_EVENTS_INPUT, event


def encode(payload) -> str:
    return base64.b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode()


def put_event(payload) -> dict:
    return to_put_event(parse_record(encode(payload)))


def test_iso_and_epoch_timestamps_mean_the_same_instant():
    iso = put_event(event(1, timestamp="2026-11-20T19:00:00+09:00"))
    epoch = put_event(event(1, timestamp=datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()))
    assert iso["sentAt"] == epoch["sentAt"] == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_conversion_is_a_valid_botocore_put_events_request():
    full = put_event(
        event(
            1,
            user_id="u",
            view_count=2.5,
            recommendation_id="r" * 40,
            impression=["a", "b"],
            event_type="purchase",
        )
    )
    validate_parameters({"trackingId": "t", "sessionId": "s", "eventList": [full]}, PUT_EVENTS_INPUT)
    assert full == {
        "eventId": "ev-1",
        "eventType": "purchase",
        "itemId": "item-1",
        "sentAt": datetime(2026, 11, 20, 10, tzinfo=UTC),
        "eventValue": 2.5,
        "recommendationId": "r" * 40,
        "impression": ["a", "b"],
    }
    minimal = put_event(event(2, event_id=None))
    assert set(minimal) == {"eventId", "eventType", "itemId", "sentAt"}


def test_default_event_id_is_stable_for_the_same_event_and_differs_otherwise():
    first = put_event(event(1, event_id=None))["eventId"]
    again = put_event(event(1, event_id=None))["eventId"]
    other_time = put_event(event(1, event_id=None, timestamp="2026-11-20T10:00:01Z"))["eventId"]
    other_user = put_event(event(1, event_id=None, user_id="u"))["eventId"]
    assert first == again
    assert len({first, other_time, other_user}) == 3
    assert 1 <= len(first) <= 256


@pytest.mark.parametrize(
    "fields, reason, field",
    [
        ({"event_type": "click"}, RejectReason.UNKNOWN_EVENT_TYPE, "event_type"),
        ({"item_id": None}, RejectReason.MISSING_FIELD, "item_id"),
        ({"timestamp": None}, RejectReason.MISSING_FIELD, "timestamp"),
        ({"country": "kr"}, RejectReason.INVALID_FIELD, "country"),
        ({"timestamp": "2026-11-20T10:00:00"}, RejectReason.INVALID_FIELD, "time zone"),
        ({"timestamp": 1795000000000}, RejectReason.INVALID_FIELD, "milliseconds"),
        ({"timestamp": 0}, RejectReason.INVALID_FIELD, "timestamp"),
        ({"timestamp": True}, RejectReason.INVALID_FIELD, "boolean"),
        ({"timestamp": "soon"}, RejectReason.INVALID_FIELD, "ISO 8601"),
        ({"view_count": -1}, RejectReason.INVALID_FIELD, "view_count"),
        ({"view_count": "3"}, RejectReason.INVALID_FIELD, "view_count"),
        ({"session_id": ""}, RejectReason.INVALID_FIELD, "session_id"),
        ({"user_id": "u" * 257}, RejectReason.INVALID_FIELD, "user_id"),
        ({"recommendation_id": "r" * 41}, RejectReason.INVALID_FIELD, "recommendation_id"),
        ({"impression": []}, RejectReason.INVALID_FIELD, "impression"),
        ({"impression": ["i"] * 26}, RejectReason.INVALID_FIELD, "impression"),
        ({"itemId": "x"}, RejectReason.INVALID_FIELD, "itemId"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason_naming_the_field(fields, reason, field):
    with pytest.raises(RecordRejected) as caught:
        parse_record(encode(event(1, **fields)))
    assert caught.value.reason is reason
    assert field in caught.value.detail


def test_event_size_is_measured_as_botocore_sends_it():
    # 25 impressions of 256 emoji are valid lengths but ~77 KB once JSON-escaped: too large for Personalize.
    emoji = parse_record(encode(event(1, impression=["\U0001f600" * 256] * 25)))
    with pytest.raises(RecordRejected) as caught:
        to_put_event(emoji)
    assert caught.value.reason is RejectReason.TOO_LARGE
    ascii_max = put_event(event(2, impression=["i" * 256] * 25, item_id="x" * 256))
    assert wire_size(ascii_max) <= MAX_EVENT_BYTES
