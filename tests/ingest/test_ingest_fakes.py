"""The personalize-events fake refuses what boto3 or the service would refuse, so a test passing against it
means a request the real PutEvents accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from testkit.fakes.ingest import FakePersonalizeEvents

SENT_AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _events(count: int, **fields: str) -> list[dict]:
    return [{"eventType": "view", "sentAt": SENT_AT, "itemId": f"item-{n}", **fields} for n in range(count)]


def test_the_events_fake_refuses_more_than_ten_events_in_one_call_as_the_service_does():
    fake = FakePersonalizeEvents()
    with pytest.raises(ClientError) as refused:
        fake.put_events(trackingId="trk", sessionId="s-1", eventList=_events(11))
    assert refused.value.response["Error"]["Code"] == "InvalidInputException"
    assert fake.accepted == [] and fake.shape_errors == []  # botocore itself lets 11 through


def test_the_events_fake_refuses_a_field_longer_than_the_model_allows():
    fake = FakePersonalizeEvents()
    with pytest.raises(ClientError) as refused:
        fake.put_events(trackingId="trk", sessionId="s-1", eventList=_events(1, itemId="i" * 257))
    assert refused.value.response["Error"]["Code"] == "InvalidInputException"
    assert fake.accepted == []


def test_the_events_fake_records_a_request_boto3_would_not_send():
    fake = FakePersonalizeEvents()
    with pytest.raises(ParamValidationError):
        fake.put_events(sessionId="s-1", eventList=_events(1))  # no trackingId
    assert len(fake.shape_errors) == 1 and fake.calls == []


def test_the_events_fake_accepts_a_full_call_and_lists_its_event_ids():
    fake = FakePersonalizeEvents()
    fake.put_events(trackingId="trk", sessionId="s-1", userId="u-1", eventList=_events(10, eventId="e"))
    assert fake.accepted_event_ids() == ["e"] * 10
