"""Deliver one Kinesis batch to Personalize with nothing lost.

Every input record ends in exactly one of three places, which `DeliveryReport` lists:

- delivered: PutEvents accepted it (once: no record is sent twice in one invocation);
- retry: reported to Lambda as a batch item failure, so Kinesis redelivers it (throttling, 5xx, a tracker
  that is unavailable, the invocation running out of time, or a dead-letter send that failed);
- dead-lettered: it can never succeed (bad payload, unknown country, too large, a request the SDK cannot
  build from it, rejected by Personalize), so it is stored in the SQS dead-letter queue with its reason and
  original data instead of blocking the shard.

Ordering: records are grouped by (event tracker, session) in stream order; a PutEvents call carries one
session and one userId, so a group is cut into runs of the same userId (the anonymous -> logged-in switch
must stay in order) and each run into calls of at most 10 events. Once a call of a session gives up, the
session's later calls are not sent in this invocation: they are reported for retry so that Personalize
never sees a session's events out of order.

Concurrency: sessions are independent, so a bounded pool of threads delivers them side by side (boto3
clients are thread-safe). One session is one task: its calls run one after another in one thread, the next
only after the previous returned, so its order is kept. Every attempt first takes a token from its
tracker's bucket (one tracker per dataset group), which keeps the whole pool within the invocation's share
of PutEvents' rate quota. When a call to a tracker gives up, that tracker's calls that start later in
stream order are not sent either (they are reported): Kinesis redelivers from the lowest reported
sequence number, so they come back anyway, and stopping them keeps the pool from hammering a throttled or
refusing tracker. Earlier calls still try, because delivering them is what moves the checkpoint forward.
Other trackers carry on: one country's outage must not hold back the others' events. The report is built
only after every worker has returned, so no record is reported while its call is still in flight.

No AWS SDK here beyond the clients passed in: errors are classified from the ClientError `response` shape
and time comes from an injected clock, so tests run instantly and without AWS. A call that failed without a
service response is checked offline (`ingest.request_building`): if botocore cannot build that request, the
error is about the call's events (one of them is dead-lettered, the others delivered), never an outage.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Protocol

from ingest.events import MAX_EVENTS_PER_CALL, RecordRejected, RejectReason, parse_record, to_put_event
from ingest.request_building import build_error

# Error codes seen from AWS APIs under load. PutEvents models only InvalidInputException; throttling
# arrives as ThrottlingException (HTTP 400) from the service front end.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)
# The request itself is wrong: sending the same events again gives the same answer.
REJECTION_CODES = frozenset({"InvalidInputException", "ValidationException"})

# SQS: "All parts of the message attribute, including Name, Type, and Value, are part of the message size
# restriction (256 KiB or 262,144 bytes)" (SQS API reference, MessageAttributeValue), and SendMessageBatch's
# total payload has the same bound. A dead letter whose body is larger than MAX_DEAD_LETTER_INLINE_BYTES is
# kept whole in S3 (`PayloadStore`) and the message points to it; without a store, base64 data above
# MAX_DEAD_LETTER_DATA_CHARS is truncated (the full record stays in the stream for its retention).
MAX_DEAD_LETTER_DATA_CHARS = 180_000
MAX_DEAD_LETTER_INLINE_BYTES = 64 * 1024
MAX_DEAD_LETTER_POINTER_DETAIL_CHARS = 2_000
MAX_SQS_BATCH_BYTES = 250_000
MAX_SQS_BATCH_ENTRIES = 10
# Where oversized dead letters go in the payload bucket (the ingest role may write only under it).
DEAD_LETTER_PAYLOAD_PREFIX = "dead-letters/ingest/"

# "Amazon Personalize endpoints and quotas" (developer guide, limits.html): PutEvents accepts at most 1,000
# requests per second per dataset group. Each country has its own dataset group and one event tracker, so
# the limit is per tracking id; an invocation gets its share of it from the construct (PUT_EVENTS_RATE_PER_S).
PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP = 1000
# Sessions delivered at once. Measured with every call taking 20 ms (bench/bench_ingest.py): see the
# construct for the settings chosen with it.
DEFAULT_CONCURRENCY = 16
# Backoff steps double per attempt up to a cap, but the exponent stops growing here: `2 ** 1024` times a float
# raises OverflowError, and 64 doublings already take any base of a nanosecond or more past any cap.
MAX_BACKOFF_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """What delivery needs from a Kinesis record, independent of how the Lambda event was parsed."""

    sequence_number: str
    data: str  # base64, as Lambda delivers Kinesis data
    partition_key: str = ""
    shard_id: str = ""
    source_arn: str = ""
    approximate_arrival: float | None = None


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class TokenBucket:
    """`rate_per_s` requests per second with bursts of at most `burst`, shared by threads.

    A caller without a token sleeps until one is due and then competes for it again: threads that wake
    late (a busy host) find at most `burst` tokens, so calls never bunch up beyond the burst.
    """

    def __init__(self, rate_per_s: float, clock: Clock, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        self.rate = float(rate_per_s)
        # A tenth of a second's worth: a full pool starting at once cannot spend a whole second's share.
        self.burst = max(1.0, self.rate / 10) if burst is None else float(burst)
        self.clock = clock
        self._tokens = self.burst
        self._updated = clock.now()
        self._lock = threading.Lock()

    def acquire(self, deadline: float) -> bool:
        """Wait for a token; False (and nothing taken) if none can be had before `deadline`."""
        while True:
            with self._lock:
                now = self.clock.now()
                if now >= deadline:  # a wait that ended late (the thread ran late): no call starts past it
                    return False
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1 - 1e-9:
                    self._tokens -= 1
                    return True
                wait = (1 - self._tokens) / self.rate
                if now + wait >= deadline:
                    return False
            self.clock.sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by the invocation's remaining time."""

    max_attempts: int = 6
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0
    # Time kept back from PutEvents for dead-letter sends and returning the response: a Lambda killed by
    # its timeout reports nothing, and then the whole batch is retried (and partly delivered twice).
    reserve_s: float = 5.0
    dead_letter_reserve_s: float = 1.0
    # Outage patience: once a tracker's calls have given up, one probe (its earliest failed session) is tried
    # again after 1, 2, 4, 8, 15, 15 ... s until the PutEvents deadline; when it goes through, the tracker's
    # other failed sessions are resent. A ~55 s invocation then makes ~6 probe calls per failing tracker
    # instead of Lambda redelivering the batch every few seconds.
    wait_out_outages: bool = True
    outage_base_delay_s: float = 1.0
    outage_max_delay_s: float = 15.0

    def delay(self, attempt: int, uniform: float) -> float:
        return uniform * _step(self.base_delay_s, self.max_delay_s, attempt)

    def outage_delay(self, attempt: int, uniform: float) -> float:
        """Equal jitter: at least half the step, so a probe really waits for the tracker to recover."""
        step = _step(self.outage_base_delay_s, self.outage_max_delay_s, attempt)
        return step / 2 + uniform * step / 2


