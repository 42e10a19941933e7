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

Each call's rate limiting and retry live in `ingest.retry`, the dead-letter queue in `ingest.dead_letters`.
No AWS SDK here beyond the clients passed in, and time comes from an injected clock, so tests run instantly
and without AWS. A call that failed without a service response is checked offline (`ingest.request_building`):
if botocore cannot build that request, the error is about the call's events (one of them is dead-lettered, the
others delivered), never an outage.
"""

from __future__ import annotations

import functools
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.dead_letters import DEAD_LETTER_SEND_FAILED, DeadLetter, DeadLetterSink
from ingest.events import MAX_EVENTS_PER_CALL, RecordRejected, RejectReason, parse_record, to_put_event
from ingest.inbound import InboundRecord
from ingest.request_building import build_error
from ingest.retry import (
    DEADLINE,
    PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP,
    CallOutcome,
    Clock,
    RequestNotBuilt,
    Retrier,
    RetryPolicy,
    SystemClock,
    TokenBucket,
)

# Sessions delivered at once. Measured with every call taking 20 ms (bench/bench_ingest.py): see the
# construct for the settings chosen with it.
DEFAULT_CONCURRENCY = 16


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    retry: dict[str, str] = field(default_factory=dict)  # sequence number -> cause
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    put_events_calls: int = 0
    transient_errors: int = 0  # throttled or failed attempts that were retried or gave up

    def dead_letter_reasons(self) -> Counter[str]:
        return Counter(letter.reason.value for letter in self.dead_lettered)


@dataclass(slots=True)
class _Pending:
    record: InboundRecord
    event: dict[str, Any]
    user_id: str | None
    country: str
    index: int  # position in the batch (stream order)


@dataclass(frozen=True, slots=True)
class _Session:
    """One (event tracker, session) group's records, in stream order."""

    tracking_id: str
    session_id: str
    pending: list[_Pending]


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


@dataclass(frozen=True, slots=True)
class _CallContext:
    """What every PutEvents call of one session shares: where it goes, until when, the retrier counting the
    invocation's transient errors, the tracker's rate bucket, and the give-ups that stop the tracker's later
    calls."""

    tracking_id: str
    session_id: str
    deadline: float
    retrier: Retrier
    bucket: TokenBucket
    blocks: _TrackerBlocks


