"""Rate limiting and retry of one call: a token bucket per tracker, backoff with jitter, and the error classes.

A call is tried until it succeeds, is rejected, or its attempts or the invocation's time run out; before every
attempt it takes a token from its tracker's bucket, so a whole pool of threads stays within the invocation's
share of the PutEvents rate quota. Errors are classified from the ClientError `response` shape, and time comes
from an injected clock, so nothing here needs AWS or real waiting in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from ingest.events import RejectReason

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

# "Amazon Personalize endpoints and quotas" (developer guide, limits.html): PutEvents accepts at most 1,000
# requests per second per dataset group. Each country has its own dataset group and one event tracker, so
# the limit is per tracking id; an invocation gets its share of it from the construct (PUT_EVENTS_RATE_PER_S).
PUT_EVENTS_REQUESTS_PER_S_PER_DATASET_GROUP = 1000
# Backoff steps double per attempt up to a cap, but the exponent stops growing here: `2 ** 1024` times a float
# raises OverflowError, and 64 doublings already take any base of a nanosecond or more past any cap.
MAX_BACKOFF_EXPONENT = 64
# The cause of a call that was not made (or not tried again) because the invocation's time ran out.
DEADLINE = "deadline"


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


class ErrorKind(Enum):
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


def classify(error: Exception) -> tuple[ErrorKind, str]:
    if isinstance(error, RequestNotBuilt):
        return ErrorKind.UNSENDABLE, str(error)
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status == 429 or status >= 500:
            return ErrorKind.TRANSIENT, code or f"http_{status}"
        if code in REJECTION_CODES:
            return ErrorKind.REJECTED, code
        return ErrorKind.SYSTEMIC, code or f"http_{status}"
    # Connection resets and timeouts are raised outside ClientError: worth another attempt.
    return ErrorKind.TRANSIENT, type(error).__name__


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    rejected: bool = False  # the call's events are the cause; `reason` says which way
    cause: str = ""
    reason: RejectReason = RejectReason.REJECTED_BY_PERSONALIZE


_OK = CallOutcome(ok=True)


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
    ) -> CallOutcome:
        attempt = 0
        while True:
            if self.clock.now() >= deadline:
                return CallOutcome(ok=False, cause=DEADLINE)
            refused = gate() if gate is not None else None
            if refused is not None:
                return CallOutcome(ok=False, cause=refused)
            attempt += 1
            try:
                call()
                return _OK
            except Exception as error:  # classified below: every failure has a defined fate
                kind, code = classify(error)
                if kind is ErrorKind.REJECTED:
                    return CallOutcome(ok=False, rejected=True, cause=f"{code}: {error}")
                if kind is ErrorKind.UNSENDABLE:
                    return CallOutcome(ok=False, rejected=True, cause=code, reason=RejectReason.UNSENDABLE)
                if kind is ErrorKind.SYSTEMIC:
                    return CallOutcome(ok=False, cause=code)
                with self._lock:
                    self.transient_errors += 1
                if attempt >= self.policy.max_attempts:
                    return CallOutcome(ok=False, cause=code)
                pause = self.policy.delay(attempt, self.jitter())
                if self.clock.now() + pause >= deadline:
                    return CallOutcome(ok=False, cause=code)
                self.clock.sleep(pause)