def _step(base: float, cap: float, attempt: int) -> float:
    """base, 2 x base, 4 x base ... up to cap, for any attempt number (the exponent is bounded)."""
    return min(cap, base * 2.0 ** min(max(attempt - 1, 0), MAX_BACKOFF_EXPONENT))


@dataclass(frozen=True)
class DeadLetter:
    record: InboundRecord
    reason: RejectReason
    detail: str
    country: str | None = None


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    retry: dict[str, str] = field(default_factory=dict)  # sequence number -> cause
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    put_events_calls: int = 0
    transient_errors: int = 0  # throttled or failed attempts that were retried or gave up

    def dead_letter_reasons(self) -> Counter[str]:
        return Counter(letter.reason.value for letter in self.dead_lettered)


class _Kind(Enum):
    TRANSIENT = "transient"  # retry with backoff
    SYSTEMIC = "systemic"  # not this record's fault, not fixed by waiting a second (access, missing tracker)
    REJECTED = "rejected"  # this request can never succeed
    UNSENDABLE = RejectReason.UNSENDABLE.value  # the SDK could not build this request: waiting changes nothing


class RequestNotBuilt(Exception):
    """The SDK raised while building the request (validation, serialisation): the events are the cause."""

    def __init__(self, error: Exception) -> None:
        # The type only: botocore's messages can quote the values, and event fields are personal data.
        super().__init__(f"{type(error).__name__} while the SDK built the PutEvents request")
        self.error = error


