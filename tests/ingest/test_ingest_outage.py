"""Events survive a 15-minute Personalize outage with no manual work, and what Lambda still gives up on
is recoverable. The outage patience inside one invocation, bounded dead letters, stable event ids, and the
fault harness at scale (bench/ingest_outage.py: the real handler path under a simulated event source mapping
and clock)."""

from __future__ import annotations

import json

import pytest

from bench.ingest_outage import Scenario, simulate
from ingest.dead_letters import MAX_DEAD_LETTER_INLINE_BYTES, DeadLetter, bounded_dead_letter_body
from ingest.events import RejectReason, parse_record
from ingest.inbound import InboundRecord
from testkit.fakes.ingest import FakeClock, FakePersonalizeEvents, client_error, event, record


def test_a_tracker_down_for_20_seconds_is_waited_out_within_the_invocation(run):
    clock = FakeClock()
    down_until = clock.t + 20

    def kr_down(params, number):
        if params["trackingId"] == "trk-kr" and clock.t < down_until:
            return client_error("ServiceUnavailableException", 503)
        return None

    kr = [record(event(n, session_id=f"kr-{n % 5}")) for n in range(30)]
    jp = [record(event(100 + n, country="JP", session_id="jp")) for n in range(5)]
    fake = FakePersonalizeEvents(kr_down)
    out = run(kr + jp, fake, clock=clock)
    assert out.retried == []  # nothing left for Kinesis: no redelivery, no duplicate
    assert sorted(out.delivered) == sorted(r.sequence_number for r in kr + jp)
    for session in {f"kr-{n}" for n in range(5)}:
        sent = [e["eventId"] for c in fake.accepted if c["sessionId"] == session for e in c["eventList"]]
        assert sent == [f"ev-{n}" for n in range(30) if n % 5 == int(session[-1])]
    # During the outage only one probe at a time went to KR, after growing pauses.
    during = [c for c in fake.calls[: len(fake.calls) - len(fake.accepted)] if c["trackingId"] == "trk-kr"]
    assert len(during) <= 5 * 6 + 8
    assert 20 <= clock.t - 1000.0 < 55


def test_a_longer_outage_leaves_the_records_for_kinesis_in_order_after_a_few_probes(run):
    fake = FakePersonalizeEvents(
        lambda params, number: (
            client_error("ServiceUnavailableException", 503) if params["trackingId"] == "trk-kr" else None
        )
    )
    kr = [record(event(n, session_id=f"kr-{n % 50}")) for n in range(200)]
    clock = FakeClock()
    out = run(kr, fake, clock=clock)
    assert out.retried == [r.sequence_number for r in kr]
    # First pass: the pool's sessions in flight (16) x 6 attempts at most; then one probe per pause.
    assert len(fake.calls) <= 16 * 6 + 12
    assert clock.t - 1000.0 <= 55


def test_a_dead_letter_above_the_bound_is_kept_whole_in_the_store_and_the_message_points_to_it():
    stored: dict[str, bytes] = {}

    class Store:
        def put(self, key: str, body: bytes) -> str:
            stored[key] = body
            return f"s3://results/{key}"

    small = DeadLetter(InboundRecord("1", "e30=", "pk", "shardId-000000000000"), RejectReason.MISSING_FIELD, "x")
    assert json.loads(bounded_dead_letter_body(small, Store()))["data"] == "e30=" and stored == {}

    detail = "; ".join(f"unknown_{i}: Extra inputs are not permitted" for i in range(3000))
    large = DeadLetter(
        InboundRecord("2", "QUJD" * 20_000, "pk", "shardId-000000000000"), RejectReason.INVALID_FIELD, detail
    )
    body = bounded_dead_letter_body(large, Store())
    assert len(body.encode()) <= MAX_DEAD_LETTER_INLINE_BYTES
    pointer = json.loads(body)
    key = "dead-letters/ingest/shardId-000000000000/2.json"
    assert pointer["payloadLocation"] == f"s3://results/{key}" and pointer["data"] is None
    assert pointer["reason"] == "invalid_field" and pointer["sequenceNumber"] == "2"
    whole = json.loads(stored[key])
    assert whole["data"] == "QUJD" * 20_000 and whole["detail"] == detail and whole["dataTruncated"] is False


def test_an_event_without_an_id_gets_the_same_id_every_time_it_is_read():
    """A replay, or a Kinesis redelivery, sends the same event id: Personalize keeps one of the two."""
    payload = event(1, event_id=None, user_id="u-1", view_count=2)
    first = parse_record(record(payload).data).to_put_event()["eventId"]
    again = parse_record(record(dict(reversed(list(payload.items())))).data).to_put_event()["eventId"]
    assert first == again
    assert parse_record(record({**payload, "item_id": "item-2"}).data).to_put_event()["eventId"] != first


# ------------------------------------------------------------------------------------------------ at scale

# 30,000 records keep the suite fast (~5 s); `make bench` runs 100,000 (bench/bench_outage.py).
SUITE = Scenario(records=30_000, outage_start_s=120.0)


@pytest.fixture(scope="module")
def outage():
    return simulate(SUITE)


def test_a_15_minute_outage_with_throttling_5xx_timeouts_and_bad_records_loses_nothing(outage):
    assert outage.lost == 0
    assert outage.records == SUITE.records == outage.delivered + outage.dead_lettered + outage.replayed
    # The retry budget spans the outage: nothing reached the failure queue, nothing needed replaying.
    assert outage.failure_descriptors == 0 and outage.replayed == 0
    # Only the malformed records were dead-lettered.
    assert set(outage.dead_letter_reasons) <= {"malformed_base64", "malformed_json"}
    assert outage.dead_lettered == sum(outage.dead_letter_reasons.values()) > 0
    # The outage was really felt: the oldest records waited it out, well within the hour's record age.
    assert SUITE.outage_s * 0.9 < outage.max_delivery_delay_s < SUITE.max_record_age_s


def test_each_session_first_reaches_personalize_in_stream_order(outage):
    assert outage.order_violations == 0


def test_with_the_former_five_retries_the_outage_reaches_the_failure_queue_and_the_replay_recovers_it():
    """Why retries are bounded by record age: a count of retries is spent long before 15 minutes pass."""
    former = simulate(Scenario(records=6_000, outage_start_s=60.0, retry_attempts=5))
    assert former.failure_descriptors > 0 and former.replayed > 0
    assert former.lost == 0


def test_with_a_record_age_shorter_than_the_outage_the_replay_recovers_what_lambda_gave_up_on():
    short = simulate(Scenario(records=6_000, outage_start_s=60.0, max_record_age_s=300.0))
    assert short.failure_descriptors > 0 and short.replayed > 0
    assert short.lost == 0
    assert short.records == short.delivered + short.dead_lettered + short.replayed
