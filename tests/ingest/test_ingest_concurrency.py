"""Concurrent delivery: sessions run side by side on a bounded pool, each session's calls in order
and one at a time, the PutEvents rate per tracker bounded, and nothing lost -- within one invocation and over
Kinesis' redeliveries. Every test goes through `run`, which asserts the no-loss invariant.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from ingest.delivery import DEFAULT_CONCURRENCY
from ingest.retry import SystemClock, TokenBucket
from testkit.fakes.ingest import FakeClock, FakePersonalizeEvents, client_error, event, record


class SlowPersonalizeEvents(FakePersonalizeEvents):
    """The validating fake with a real latency per call, slept OUTSIDE the fake's lock so calls overlap.

    Records, per session, the order calls started in and how many of its calls were in flight at once.
    """

    def __init__(self, latency, script=None) -> None:
        super().__init__(script)
        self.latency = latency  # params -> seconds
        self.started: list[tuple[float, dict[str, Any]]] = []  # (monotonic time, params) per attempt
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight_per_session = 0
        self.max_in_flight = 0
        self._total_in_flight = 0
        self._state = threading.Lock()

    def put_events(self, **params: Any) -> dict[str, Any]:
        session = params["sessionId"]
        with self._state:
            self.started.append((time.monotonic(), params))
            self.in_flight[session] += 1
            self._total_in_flight += 1
            self.max_in_flight_per_session = max(self.max_in_flight_per_session, self.in_flight[session])
            self.max_in_flight = max(self.max_in_flight, self._total_in_flight)
        try:
            time.sleep(self.latency(params))
            return super().put_events(**params)
        finally:
            with self._state:
                self.in_flight[session] -= 1
                self._total_in_flight -= 1


def _interleaved_sessions(rng: random.Random, sessions: int, records: int, countries=("KR", "JP", "US")):
    """Records of `sessions` sessions in random interleaving; a third log in part-way (userId appears)."""
    plan = [rng.randrange(sessions) for _ in range(records)]
    login_at = {s: rng.randint(1, 8) if rng.random() < 0.33 else 0 for s in range(sessions)}
    seen: dict[int, int] = defaultdict(int)
    out = []
    for n, s in enumerate(plan):
        user = f"u-{s}" if seen[s] >= login_at[s] else None
        seen[s] += 1
        out.append(record(event(n, session_id=f"s-{s}", country=countries[s % len(countries)], user_id=user)))
    return out


def _sent_by_session(calls: list[dict[str, Any]]) -> dict[str, list[str]]:
    sent: dict[str, list[str]] = defaultdict(list)
    for call in calls:
        sent[call["sessionId"]].extend(e["eventId"] for e in call["eventList"])
    return sent


def _expected_by_session(records) -> dict[str, list[str]]:
    expected: dict[str, list[str]] = defaultdict(list)
    for r in records:
        expected[r.partition_key].append(r.event_id)
    return expected


# ---------------------------------------------------------------- order


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_session_keeps_its_order_and_one_call_at_a_time_while_sessions_run_side_by_side(run, seed):
    rng = random.Random(seed)
    records = _interleaved_sessions(rng, sessions=40, records=300)
    client = SlowPersonalizeEvents(lambda params: rng.uniform(0.0, 0.004))
    out = run(records, client, clock=SystemClock())
    assert out.retried == [] and out.dead_letters == {}
    # The pool really overlapped calls (otherwise this test would prove nothing) ...
    assert client.max_in_flight > 1
    # ... but never two of one session, and each session's events reached PutEvents in stream order.
    assert client.max_in_flight_per_session == 1
    assert _sent_by_session(client.accepted) == _expected_by_session(records)
    # One userId per call, and the anonymous events of a session before its first logged-in one.
    for call in client.accepted:
        user = call.get("userId")
        assert user is None or user == f"u-{call['sessionId'].split('-')[1]}"


def test_pool_is_bounded_by_the_configured_concurrency(run):
    records = [record(event(n, session_id=f"s{n}")) for n in range(60)]
    client = SlowPersonalizeEvents(lambda params: 0.005)
    run(records, client, clock=SystemClock(), concurrency=4)
    assert 1 < client.max_in_flight <= 4


# ---------------------------------------------------------------- no loss, also over Kinesis redeliveries


def _chaos(rng: random.Random, down: set[str]):
    """Throttling and 5xx now and then, a rejected item, and trackers in `down` refusing everything."""

    def script(params, number):
        if params["trackingId"] in down:
            return client_error("AccessDeniedException", 403)
        if any(e["itemId"] == "item-13" for e in params["eventList"]):
            return client_error("InvalidInputException", message="bad item")
        roll = rng.random()
        if roll < 0.25:
            return client_error("ThrottlingException")
        if roll < 0.30:
            return client_error("InternalFailure", 500)
        return None

    return script


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_nothing_is_lost_and_order_holds_over_kinesis_redeliveries(run, seed):
    """Kinesis checkpoints before the lowest reported sequence number and redelivers everything after it
    (delivered or not). Over the redeliveries every record is delivered or dead-lettered, and within each
    session the first delivery of each event follows stream order (later copies are duplicates, which
    Personalize drops by eventId)."""
    rng = random.Random(seed)
    records = _interleaved_sessions(rng, sessions=30, records=250)
    records.insert(40, record("###not-base64###"))
    order = {r.sequence_number: n for n, r in enumerate(records)}
    first_delivery: dict[str, list[str]] = defaultdict(list)
    delivered_once: set[str] = set()
    dead: set[str] = set()
    batch = records
    for attempt in range(1, 40):
        # JP's tracker refuses everything in the first invocation only (a deploy race, say).
        client = FakePersonalizeEvents(_chaos(rng, {"trk-jp"} if attempt == 1 else set()))
        out = run(batch, client, clock=FakeClock())  # the fixture asserts the invariant for this batch
        for call in client.accepted:
            for e in call["eventList"]:
                if e["eventId"] not in delivered_once:
                    delivered_once.add(e["eventId"])
                    first_delivery[call["sessionId"]].append(e["eventId"])
        dead |= set(out.dead_letters)
        if not out.retried:
            break
        checkpoint = min(order[s] for s in out.retried)
        batch = records[checkpoint:]
    else:
        pytest.fail("the batch never drained")
    by_id = {r.event_id: r for r in records if r.event_id}
    assert {by_id[i].sequence_number for i in delivered_once} | dead == {r.sequence_number for r in records}
    assert by_id["ev-13"].sequence_number in dead
    expected = _expected_by_session(r for r in records if r.event_id and r.event_id != "ev-13")
    assert dict(first_delivery) == expected


def test_a_give_up_blocks_only_the_later_calls_of_that_tracker(run):
    # s-early's record comes first in the stream; s-late's call fails for good. s-early must still be sent
    # however the threads are scheduled: stopping it would move the checkpoint back for nothing.
    def refuse_late(params, number):
        return client_error("ThrottlingException") if params["sessionId"] == "s-late" else None

    early = [record(event(0, session_id="s-early"))]
    late = [record(event(1, session_id="s-late"))]
    after = [record(event(n, session_id=f"s-after-{n}")) for n in range(2, 6)]
    for _ in range(5):
        out = run(early + late + after, FakePersonalizeEvents(refuse_late))
        assert early[0].sequence_number in out.delivered
        assert late[0].sequence_number in out.retried


# ---------------------------------------------------------------- throttling


def test_throttled_calls_are_retried_with_backoff_on_the_pool_and_all_delivered(run):
    attempts: dict[tuple[str, str], int] = defaultdict(int)

    def throttle_each_call_twice(params, number):
        key = (params["sessionId"], params["eventList"][0]["eventId"])
        attempts[key] += 1
        return client_error("ThrottlingException") if attempts[key] <= 2 else None

    records = [record(event(n, session_id=f"s{n % 25}")) for n in range(100)]
    clock = FakeClock()
    out = run(records, FakePersonalizeEvents(throttle_each_call_twice), clock=clock)
    assert sorted(out.delivered) == sorted(r.sequence_number for r in records)
    assert len(out.client.calls) == 3 * len(out.client.accepted) == 3 * 25
    assert len(clock.sleeps) >= 2 * 25  # every throttled attempt waited before the next


# ---------------------------------------------------------------- rate limit


def test_put_events_rate_per_tracker_stays_within_the_configured_share(run):
    rate = 400.0
    burst = max(1.0, rate / 10)
    records = [record(event(n, session_id=f"s{n}", country=("KR", "JP")[n % 2])) for n in range(240)]
    client = SlowPersonalizeEvents(lambda params: 0.001)
    start = time.monotonic()
    out = run(records, client, clock=SystemClock(), rate_per_s=rate)
    elapsed = time.monotonic() - start
    assert sorted(out.delivered) == sorted(r.sequence_number for r in records)
    for tracker in ("trk-kr", "trk-jp"):
        times = sorted(t for t, params in client.started if params["trackingId"] == tracker)
        assert len(times) == 120
        # Token bucket: in any stretch [t_i, t_j] at most burst + rate * (t_j - t_i) tokens are taken. The fake
        # notes a call a little after its token was taken (thread switches on a loaded host): 20 ms of slack.
        for i in range(len(times)):
            for j in range(i + 1, len(times)):
                allowed = burst + rate * (times[j] - times[i] + 0.02) + 1
                assert j - i + 1 <= allowed, (i, j, times[j] - times[i])
    # Each tracker has its own bucket: 120 calls each at 400/s take ~0.2 s, not the 0.5 s of one shared one.
    assert (120 - burst) / rate * 0.9 <= elapsed < 120 * 2 / rate + 1.0


def test_token_bucket_waits_for_the_next_token_and_refuses_one_due_after_the_deadline():
    clock = FakeClock()
    bucket = TokenBucket(10, clock, burst=2)
    assert bucket.acquire(deadline=clock.now() + 5) and bucket.acquire(deadline=clock.now() + 5)
    assert clock.sleeps == []  # the burst is free
    assert bucket.acquire(deadline=clock.now() + 5)
    assert clock.sleeps == [pytest.approx(0.1)]
    # The next token is due in 0.1 s: refused when the deadline is sooner, and nothing is taken.
    assert not bucket.acquire(deadline=clock.now() + 0.05)
    assert bucket.acquire(deadline=clock.now() + 5)
    assert clock.sleeps == [pytest.approx(0.1), pytest.approx(0.1)]
    with pytest.raises(ValueError):
        TokenBucket(0, clock)


def test_token_bucket_refuses_when_its_wait_ended_past_the_deadline():
    class LateWaking(FakeClock):  # a loaded machine: the thread runs again 0.2 s after its wait was due
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 0.2)

    clock = LateWaking()
    bucket = TokenBucket(10, clock, burst=1)
    assert bucket.acquire(deadline=clock.now() + 5)
    deadline = clock.now() + 0.15  # the next token is due in 0.1 s, before it: worth waiting for
    assert not bucket.acquire(deadline=deadline)
    assert clock.sleeps == [pytest.approx(0.3)] and clock.now() > deadline


# ---------------------------------------------------------------- the invocation's deadline


class _ReadingClock(SystemClock):
    """The system clock, remembering its first reading (the fake Lambda context's start) and each thread's
    latest reading: the one the deadline check before a call just made."""

    def __init__(self) -> None:
        self.first: float | None = None
        self._latest = threading.local()

    def now(self) -> float:
        now = super().now()
        if self.first is None:
            self.first = now
        self._latest.value = now
        return now

    def latest(self) -> float:
        return self._latest.value


def test_running_out_of_time_on_the_pool_reports_the_rest_and_starts_no_call_late(run):
    # 200 sessions x 100 ms calls on 16 workers need ~1.3 s; the budget leaves 0.9 s for PutEvents (a real
    # clock: at 30 ms a call and 0.3 s, a loaded machine sometimes delivered nothing in time).
    records = [record(event(n, session_id=f"s{n}")) for n in range(200)]
    client = SlowPersonalizeEvents(lambda params: 0.1)
    clock = _ReadingClock()
    decided_at: list[float] = []  # the clock reading each call was started on
    put_events = client.put_events

    def recording_put_events(**params: Any) -> dict[str, Any]:
        decided_at.append(clock.latest())
        return put_events(**params)

    client.put_events = recording_put_events  # type: ignore[method-assign]
    out = run(records, client, clock=clock, budget_s=1.2)
    assert clock.first is not None
    assert out.delivered and out.retried
    put_deadline = clock.first + 1.2 - 0.3  # reserve: a quarter of a budget this small
    # Judged on the reading the check made, not on when the thread got to run next (a loaded machine's
    # thread switches took more than 20 ms).
    assert len(decided_at) == len(client.started)
    assert max(decided_at) < put_deadline
    assert DEFAULT_CONCURRENCY < len(out.delivered) < len(records)