def classify(error: Exception) -> tuple[_Kind, str]:
    if isinstance(error, RequestNotBuilt):
        return _Kind.UNSENDABLE, str(error)
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status == 429 or status >= 500:
            return _Kind.TRANSIENT, code or f"http_{status}"
        if code in REJECTION_CODES:
            return _Kind.REJECTED, code
        return _Kind.SYSTEMIC, code or f"http_{status}"
    # Connection resets and timeouts are raised outside ClientError: worth another attempt.
    return _Kind.TRANSIENT, type(error).__name__


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    rejected: bool = False  # the call's events are the cause; `reason` says which way
    cause: str = ""
    reason: RejectReason = RejectReason.REJECTED_BY_PERSONALIZE


_OK = _Outcome(ok=True)


class Retrier:
    """Runs one call with backoff until it succeeds, is rejected, or attempts or time run out.

    `gate`, when given, runs before every attempt and may refuse it with a cause (blocked tracker, no rate
    token before the deadline). Shared by the pool's threads: the only state it changes is a counter.
    """

    def __init__(self, clock: Clock, policy: RetryPolicy, jitter: Callable[[], float]) -> None:
        self.clock = clock
        self.policy = policy
        self.jitter = jitter
        self.transient_errors = 0
        self._lock = threading.Lock()

    def run(
        self, call: Callable[[], Any], deadline: float, gate: Callable[[], str | None] | None = None
    ) -> _Outcome:
        attempt = 0
        while True:
            if self.clock.now() >= deadline:
                return _Outcome(ok=False, cause="deadline")
            refused = gate() if gate is not None else None
            if refused is not None:
                return _Outcome(ok=False, cause=refused)
            attempt += 1
            try:
                call()
                return _OK
            except Exception as error:  # classified below: every failure has a defined fate
                kind, code = classify(error)
                if kind is _Kind.REJECTED:
                    return _Outcome(ok=False, rejected=True, cause=f"{code}: {error}")
                if kind is _Kind.UNSENDABLE:
                    return _Outcome(ok=False, rejected=True, cause=code, reason=RejectReason.UNSENDABLE)
                if kind is _Kind.SYSTEMIC:
                    return _Outcome(ok=False, cause=code)
                with self._lock:
                    self.transient_errors += 1
                if attempt >= self.policy.max_attempts:
                    return _Outcome(ok=False, cause=code)
                pause = self.policy.delay(attempt, self.jitter())
                if self.clock.now() + pause >= deadline:
                    return _Outcome(ok=False, cause=code)
                self.clock.sleep(pause)


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter], deadline: float) -> list[DeadLetter]:
        """Store the letters; return those that could NOT be stored (the caller reports them for retry)."""
        ...


def dead_letter_document(letter: DeadLetter, *, truncate: bool = True) -> dict[str, Any]:
    """Everything needed to understand and replay the record; the payload is kept as Kinesis had it."""
    record = letter.record
    data = record.data
    truncated = truncate and len(data) > MAX_DEAD_LETTER_DATA_CHARS
    return {
        "reason": letter.reason.value,
        "detail": letter.detail,
        "country": letter.country,
        "sequenceNumber": record.sequence_number,
        "partitionKey": record.partition_key,
        "shardId": record.shard_id,
        "eventSourceArn": record.source_arn,
        "approximateArrivalTimestamp": record.approximate_arrival,
        # Base64 text is sliced on a 4-character boundary so the kept prefix still decodes.
        "data": data[: MAX_DEAD_LETTER_DATA_CHARS - MAX_DEAD_LETTER_DATA_CHARS % 4] if truncated else data,
        "dataTruncated": truncated,
        "dataChars": len(data),
        "dataSha256": hashlib.sha256(data.encode()).hexdigest(),
    }


def dead_letter_body(letter: DeadLetter) -> str:
    return json.dumps(dead_letter_document(letter), separators=(",", ":"))


def payload_key(letter: DeadLetter) -> str:
    """One object per record (shard + sequence number): a dead letter sent again overwrites the same object."""
    record = letter.record
    shard = record.shard_id or "unknown-shard"
    return f"{DEAD_LETTER_PAYLOAD_PREFIX}{shard}/{record.sequence_number}.json"


class PayloadStore(Protocol):
    def put(self, key: str, body: bytes) -> str:
        """Store `body` under `key`; return where it is (s3://bucket/key)."""
        ...


