"""The ingest under faults at scale, on a simulated clock: used by tests/ingest/test_ingest_outage.py
and `make bench` (bench/bench_outage.py).

One Kinesis shard receives `records` events at `arrival_per_s` (sessions in three countries interleaved,
a few malformed records). A simulated event source mapping invokes the real handler path
(`ingest.handler.process_batch`: powertools processor -> `ingest.delivery`) as the deployed one does:
batches of `batch_size` from the checkpoint, a partial batch response moves the checkpoint to the lowest
reported sequence number and everything after it comes again, retries are unlimited (MaximumRetryAttempts
-1) until a record is older than `max_record_age_s`, when the expired records go to the failure queue as a
descriptor. PutEvents answers with throttling, 5xx, client-side read timeouts (5 s each) and, for one
country's tracker, a 15-minute outage (503 for every call). With `build_requests`, every call is first built
into a request by botocore's own validator and serialiser (`ingest.request_building`), raising what a boto3
client raises before it sends; `poison_records` mixes in events botocore cannot build a request from (a
timestamp whose UTC date is past year 9999), spread evenly through the stream. What ends in the failure
queue is replayed afterwards with the replay command's delivery (tools/replay/events.py settings) on a
healthy tracker.

Every sleep and every call's latency advances the simulated clock only: a run takes seconds of CPU for an
hour of stream. The delivery pool runs with one worker so that the simulated time is exact (the pool's
threads would add their sleeps up, see testkit.fakes.ingest.FakeClock). The fakes are testkit.fakes.ingest's.

The result accounts for every record: delivered (first delivery, in stream order per session), dead-lettered,
replayed from the failure queue, or lost (left only in the stream). Goal: lost = 0.
"""

from __future__ import annotations

import base64
import json
import random
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from common.event_kinds import EventKind
from testkit.fakes.ingest import (
    SHARD,
    STREAM_ARN,
    FakeClock,
    FakeContext,
    FaultyPersonalizeEvents,
    PutEventsFaults,
    RecordingSqs,
    kinesis_record,
)

COUNTRIES = ("KR", "JP", "US")
TRACKING_IDS = {country: f"trk-{country.lower()}" for country in COUNTRIES}
# Valid for the contract's types, but year 9999 at UTC-5 is year 10000 in UTC: botocore raises OverflowError.
POISON_TIMESTAMP = "9999-12-31T23:59:59-05:00"


@dataclass(frozen=True)
class Scenario:
    records: int = 100_000
    arrival_per_s: float = 30.0
    seed: int = 20261201
    outage_country: str = "JP"
    outage_start_s: float = 300.0
    outage_s: float = 900.0
    throttle_rate: float = 0.20
    server_error_rate: float = 0.02
    timeout_rate: float = 0.005
    malformed_rate: float = 0.002
    call_latency_s: float = 0.004
    batch_size: int = 500
    function_timeout_s: float = 60.0
    max_record_age_s: float = 3600.0
    retry_attempts: int = -1  # -1: until the record age (the deployed setting); N: N retries of a batch
    invocation_overhead_s: float = 0.05  # between two invocations of the mapping
    poison_records: int = 0
    build_requests: bool = False  # ~80 us of CPU per call: off for the outage runs, which never need it

    def faults(self) -> PutEventsFaults:
        return PutEventsFaults(
            throttle_rate=self.throttle_rate,
            server_error_rate=self.server_error_rate,
            timeout_rate=self.timeout_rate,
            call_latency_s=self.call_latency_s,
            outage_tracker=TRACKING_IDS[self.outage_country],
            outage_start_s=self.outage_start_s,
            outage_s=self.outage_s,
            build_requests=self.build_requests,
        )


@dataclass
class OutageResult:
    records: int
    delivered: int
    dead_lettered: int
    replayed: int
    lost: int
    order_violations: int
    invocations: int
    put_events_calls: int
    duplicate_events: int
    failure_descriptors: int
    records_in_failure_queue: int  # left only in the stream until the replay
    max_delivery_delay_s: float
    simulated_s: float
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Stream:
    sequence_numbers: list[str]
    data: list[str]
    keys: list[str]
    arrivals: list[float]
    event_ids: list[str | None]  # None for malformed records
    sessions: list[str | None]  # None for records that can never be delivered (malformed, poison)