@dataclass(frozen=True, slots=True)
class _FirstPass:
    """The sessions and what the first pass made of them (`results`, index-aligned, updated by resends), with
    the PutEvents deadline, retrier and buckets the outage patience goes on with."""

    sessions: list[_Session]
    results: list[_SessionResult]
    deadline: float
    retrier: Retrier
    buckets: Mapping[str, TokenBucket]

    def context(self, position: int, retrier: Retrier, blocks: _TrackerBlocks) -> _CallContext:
        session = self.sessions[position]
        bucket = self.buckets[session.tracking_id]
        return _CallContext(session.tracking_id, session.session_id, self.deadline, retrier, bucket, blocks)


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
        sessions = self._group(records, rejected)
        # One bucket per tracker, made before the pool starts so no thread ever creates one.
        buckets = {session.tracking_id: TokenBucket(self.rate_per_s, self.clock) for session in sessions}
        blocks = _TrackerBlocks()
        first_pass = _FirstPass(sessions, [], put_deadline, retrier, buckets)

        def send_session(position: int) -> _SessionResult:
            context = first_pass.context(position, retrier, blocks)
            return self._send_session(context, sessions[position].pending)

        first_pass.results.extend(self._run_all(len(sessions), send_session))
        if self.policy.wait_out_outages:
            self._wait_out_outages(first_pass)
        # Merged in the order sessions first appear, whatever order the workers finished in.
        for result in first_pass.results:
            report.delivered.extend(result.delivered)
            report.retry.update(result.retry)
            rejected.extend(result.rejected)
            report.put_events_calls += result.put_events_calls

        if rejected:
            unsent = {id(letter) for letter in self.dead_letters.send(rejected, dead_letter_deadline)}
            for letter in rejected:
                if id(letter) in unsent:
                    report.retry[letter.record.sequence_number] = DEAD_LETTER_SEND_FAILED
                else:
                    report.dead_lettered.append(letter)
        report.transient_errors = retrier.transient_errors
        # Stream order, so logs and the batchItemFailures list read like the shard.
        order = {record.sequence_number: index for index, record in enumerate(records)}
        report.retry = dict(sorted(report.retry.items(), key=lambda item: order[item[0]]))
        return report

    def _wait_out_outages(self, first_pass: _FirstPass) -> None:
        """Per tracker whose calls gave up (not for lack of time): probe with one call after a growing pause
        until it goes through, then resend that tracker's failed sessions, each from its first unsent call
        (so its order holds), until they are delivered or the deadline comes. Runs after the first pass, so
        the pool never sits waiting on one country while others have work."""
        results = first_pass.results
        failing: dict[str, list[int]] = {}
        for position, result in enumerate(results):
            if result.unsent and result.cause != DEADLINE:
                failing.setdefault(first_pass.sessions[position].tracking_id, []).append(position)
        if not failing:
            return
        probe_retrier = Retrier(self.clock, replace(self.policy, max_attempts=1), self.jitter)
        attempts = dict.fromkeys(failing, 1)
        due = {tracker: self.clock.now() + self.policy.outage_delay(1, self.jitter()) for tracker in failing}
        while failing:
            tracker = min(failing, key=lambda t: due[t])
            if due[tracker] >= first_pass.deadline:
                return  # every other tracker is due later still
            wait = due[tracker] - self.clock.now()
            if wait > 0:
                self.clock.sleep(wait)
            positions = failing[tracker]
            first = min(positions, key=lambda p: results[p].unsent[0].index)
            if not self._probe(first_pass.context(first, probe_retrier, _TrackerBlocks()), results[first]):
                attempts[tracker] += 1
                due[tracker] = self.clock.now() + self.policy.outage_delay(attempts[tracker], self.jitter())
                continue
            waiting = [p for p in positions if results[p].unsent]
            resend = functools.partial(self._resend, first_pass, waiting, _TrackerBlocks())
            self._run_all(len(waiting), resend)
            still = [p for p in positions if results[p].unsent and results[p].cause != DEADLINE]
            if not still:
                del failing[tracker]
                continue
            failing[tracker] = still
            attempts[tracker] = 1
            due[tracker] = self.clock.now() + self.policy.outage_delay(1, self.jitter())

    def _probe(self, context: _CallContext, result: _SessionResult) -> bool:
        """One attempt of the session's first unsent call; True when the tracker answered (accepted or
        rejected it): the accepted events are recorded as delivered, a rejection is sorted out by the resend."""
        call = self._calls(result.unsent)[0]
        outcome = self._put(context, call, result)
        if outcome.ok:
            sent = {item.record.sequence_number for item in call}
            result.delivered.extend(item.record.sequence_number for item in call)
            result.unsent = result.unsent[len(call) :]
            result.retry = {seq: cause for seq, cause in result.retry.items() if seq not in sent}
        return outcome.ok or outcome.rejected

    def _resend(
        self, first_pass: _FirstPass, positions: list[int], blocks: _TrackerBlocks, index: int
    ) -> _SessionResult:
        """The session at `positions[index]` again from its first unsent call; its result merged in place."""
        results = first_pass.results
        position = positions[index]
        old = results[position]
        new = self._send_session(first_pass.context(position, first_pass.retrier, blocks), old.unsent)
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

    def _group(self, records: Sequence[InboundRecord], rejected: list[DeadLetter]) -> list[_Session]:
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
        return [_Session(tracking_id, session_id, pending) for (tracking_id, session_id), pending in groups.items()]

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

    def _send_session(self, context: _CallContext, pending: list[_Pending]) -> _SessionResult:
        result = _SessionResult()
        queue = deque(self._calls(pending))
        while queue:
            call = queue.popleft()
            outcome = self._put(context, call, result)
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
            context.blocks.block(context.tracking_id, call[0].index, outcome.cause)
            # This call and everything after it in the session wait (outage patience, then Kinesis' retry),
            # in order.
            for later in [call, *queue]:
                for item in later:
                    result.retry[item.record.sequence_number] = outcome.cause
                    result.unsent.append(item)
            result.cause = outcome.cause
            break
        return result

    def _put(self, context: _CallContext, call: list[_Pending], result: _SessionResult) -> CallOutcome:
        params: dict[str, Any] = {
            "trackingId": context.tracking_id,
            "sessionId": context.session_id,
            "eventList": [item.event for item in call],
        }
        if call[0].user_id is not None:
            params["userId"] = call[0].user_id
        first = call[0].index

        def gate() -> str | None:
            blocked = context.blocks.cause_for(context.tracking_id, first)
            if blocked is not None:
                return blocked
            return None if context.bucket.acquire(context.deadline) else DEADLINE

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

        return context.retrier.run(send, context.deadline, gate)