class S3PayloadStore:
    """Oversized dead letters as S3 objects (the bucket's default encryption applies)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self.bucket}/{key}"


def bounded_dead_letter_body(letter: DeadLetter, store: PayloadStore | None) -> str:
    """The SQS body of a dead letter, never above MAX_DEAD_LETTER_INLINE_BYTES when a store is given.

    A larger one (a 64 KiB record, or thousands of unknown fields making a long detail) is written whole to
    the store, and the message keeps the reason, the record's coordinates, a shortened detail and the
    object's location (`payloadLocation`)."""
    if store is None:
        return dead_letter_body(letter)
    document = dead_letter_document(letter, truncate=False)
    body = json.dumps(document, separators=(",", ":"))
    if len(body.encode()) <= MAX_DEAD_LETTER_INLINE_BYTES:
        return body
    location = store.put(payload_key(letter), body.encode())
    detail = document["detail"]
    if len(detail) > MAX_DEAD_LETTER_POINTER_DETAIL_CHARS:
        detail = f"{detail[:MAX_DEAD_LETTER_POINTER_DETAIL_CHARS]}... ({len(detail)} characters in the payload object)"
    pointer = {
        **document,
        "detail": detail,
        "data": None,
        "payloadLocation": location,
        "payloadBytes": len(body.encode()),
    }
    return json.dumps(pointer, separators=(",", ":"))


class SqsDeadLetterQueue:
    """DeadLetterSink on an SQS queue (SendMessageBatch, retrying the entries that failed)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.payloads = payloads
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.jitter = jitter
        self.calls = 0

    def send(self, letters: Sequence[DeadLetter], deadline: float) -> list[DeadLetter]:
        unsent: list[DeadLetter] = []
        bodies: list[tuple[DeadLetter, str]] = []
        for letter in letters:
            try:
                bodies.append((letter, bounded_dead_letter_body(letter, self.payloads)))
            except Exception:  # the payload object could not be written: Kinesis keeps the record meanwhile
                unsent.append(letter)
        for batch in self._batches(bodies):
            unsent.extend(self._send_batch(batch, deadline))
        return unsent

    @staticmethod
    def _batches(bodies: Sequence[tuple[DeadLetter, str]]) -> list[list[tuple[DeadLetter, dict[str, Any]]]]:
        batches: list[list[tuple[DeadLetter, dict[str, Any]]]] = []
        current: list[tuple[DeadLetter, dict[str, Any]]] = []
        size = 0
        for index, (letter, body) in enumerate(bodies):
            entry = {
                "Id": f"r{index}",
                "MessageBody": body,
                # An attribute, so a redrive or a console filter can pick one kind of failure.
                "MessageAttributes": {"reason": {"DataType": "String", "StringValue": letter.reason.value}},
            }
            entry_size = len(body) + 64
            if current and (len(current) == MAX_SQS_BATCH_ENTRIES or size + entry_size > MAX_SQS_BATCH_BYTES):
                batches.append(current)
                current, size = [], 0
            current.append((letter, entry))
            size += entry_size
        if current:
            batches.append(current)
        return batches

    def _send_batch(
        self, batch: list[tuple[DeadLetter, dict[str, Any]]], deadline: float
    ) -> list[DeadLetter]:
        pending = batch
        attempt = 0
        while pending and attempt < self.policy.max_attempts:
            # The first attempt is made even past the deadline: the reserve exists for exactly this send.
            if attempt and self.clock.now() >= deadline:
                break
            attempt += 1
            self.calls += 1
            try:
                response = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[entry for _, entry in pending]
                )
            except Exception as error:  # classified: only transient failures are tried again
                if classify(error)[0] is not _Kind.TRANSIENT:
                    break
            else:
                failed = {f["Id"]: f for f in response.get("Failed", [])}
                pending = [(letter, entry) for letter, entry in pending if entry["Id"] in failed]
                # A sender fault will fail the same way again; Kinesis keeps the record meanwhile.
                if not pending or all(failed[entry["Id"]].get("SenderFault") for _, entry in pending):
                    break
            pause = self.policy.delay(attempt, self.jitter())
            if self.clock.now() + pause >= deadline:
                break
            self.clock.sleep(pause)
        return [letter for letter, _ in pending]


@dataclass(slots=True)
class _Pending:
    record: InboundRecord
    event: dict[str, Any]
    user_id: str | None
    country: str
    index: int  # position in the batch (stream order)


@dataclass
class _SessionResult:
    """What one session's task produced; merged into the report once every worker has returned."""

    delivered: list[str] = field(default_factory=list)
    retry: dict[str, str] = field(default_factory=dict)
    rejected: list[DeadLetter] = field(default_factory=list)
    put_events_calls: int = 0
    unsent: list[_Pending] = field(default_factory=list)  # what `retry` lists, in stream order, to resend
    cause: str = ""