def _stream(scenario: Scenario, rng: random.Random) -> _Stream:
    """Sessions of 1-30 events, a third logging in part-way, interleaved in arrival order."""
    stream = _Stream([], [], [], [], [], [])
    live: list[list[Any]] = []  # [session_id, country, user, events_left, login_at, count]
    next_session = 0
    poison_at = {(k + 1) * scenario.records // (scenario.poison_records + 1) for k in range(scenario.poison_records)}
    for n in range(scenario.records):
        if not live or (len(live) < 400 and rng.random() < 0.3):
            length = rng.randint(1, 30)
            live.append(
                [
                    f"sess-{next_session}",
                    rng.choice(COUNTRIES),
                    f"user-{next_session}",
                    length,
                    rng.randint(0, length),
                    0,
                ]
            )
            next_session += 1
        index = rng.randrange(len(live))
        session = live[index]
        arrival = n / scenario.arrival_per_s
        sequence_number = str(49_600_000_000_000_000_000 + n)
        if rng.random() < scenario.malformed_rate:
            data = base64.b64encode(b'{"event_type": "view", "country": ').decode() if n % 2 else "%%not-base64%%"
            stream.sequence_numbers.append(sequence_number)
            stream.data.append(data)
            stream.keys.append(session[0])
            stream.arrivals.append(arrival)
            stream.event_ids.append(None)
            stream.sessions.append(None)
            continue
        payload: dict[str, Any] = {
            "event_type": EventKind.VIEW,
            "country": session[1],
            "session_id": session[0],
            "item_id": f"item-{rng.randint(1, 5000)}",
            "timestamp": 1795000000 + int(arrival),
            "event_id": f"ev-{n}",
        }
        if session[5] >= session[4]:
            payload["user_id"] = session[2]
        if n in poison_at:
            payload["timestamp"] = POISON_TIMESTAMP
        session[5] += 1
        session[3] -= 1
        if session[3] <= 0:
            live[index] = live[-1]
            live.pop()
        stream.sequence_numbers.append(sequence_number)
        stream.data.append(base64.b64encode(json.dumps(payload).encode()).decode())
        stream.keys.append(session[0])
        stream.arrivals.append(arrival)
        stream.event_ids.append(payload["event_id"])
        stream.sessions.append(None if n in poison_at else session[0])
    return stream


def _event(stream: _Stream, start: int, stop: int) -> dict[str, Any]:
    return {
        "Records": [
            kinesis_record(
                stream.sequence_numbers[i], stream.data[i], stream.keys[i], 1795000000.0 + stream.arrivals[i]
            )
            for i in range(start, stop)
        ]
    }


def simulate(scenario: Scenario = Scenario()) -> OutageResult:
    import os

    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from common.observability import logger, metrics
    from ingest.dead_letters import SqsDeadLetterQueue
    from ingest.delivery import Delivery
    from ingest.handler import process_batch
    from ingest.inbound import InboundRecord
    from ingest.settings import IngestSettings
    from tools.replay.events import REPLAY_RATE_PER_S

    logger.setLevel("ERROR")  # one warning per batch with a retry would dominate the run
    rng = random.Random(scenario.seed)
    stream = _stream(scenario, rng)
    clock = FakeClock(start=0.0)
    personalize = FaultyPersonalizeEvents(scenario.faults(), clock, random.Random(scenario.seed + 1))
    sqs = RecordingSqs()
    config = IngestSettings.model_validate(
        {
            "TRACKING_IDS": json.dumps(TRACKING_IDS),
            "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
            "DELIVERY_CONCURRENCY": "1",
        }
    )
    total = len(stream.sequence_numbers)
    index_of = {s: i for i, s in enumerate(stream.sequence_numbers)}
    checkpoint = 0
    invocations = 0
    retries = 0  # of the batch starting at the checkpoint
    descriptors: list[tuple[int, int]] = []
    while checkpoint < total:
        if stream.arrivals[checkpoint] > clock.t:
            clock.t = stream.arrivals[checkpoint]
        available = bisect_right(stream.arrivals, clock.t)
        stop = min(checkpoint + scenario.batch_size, available)
        # MaximumRecordAgeInSeconds: records older than that are not sent to the function again; the mapping
        # sends a descriptor of them to the on-failure destination and moves on.
        expired = checkpoint
        while expired < stop and clock.t - stream.arrivals[expired] > scenario.max_record_age_s:
            expired += 1
        if expired > checkpoint:
            descriptors.append((checkpoint, expired))
            checkpoint = expired
            continue
        invocations += 1
        response = process_batch(
            _event(stream, checkpoint, stop),
            FakeContext(clock, scenario.function_timeout_s),  # type: ignore[arg-type]
            config=config,
            personalize_events=personalize,
            sqs=sqs,
            clock=clock,
        )
        metrics.clear_metrics()
        # A Kinesis batch names each failed record by its sequence number, a str (only Kafka's is a dict).
        failures = [index_of[cast(str, f["itemIdentifier"])] for f in response["batchItemFailures"]]
        clock.sleep(scenario.invocation_overhead_s)
        if not failures:
            checkpoint, retries = stop, 0
        elif min(failures) > checkpoint:
            checkpoint, retries = min(failures), 0  # partial success: a new batch starts there
        elif scenario.retry_attempts != -1 and retries >= scenario.retry_attempts:
            descriptors.append((checkpoint, stop))  # retries exhausted: the batch goes to the failure queue
            checkpoint, retries = stop, 0
        else:
            retries += 1
    simulated_s = clock.t

    # What the failure queue holds is replayed with the replay command's delivery, on a healthy tracker.
    personalize.healthy = True
    replay = Delivery(
        personalize=personalize,
        dead_letters=SqsDeadLetterQueue(sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/dlq", clock=clock),
        tracking_ids=TRACKING_IDS,
        clock=clock,
        max_concurrency=1,
        rate_per_s=REPLAY_RATE_PER_S,
    )
    delivered_before_replay = set(personalize.first_delivery)
    for start, stop in descriptors:
        records = [
            InboundRecord(stream.sequence_numbers[i], stream.data[i], stream.keys[i], SHARD, STREAM_ARN)
            for i in range(start, stop)
        ]
        replay.deliver(records, time_left_s=300)

    return _account(scenario, stream, personalize, sqs, delivered_before_replay, descriptors, invocations, simulated_s)


def _account(
    scenario: Scenario,
    stream: _Stream,
    personalize: FaultyPersonalizeEvents,
    sqs: RecordingSqs,
    delivered_before_replay: set[str],
    descriptors: list[tuple[int, int]],
    invocations: int,
    simulated_s: float,
) -> OutageResult:
    delivered = replayed = dead = lost = 0
    max_delay = 0.0
    expected: dict[str, list[str]] = defaultdict(list)
    for i, sequence_number in enumerate(stream.sequence_numbers):
        event_id = stream.event_ids[i]
        if sequence_number in sqs.letters:
            dead += 1
        elif event_id is not None and event_id in delivered_before_replay:
            delivered += 1
            max_delay = max(max_delay, personalize.first_delivery[event_id] - stream.arrivals[i])
        elif event_id is not None and event_id in personalize.first_delivery:
            replayed += 1
        else:
            lost += 1
        session = stream.sessions[i]
        if event_id is not None and session is not None:
            expected[session].append(event_id)
    violations = sum(1 for session, ids in expected.items() if personalize.first_order.get(session, []) != ids)
    reasons: dict[str, int] = defaultdict(int)
    for reason in sqs.letters.values():
        reasons[reason] += 1
    return OutageResult(
        records=len(stream.sequence_numbers),
        delivered=delivered,
        dead_lettered=dead,
        replayed=replayed,
        lost=lost,
        order_violations=violations,
        invocations=invocations,
        put_events_calls=personalize.calls,
        duplicate_events=personalize.duplicates,
        failure_descriptors=len(descriptors),
        records_in_failure_queue=sum(stop - start for start, stop in descriptors),
        max_delivery_delay_s=max_delay,
        simulated_s=simulated_s,
        dead_letter_reasons=dict(reasons),
    )


if __name__ == "__main__":
    import time

    started = time.perf_counter()
    print(simulate(), f"({time.perf_counter() - started:.1f} s)")
