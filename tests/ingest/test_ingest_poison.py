"""Poison events: a record the contract accepts must be one botocore can turn into a PutEvents request, and a
request botocore cannot build is about its events, never an outage of the tracker. PutEvents goes through a
real botocore client here (`RealRequestBuilding`: its validator, serialiser and signer; only the HTTP send is
stubbed), so what botocore raises is what the Lambda would see."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime

import pytest

from bench.ingest_outage import Scenario, simulate
from ingest import delivery as delivery_module
from ingest.events import RecordRejected, RejectReason, parse_record, to_put_event
from ingest.retry import RetryPolicy
from testkit.fakes.ingest import FakeClock, FakePersonalizeEvents, RealRequestBuilding, event, record
from tests.replay.events_world import Realtime
from tools.replay import events as replay_events

# Year 9999 at UTC-5 is year 10000 in UTC: botocore converts sentAt to UTC and raises OverflowError.
POISON_TIMESTAMP = "9999-12-31T23:59:59-05:00"


def _sent(client: RealRequestBuilding) -> dict[str, list[str]]:
    """Event ids per session, in the order PutEvents accepted them."""
    sent: dict[str, list[str]] = {}
    for call in client.accepted:
        sent.setdefault(call["sessionId"], []).extend(e["eventId"] for e in call["eventList"])
    return sent


def test_a_timestamp_botocore_cannot_send_is_dead_lettered_and_the_session_around_it_delivered(run):
    clock = FakeClock()
    client = RealRequestBuilding(FakePersonalizeEvents())
    records = [
        record(event(1, session_id="s")),
        record(event(2, session_id="s", timestamp=POISON_TIMESTAMP)),
        record(event(3, session_id="s")),
        record(event(4, session_id="other")),
    ]
    out = run(records, client, clock=clock)
    assert out.retried == []
    assert list(out.dead_letters) == [records[1].sequence_number]
    letter = out.dead_letters[records[1].sequence_number]
    assert letter["reason"] == RejectReason.INVALID_FIELD and "timestamp" in letter["detail"]
    assert POISON_TIMESTAMP not in letter["detail"]  # field names and rules, never the values
    assert _sent(client) == {"s": ["ev-1", "ev-3"], "other": ["ev-4"]}
    assert clock.sleeps == []  # nothing waited for: no backoff, no outage patience


@pytest.mark.parametrize(
    "timestamp, accepted",
    [
        ("2000-01-01T00:00:00Z", True),
        (946_684_800, True),
        (99_999_999_999.999, True),
        ("5138-11-16T09:46:39Z", True),  # the last whole second of the window
        ("5138-11-16T09:46:40Z", False),
        ("5138-11-16T18:46:39+09:00", True),
        ("9999-12-31T23:59:59+14:00", False),
        (POISON_TIMESTAMP, False),
        ("0001-01-01T00:00:00+05:00", False),
        ("1999-12-31T23:59:59Z", False),
    ],
)
def test_every_timestamp_the_contract_accepts_is_one_botocore_builds_a_request_with(timestamp, accepted):
    client = RealRequestBuilding(FakePersonalizeEvents())
    data = base64.b64encode(json.dumps(event(1, timestamp=timestamp)).encode()).decode()
    if not accepted:
        with pytest.raises(RecordRejected) as caught:
            parse_record(data)
        assert caught.value.reason is RejectReason.INVALID_FIELD
        assert caught.value.detail.startswith("timestamp:") and "\n" not in caught.value.detail
        return
    client.put_events(trackingId="t", sessionId="s", eventList=[to_put_event(parse_record(data))])
    assert client.built == 1


def test_a_record_with_every_field_at_its_contract_maximum_builds_and_is_within_the_put_events_model(run):
    """The contract's bounds are within botocore's shape (`min`/`max` of each member, which the fake enforces)."""
    client = RealRequestBuilding(FakePersonalizeEvents())
    largest = event(
        1,
        session_id="s" * 256,
        user_id="u" * 256,
        item_id="i" * 256,
        event_id="e" * 256,
        recommendation_id="r" * 40,
        impression=["m" * 256] * 25,
        view_count=1.7976931348623157e308,
        timestamp=99_999_999_999.5,
    )
    out = run([record(largest)], client)
    assert out.dead_letters == {} and out.retried == [] and client.built == 1


def _unbuildable(item_id: str, field: str, value: object):
    """ingest.delivery.to_put_event, except that one item's event gets a value botocore refuses to build: a
    contract gap that a future field could open, reproduced without weakening the contract itself."""

    def convert(parsed):
        put_event = to_put_event(parsed)
        return {**put_event, field: value} if parsed.item_id == item_id else put_event

    return convert


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("sentAt", datetime.fromisoformat(POISON_TIMESTAMP), "OverflowError"),
        ("eventValue", "not-a-number", "ParamValidationError"),
    ],
)
def test_an_error_raised_while_building_a_request_dead_letters_that_event_and_delivers_the_rest_of_the_call(
    run, monkeypatch, field, value, error
):
    monkeypatch.setattr(delivery_module, "to_put_event", _unbuildable("item-2", field, value))
    clock = FakeClock()
    client = RealRequestBuilding(FakePersonalizeEvents())
    same_session = [record(event(n, session_id="s")) for n in range(1, 5)]
    same_tracker_later = [record(event(n, session_id=f"later-{n}")) for n in range(5, 8)]
    out = run(same_session + same_tracker_later, client, clock=clock)
    poison = same_session[1].sequence_number
    assert out.retried == []
    assert list(out.dead_letters) == [poison]
    letter = out.dead_letters[poison]
    assert letter["reason"] == RejectReason.UNSENDABLE and error in letter["detail"]
    assert str(value) not in letter["detail"]
    # The session's other events still reach Personalize in stream order; the tracker was never held.
    assert _sent(client) == {"s": ["ev-1", "ev-3", "ev-4"]} | {f"later-{n}": [f"ev-{n}"] for n in range(5, 8)}
    assert clock.sleeps == []


@pytest.mark.parametrize("attempt", [1, 64, 1025, 100_000])
def test_backoff_steps_are_bounded_for_any_number_of_attempts(attempt):
    policy = RetryPolicy()
    assert 0 <= policy.delay(attempt, 1.0) <= policy.max_delay_s
    assert policy.outage_delay(attempt, 0.0) <= policy.outage_delay(attempt, 1.0) <= policy.outage_max_delay_s
    # The smallest positive base reaches 2 ** 1024 x base only after a thousand attempts: still bounded.
    tiny = RetryPolicy(base_delay_s=5e-324, outage_base_delay_s=5e-324)
    assert tiny.delay(attempt, 1.0) <= tiny.max_delay_s
    assert tiny.outage_delay(attempt, 1.0) <= tiny.outage_max_delay_s


@pytest.fixture
def realtime(monkeypatch):
    from moto import mock_aws

    monkeypatch.setattr(replay_events, "RECEIVE_WAIT_S", 0)  # moto's SQS really waits out a long poll
    with mock_aws():
        yield Realtime(personalize=RealRequestBuilding)


def test_events_replay_dead_letters_the_poison_record_with_its_reason_and_finishes_the_range(realtime):
    payloads = [
        event(1, session_id="s-kr"),
        event(2, session_id="s-kr", timestamp=POISON_TIMESTAMP),
        event(3, session_id="s-kr"),
    ]
    numbers = realtime.put(payloads)
    realtime.fail_batch(numbers)

    code, out, err = realtime.cli("--yes")

    assert code == 0, err
    assert realtime.sent_by_session() == {"s-kr": ["ev-1", "ev-3"]}
    letters = realtime.dead_letters()
    assert [(letter["sequenceNumber"], letter["reason"]) for letter in letters] == [
        (numbers[1], RejectReason.INVALID_FIELD)
    ]
    assert realtime.visible_descriptors() == 0
    assert "1 deleted, 0 kept" in out


def test_poison_records_in_the_stream_lose_nothing_and_do_not_stall_the_shard():
    # Small enough for the suite; `make bench` runs 150,000 records (bench/bench_outage.py).
    poison = Scenario(
        records=6_000,
        throttle_rate=0.0,
        server_error_rate=0.0,
        timeout_rate=0.0,
        malformed_rate=0.0,
        outage_s=0.0,
        poison_records=3,
        build_requests=True,
    )
    poisoned = simulate(poison)
    clean = simulate(replace(poison, poison_records=0))
    assert poisoned.lost == clean.lost == 0
    assert poisoned.dead_letter_reasons == {RejectReason.INVALID_FIELD: poison.poison_records}
    assert poisoned.order_violations == 0 and poisoned.failure_descriptors == 0
    assert poisoned.max_delivery_delay_s <= 2 * clean.max_delivery_delay_s