class _TrackerBlocks:
    """Per tracking id, the stream position of the earliest call that gave up, and why (thread-safe)."""

    def __init__(self) -> None:
        self._blocks: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def block(self, tracking_id: str, index: int, cause: str) -> None:
        with self._lock:
            current = self._blocks.get(tracking_id)
            if current is None or index < current[0]:
                self._blocks[tracking_id] = (index, cause)

    def cause_for(self, tracking_id: str, index: int) -> str | None:
        """The cause if a call starting at stream position `index` comes after a give-up on its tracker."""
        current = self._blocks.get(tracking_id)
        return current[1] if current is not None and index > current[0] else None


class Delivery:
    """Routes, batches and sends one invocation's records; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        personalize: Any,
        dead_letters: DeadLetterSink,
        tracking_ids: Mapping[str, str],
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        rate_per_s: float = PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.personalize = personalize
        self.dead_letters = dead_letters
        self.tracking_ids = dict(tracking_ids)
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.jitter = jitter
        self.max_concurrency = max_concurrency
        self.rate_per_s = rate_per_s

    def deliver(self, records: Sequence[InboundRecord], *, time_left_s: float) -> DeliveryReport:
        start = self.clock.now()
        reserve = min(self.policy.reserve_s, time_left_s * 0.25)
        put_deadline = start + time_left_s - reserve
        dead_letter_deadline = start + time_left_s - min(self.policy.dead_letter_reserve_s, reserve)

        report = DeliveryReport()
        retrier = Retrier(self.clock, self.policy, self.jitter)
        rejected: list[DeadLetter] = []
        groups = list(self._group(records, rejected).items())
        # One bucket per tracker, made before the pool starts so no thread ever creates one.
        buckets = {tracking_id: TokenBucket(self.rate_per_s, self.clock) for (tracking_id, _), _ in groups}
        blocks = _TrackerBlocks()

        def send_session(position: int) -> _SessionResult:
            (tracking_id, session_id), pending = groups[position]
            return self._send_session(
                tracking_id, session_id, pending, put_deadline, retrier, buckets[tracking_id], blocks
            )

        results = self._run_all(len(groups), send_session)
        if self.policy.wait_out_outages:
            self._wait_out_outages(groups, results, put_deadline, retrier, buckets)
        # Merged in the order sessions first appear, whatever order the workers finished in.
        for result in results:
            report.delivered.extend(result.delivered)
            report.retry.update(result.retry)
            rejected.extend(result.rejected)
            report.put_events_calls += result.put_events_calls

        if rejected:
            unsent = {id(letter) for letter in self.dead_letters.send(rejected, dead_letter_deadline)}
            for letter in rejected:
                if id(letter) in unsent:
                    report.retry[letter.record.sequence_number] = "dead_letter_send_failed"
                else:
                    report.dead_lettered.append(letter)
        report.transient_errors = retrier.transient_errors
        # Stream order, so logs and the batchItemFailures list read like the shard.
        order = {record.sequence_number: index for index, record in enumerate(records)}
        report.retry = dict(sorted(report.retry.items(), key=lambda item: order[item[0]]))
        return report

    def _wait_out_outages(
        self,
        groups: list[tuple[tuple[str, str], list[_Pending]]],
        results: list[_SessionResult],
        deadline: float,
        retrier: Retrier,
        buckets: Mapping[str, TokenBucket],
    ) -> None:
        """Per tracker whose calls gave up (not for lack of time): probe with one call after a growing pause
        until it goes through, then resend that tracker's failed sessions, each from its first unsent call
        (so its order holds), until they are delivered or the deadline comes. Runs after the first pass, so
        the pool never sits waiting on one country while others have work."""
        failing: dict[str, list[int]] = {}
        for position, result in enumerate(results):
            if result.unsent and result.cause != "deadline":
                failing.setdefault(groups[position][0][0], []).append(position)
        if not failing:
            return
        probe_retrier = Retrier(self.clock, replace(self.policy, max_attempts=1), self.jitter)
        attempts = dict.fromkeys(failing, 1)
        due = {tracker: self.clock.now() + self.policy.outage_delay(1, self.jitter()) for tracker in failing}
        while failing:
            tracker = min(failing, key=lambda t: due[t])
            if due[tracker] >= deadline:
                return  # every other tracker is due later still
            wait = due[tracker] - self.clock.now()
            if wait > 0:
                self.clock.sleep(wait)
            positions = failing[tracker]
            first = min(positions, key=lambda p: results[p].unsent[0].index)
            if not self._probe(groups, results, first, deadline, probe_retrier, buckets[tracker]):
                attempts[tracker] += 1
                due[tracker] = self.clock.now() + self.policy.outage_delay(attempts[tracker], self.jitter())
                continue
            waiting = [p for p in positions if results[p].unsent]
            resend = functools.partial(
                self._resend_one, groups, results, waiting, deadline, retrier, buckets[tracker], _TrackerBlocks()
            )

            self._run_all(len(waiting), resend)
            still = [p for p in positions if results[p].unsent and results[p].cause != "deadline"]
            if not still:
                del failing[tracker]
                continue
            failing[tracker] = still
            attempts[tracker] = 1
            due[tracker] = self.clock.now() + self.policy.outage_delay(1, self.jitter())

    def _probe(
        self,
        groups: list[tuple[tuple[str, str], list[_Pending]]],
        results: list[_SessionResult],
        position: int,
        deadline: float,
        retrier: Retrier,
        bucket: TokenBucket,
    ) -> bool:
        """One attempt of the session's first unsent call; True when the tracker answered (accepted or
        rejected it): the accepted events are recorded as delivered, a rejection is sorted out by the resend."""
        (tracking_id, session_id), _ = groups[position]
        result = results[position]
        call = self._calls(result.unsent)[0]
        outcome = self._put(tracking_id, session_id, call, deadline, retrier, bucket, _TrackerBlocks(), result)
        if outcome.ok:
            sent = {item.record.sequence_number for item in call}
            result.delivered.extend(item.record.sequence_number for item in call)
            result.unsent = result.unsent[len(call) :]
            result.retry = {seq: cause for seq, cause in result.retry.items() if seq not in sent}
        return outcome.ok or outcome.rejected

    def _resend_one(
        self,
        groups: list[tuple[tuple[str, str], list[_Pending]]],
        results: list[_SessionResult],
        positions: list[int],
        deadline: float,
        retrier: Retrier,
        bucket: TokenBucket,
        blocks: _TrackerBlocks,
        index: int,
    ) -> _SessionResult:
        return self._resend(groups, results, positions[index], deadline, retrier, bucket, blocks)

    def _resend(
        self,
        groups: list[tuple[tuple[str, str], list[_Pending]]],
        results: list[_SessionResult],
        position: int,
        deadline: float,
        retrier: Retrier,
        bucket: TokenBucket,
        blocks: _TrackerBlocks,
    ) -> _SessionResult:
        (tracking_id, session_id), _ = groups[position]
        old = results[position]
        new = self._send_session(tracking_id, session_id, old.unsent, deadline, retrier, bucket, blocks)
        merged = _SessionResult(
            delivered=old.delivered + new.delivered,
            retry=new.retry,
            rejected=old.rejected + new.rejected,
            put_events_calls=old.put_events_calls + new.put_events_calls,
            unsent=new.unsent,
            cause=new.cause,
        )
        results[position] = merged
        return merged

    def _run_all(self, count: int, task: Callable[[int], _SessionResult]) -> list[_SessionResult]:
        """task(0..count-1) on at most `max_concurrency` threads, picked in order; returns after all ended."""
        workers = min(self.max_concurrency, count)
        if workers <= 1:
            return [task(position) for position in range(count)]
        results: list[_SessionResult | None] = [None] * count
        queue = deque(range(count))

        def work() -> None:
            while True:
                try:
                    position = queue.popleft()  # atomic: each session goes to exactly one worker
                except IndexError:
                    return
                results[position] = task(position)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="put-events") as pool:
            futures = [pool.submit(work) for _ in range(workers)]
        for future in futures:
            # A bug in a worker fails the invocation (Lambda retries the batch) instead of losing records.
            future.result()
        # Index-aligned with the tasks: every position was filled once every worker returned cleanly.
        return [result for result in results if result is not None]

    def _group(
        self, records: Sequence[InboundRecord], rejected: list[DeadLetter]
    ) -> dict[tuple[str, str], list[_Pending]]:
        groups: dict[tuple[str, str], list[_Pending]] = {}
        for index, record in enumerate(records):
            country = None
            try:
                event = parse_record(record.data)
                country = event.country
                tracking_id = self.tracking_ids.get(country)
                if tracking_id is None:
                    raise RecordRejected(
                        RejectReason.UNKNOWN_COUNTRY, f"no event tracker is configured for country {country}"
                    )
                put_event = to_put_event(event)
            except RecordRejected as error:
                rejected.append(DeadLetter(record, error.reason, error.detail, country))
                continue
            # dict keeps insertion order and each list is appended in stream order.
            groups.setdefault((tracking_id, event.session_id), []).append(
                _Pending(record, put_event, event.user_id, event.country, index)
            )
        return groups

    @staticmethod
    def _calls(pending: list[_Pending]) -> list[list[_Pending]]:
        """Runs of one userId (a call has a single userId), cut at MAX_EVENTS_PER_CALL, in order."""
        calls: list[list[_Pending]] = []
        for item in pending:
            last = calls[-1] if calls else None
            if last is not None and len(last) < MAX_EVENTS_PER_CALL and last[0].user_id == item.user_id:
                last.append(item)
            else:
                calls.append([item])
        return calls

    def _send_session(
        self,
        tracking_id: str,
        session_id: str,
        pending: list[_Pending],
        deadline: float,
        retrier: Retrier,
        bucket: TokenBucket,
        blocks: _TrackerBlocks,
    ) -> _SessionResult:
        result = _SessionResult()
        queue = deque(self._calls(pending))
        while queue:
            call = queue.popleft()
            outcome = self._put(tracking_id, session_id, call, deadline, retrier, bucket, blocks, result)
            if outcome.ok:
                result.delivered.extend(item.record.sequence_number for item in call)
                continue
            if outcome.rejected:
                if len(call) == 1:
                    item = call[0]
                    result.rejected.append(DeadLetter(item.record, outcome.reason, outcome.cause, item.country))
                else:
                    # Find the bad event(s): resend one by one, keeping the session's order.
                    queue.extendleft(reversed([[item] for item in call]))
                continue
            blocks.block(tracking_id, call[0].index, outcome.cause)
            # This call and everything after it in the session wait (outage patience, then Kinesis' retry),
            # in order.
            for later in [call, *queue]:
                for item in later:
                    result.retry[item.record.sequence_number] = outcome.cause
                    result.unsent.append(item)
            result.cause = outcome.cause
            break
        return result

    def _put(
        self,
        tracking_id: str,
        session_id: str,
        call: list[_Pending],
        deadline: float,
        retrier: Retrier,
        bucket: TokenBucket,
        blocks: _TrackerBlocks,
        result: _SessionResult,
    ) -> _Outcome:
        params: dict[str, Any] = {
            "trackingId": tracking_id,
            "sessionId": session_id,
            "eventList": [item.event for item in call],
        }
        if call[0].user_id is not None:
            params["userId"] = call[0].user_id
        first = call[0].index

        def gate() -> str | None:
            blocked = blocks.cause_for(tracking_id, first)
            if blocked is not None:
                return blocked
            return None if bucket.acquire(deadline) else "deadline"

        def send() -> None:
            result.put_events_calls += 1
            try:
                self.personalize.put_events(**params)
            except Exception as error:
                # No service response: it may not have been sent at all. If botocore cannot build this request
                # offline either, the events are the cause (one event, once the call is split), not the tracker.
                if getattr(error, "response", None) is None:
                    unbuildable = build_error(params)
                    if unbuildable is not None:
                        raise RequestNotBuilt(unbuildable) from error
                raise

        return retrier.run(send, deadline, gate)
