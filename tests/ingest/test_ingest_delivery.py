"""Delivery behaviour through the handler's processor. Every test goes through `run`, which asserts the
invariant: each record delivered exactly once, reported for retry, or in the DLQ -- none lost or doubled.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter

import pytest

from ingest.dead_letters import MAX_DEAD_LETTER_DATA_CHARS
from ingest.delivery import DEFAULT_CONCURRENCY
from ingest.retry import RetryPolicy
from testkit.fakes.ingest import FakeClock, FakePersonalizeEvents, client_error, event, record

# ---------------------------------------------------------------- routing, batching, order


def test_several_countries_go_to_their_own_trackers(run):
    records = [
        record(event(1, country="KR", session_id="a")),
        record(event(2, country="JP", session_id="b")),
        record(event(3, country="US", session_id="c")),
        record(event(4, country="KR", session_id="a")),
        record(event(5, country="JP", session_id="b")),
    ]
    out = run(records)
    by_tracker = {
        call["trackingId"]: [e["eventId"] for e in call["eventList"]] for call in out.client.accepted
    }
    assert by_tracker == {"trk-kr": ["ev-1", "ev-4"], "trk-jp": ["ev-2", "ev-5"], "trk-us": ["ev-3"]}
    assert out.retried == [] and out.dead_letters == {}
    assert out.response == {"batchItemFailures": []}


def test_a_session_longer_than_ten_events_is_sent_in_order_in_calls_of_at_most_ten(run):
    records = [record(event(n, session_id="long")) for n in range(23)]
    out = run(records)
    assert [len(call) for call in out.events_by_call()] == [10, 10, 3]
    assert [e for call in out.events_by_call() for e in call] == [f"ev-{n}" for n in range(23)]
    assert all(call["sessionId"] == "long" for call in out.client.accepted)


def test_order_within_each_session_is_kept_when_sessions_interleave(run):
    # Three sessions interleaved the way one shard delivers them.
    sessions = ["x", "y", "z"]
    records = [record(event(n, session_id=sessions[n % 3])) for n in range(30)]
    out = run(records)
    for session in sessions:
        sent = [
            e["eventId"] for c in out.client.accepted if c["sessionId"] == session for e in c["eventList"]
        ]
        assert sent == [f"ev-{n}" for n in range(30) if sessions[n % 3] == session]
    # 10 events per session: one call each, the minimum possible.
    assert len(out.client.calls) == 3


def test_anonymous_events_then_login_keep_order_and_carry_the_user_id_only_after_login(run):
    records = [record(event(n, session_id="s", user_id=None)) for n in range(3)]
    records += [record(event(n, session_id="s", user_id="u-42")) for n in range(3, 5)]
    out = run(records)
    calls = out.client.accepted
    assert [(c.get("userId"), [e["eventId"] for e in c["eventList"]]) for c in calls] == [
        (None, ["ev-0", "ev-1", "ev-2"]),
        ("u-42", ["ev-3", "ev-4"]),
    ]
    assert all(c["sessionId"] == "s" for c in calls)


def test_event_fields_reach_put_events_in_botocore_shape(run):
    payload = event(
        1,
        event_type="purchase",
        user_id="u1",
        timestamp=1795000000,
        view_count=3,
        recommendation_id="rec-1",
        impression=["a", "b", "c"],
    )
    out = run([record(payload)])
    (call,) = out.client.accepted
    assert call["trackingId"] == "trk-kr" and call["userId"] == "u1" and call["sessionId"] == "s-1"
    (sent,) = call["eventList"]
    assert sent["eventType"] == "purchase" and sent["itemId"] == "item-1" and sent["eventId"] == "ev-1"
    assert sent["sentAt"].timestamp() == 1795000000
    assert sent["eventValue"] == 3.0
    assert sent["recommendationId"] == "rec-1" and sent["impression"] == ["a", "b", "c"]


# ---------------------------------------------------------------- records that can never succeed


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


BAD_RECORDS = {
    "base64 junk": ("!!not base64!!", "malformed_base64"),
    "malformed JSON": (_b64(b'{"event_type": "view", '), "malformed_json"),
    "not UTF-8": (_b64(b"\xff\xfe\x00junk"), "malformed_json"),
    "JSON but not an object": (_b64(b'["view", "KR"]'), "malformed_json"),
    "missing item_id": (event(90, item_id=None), "missing_field"),
    "missing session_id": (event(91, session_id=None), "missing_field"),
    "unknown event type": (event(92, event_type="click"), "unknown_event_type"),
    "unknown country": (event(93, country="FR"), "unknown_country"),
    "country not ISO alpha-2": (event(94, country="KOR"), "invalid_field"),
    "epoch milliseconds": (event(95, timestamp=1795000000000), "invalid_field"),
    "unknown field": (event(96, userId="u"), "invalid_field"),
    "raw record too large": (_b64(b" " * 70_000 + json.dumps(event(97)).encode()), "too_large"),
    "event too large for PutEvents": (event(98, impression=["\U0001f600" * 256] * 25), "too_large"),
}


@pytest.mark.parametrize("payload, reason", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_record_that_can_never_succeed_goes_to_the_dlq_with_its_reason_and_data(run, payload, reason):
    bad = record(payload, partition_key="pk-bad")
    good = [record(event(1)), bad, record(event(2))]
    out = run(good)
    assert list(out.dead_letters) == [bad.sequence_number]
    letter = out.dead_letters[bad.sequence_number]
    assert letter["reason"] == reason
    assert letter["detail"]
    assert letter["data"] == bad.data and letter["dataTruncated"] is False
    assert letter["partitionKey"] == "pk-bad"
    assert letter["shardId"] == "shardId-000000000000"
    assert letter["eventSourceArn"].endswith(":stream/events")
    assert letter["approximateArrivalTimestamp"] == 1795000000.123
    # The good records around it are delivered, in order, in one call, and nothing is retried.
    assert out.events_by_call() == [["ev-1", "ev-2"]]
    assert out.retried == []


def test_dlq_detail_names_the_field_but_not_personal_values(run):
    bad = record(event(1, user_id="secret-user-123", timestamp="yesterday"))
    out = run([bad])
    letter = out.dead_letters[bad.sequence_number]
    assert "timestamp" in letter["detail"]
    assert "secret-user-123" not in letter["detail"]


def test_an_oversized_payload_is_truncated_in_the_dlq_but_keeps_a_fingerprint(run):
    raw = b"x" * 200_000
    bad = record(raw)
    out = run([bad])
    letter = out.dead_letters[bad.sequence_number]
    assert letter["reason"] == "too_large"
    assert letter["dataTruncated"] is True
    assert letter["dataChars"] == len(bad.data)
    assert letter["dataSha256"] == hashlib.sha256(bad.data.encode()).hexdigest()
    assert len(letter["data"]) <= MAX_DEAD_LETTER_DATA_CHARS
    assert raw.startswith(base64.b64decode(letter["data"]))  # the kept prefix still decodes


def test_personalize_rejecting_one_event_isolates_it_and_delivers_the_rest_in_order(run):
    def reject_item_3(params, number):
        if any(e["itemId"] == "item-3" for e in params["eventList"]):
            return client_error("InvalidInputException", message="bad item")
        return None

    records = [record(event(n)) for n in range(6)]
    out = run(records, FakePersonalizeEvents(reject_item_3))
    assert list(out.dead_letters) == [records[3].sequence_number]
    assert out.dead_letters[records[3].sequence_number]["reason"] == "rejected_by_personalize"
    assert "InvalidInputException" in out.dead_letters[records[3].sequence_number]["detail"]
    assert [e for call in out.events_by_call() for e in call] == ["ev-0", "ev-1", "ev-2", "ev-4", "ev-5"]
    assert out.retried == []


# ---------------------------------------------------------------- throttling, deadlines, blocked sessions


@pytest.mark.parametrize("error", [client_error("ThrottlingException"), client_error("InternalFailure", 500)])
def test_throttling_or_5xx_then_success_delivers_everything_after_backoff(run, error):
    failures = {1, 2}

    def flaky(params, number):
        return error if number in failures else None

    clock = FakeClock()
    records = [record(event(n)) for n in range(4)]
    out = run(records, FakePersonalizeEvents(flaky), clock=clock)
    assert out.delivered == [r.sequence_number for r in records]
    assert len(out.client.calls) == 3  # two failures, one success, no duplicate delivery
    policy = RetryPolicy()
    assert len(clock.sleeps) == 2
    for attempt, pause in enumerate(clock.sleeps, start=1):
        assert 0 <= pause <= policy.base_delay_s * 2 ** (attempt - 1)


def test_connection_errors_are_retried_too(run):
    def drop_first(params, number):
        return ConnectionResetError("connection reset by peer") if number == 1 else None

    records = [record(event(1))]
    out = run(records, FakePersonalizeEvents(drop_first))
    assert out.delivered == [records[0].sequence_number]


def test_persistent_throttling_reports_records_for_retry_without_hammering_the_tracker(run):
    def throttle_kr(params, number):
        return client_error("ThrottlingException") if params["trackingId"] == "trk-kr" else None

    kr = [record(event(n, session_id=f"kr-{n % 4}")) for n in range(40)]
    jp = [record(event(100 + n, country="JP", session_id="jp")) for n in range(5)]
    clock = FakeClock()
    out = run(kr + jp, FakePersonalizeEvents(throttle_kr), clock=clock)
    assert out.retried == [r.sequence_number for r in kr]
    assert out.delivered == [r.sequence_number for r in jp]
    # Each call gives up after its attempts; once one has, the KR calls after it in stream order are not
    # sent (the pool may hold the other three sessions' calls in flight at that moment).
    kr_calls = [c for c in out.client.calls if c["trackingId"] == "trk-kr"]
    assert RetryPolicy().max_attempts <= len(kr_calls) <= 4 * RetryPolicy().max_attempts
    assert clock.t - 1000.0 < 60


def test_persistent_throttling_tries_only_the_sessions_in_flight_not_every_session(run):
    def throttle_kr(params, number):
        return client_error("ThrottlingException") if params["trackingId"] == "trk-kr" else None

    kr = [record(event(n, session_id=f"kr-{n}")) for n in range(200)]
    out = run(kr, FakePersonalizeEvents(throttle_kr))
    assert out.retried == [r.sequence_number for r in kr]
    sessions_tried = {c["sessionId"] for c in out.client.calls}
    # Workers take sessions in stream order; those taken after the first give-up are never sent.
    assert len(sessions_tried) <= DEFAULT_CONCURRENCY
    assert len(out.client.calls) <= DEFAULT_CONCURRENCY * RetryPolicy().max_attempts


def test_a_failed_call_holds_back_the_rest_of_its_session_but_not_other_trackers(run):
    # The second call of session "s" fails for good: its events and all later ones of "s" must wait.
    def fail_second_kr_call(params, number):
        kr_calls = [c for c in fake.calls if c["trackingId"] == "trk-kr"]
        if params["trackingId"] == "trk-kr" and len(kr_calls) >= 2:
            return client_error("ServiceUnavailable", 503)
        return None

    fake = FakePersonalizeEvents(fail_second_kr_call)
    session = [record(event(n, session_id="s")) for n in range(25)]
    other = [record(event(100, country="JP", session_id="t"))]
    out = run(session + other, fake)
    kr_calls = [[e["eventId"] for e in c["eventList"]] for c in out.client.accepted if c["trackingId"] == "trk-kr"]
    assert kr_calls == [[f"ev-{n}" for n in range(10)]]
    assert out.retried == [r.sequence_number for r in session[10:]]
    # The sessions run side by side, so only the set delivered is fixed, not which call finished first.
    assert sorted(out.delivered) == sorted(r.sequence_number for r in session[:10] + other)


def test_access_denied_is_not_retried_at_once_then_only_one_probe_at_a_time_waits_for_it(run):
    fake = FakePersonalizeEvents(lambda params, number: client_error("AccessDeniedException", 403))
    records = [record(event(n, session_id=f"s{n}")) for n in range(3)]
    clock = FakeClock()
    out = run(records, fake, clock=clock)
    # First pass: at most one attempt per call (sessions already in flight when the first was refused); then
    # only the earliest failed session (s0) is probed, after pauses growing to at most 15 s, until the deadline
    # (60 s budget - 5 s reserve): a few calls, not one per session per second.
    attempts = Counter(call["sessionId"] for call in fake.calls)
    assert attempts["s1"] <= 1 and attempts["s2"] <= 1
    assert 1 + 3 <= attempts["s0"] <= 1 + 12
    assert all(0.5 <= pause <= 15 for pause in clock.sleeps)
    assert clock.t - 1000.0 <= 55
    assert out.retried == [r.sequence_number for r in records]


def test_running_out_of_time_reports_the_rest_for_retry(run):
    clock = FakeClock()

    def slow_throttle(params, number):
        clock.t += 1.5  # each call takes 1.5 s of the invocation
        return client_error("ThrottlingException") if number <= 2 else None

    records = [record(event(n, session_id=f"s{n}")) for n in range(10)]
    # 8 s budget: the reserve keeps 2 s back, so PutEvents may run for about 6 s. One worker: the fake clock
    # adds up call durations, which models calls one after another (test_ingest_concurrency covers the pool).
    out = run(records, FakePersonalizeEvents(slow_throttle), clock=clock, budget_s=8, concurrency=1)
    assert out.delivered and out.retried
    assert out.delivered == [r.sequence_number for r in records[: len(out.delivered)]]
    assert clock.t - 1000.0 <= 8


def test_reported_records_are_delivered_when_kinesis_retries_them(run):
    """Kinesis redelivers from the lowest reported sequence number; over both invocations none is lost."""
    state = {"throttle": True}

    def throttled_once(params, number):
        return client_error("ThrottlingException") if state["throttle"] else None

    records = [record(event(n, session_id=f"s{n % 3}")) for n in range(12)]
    first = run(records, FakePersonalizeEvents(throttled_once))
    assert first.retried
    state["throttle"] = False
    lowest = min(first.retried, key=int)
    redelivered = [r for r in records if int(r.sequence_number) >= int(lowest)]
    second = run(redelivered, FakePersonalizeEvents(throttled_once))
    assert set(first.delivered) | set(second.delivered) == {r.sequence_number for r in records}


# ---------------------------------------------------------------- the dead-letter queue itself failing


class FailingSqs:
    """Wraps the moto client; `fail(entry_ids, call_number)` picks entries to fail or raises."""

    def __init__(self, real, fail):
        self.real = real
        self.fail = fail
        self.calls = 0

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - botocore's parameter names
        self.calls += 1
        result = self.fail([e["Id"] for e in Entries], self.calls)
        if isinstance(result, Exception):
            raise result
        keep = [e for e in Entries if e["Id"] not in result]
        response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=keep) if keep else {}
        failed = [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in result]
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_a_dlq_that_cannot_be_reached_leaves_bad_records_for_kinesis_to_retry(run, sqs):
    failing = FailingSqs(sqs[0], lambda ids, n: client_error("AccessDenied", 403))
    bad = [record("###"), record(event(7, event_type="click"))]
    good = [record(event(1))]
    out = run(bad + good, dlq_client=failing)
    assert out.dead_letters == {}
    assert out.retried == [r.sequence_number for r in bad]
    assert out.delivered == [good[0].sequence_number]


def test_dlq_entries_that_fail_once_are_resent(run, sqs):
    failing = FailingSqs(sqs[0], lambda ids, n: set(ids[:1]) if n == 1 else set())
    bad = [record("###"), record("$$$")]
    out = run(bad, dlq_client=failing)
    assert set(out.dead_letters) == {r.sequence_number for r in bad}
    assert failing.calls == 2


def test_dlq_entries_that_keep_failing_are_reported_and_the_others_stored(run, sqs):
    failing = FailingSqs(sqs[0], lambda ids, n: {i for i in ids if i == "r0"})
    bad = [record("###"), record("$$$")]
    out = run(bad, dlq_client=failing)
    assert out.retried == [bad[0].sequence_number]
    assert list(out.dead_letters) == [bad[1].sequence_number]
