"""A simulated clock: tests (and a patched Step Functions Wait state) move time; fakes read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)


class SimClock:
    def __init__(self, start: datetime = DEFAULT_START) -> None:
        # boto3 returns timezone-aware datetimes; a naive start would make comparisons with them fail late.
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start, e.g. datetime(..., tzinfo=UTC)")
        self.start = start
        self._now = start

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        """Epoch seconds, for code written against time.time()."""
        return self._now.timestamp()

    @property
    def elapsed(self) -> timedelta:
        return self._now - self.start

    def advance(self, seconds: float | timedelta) -> datetime:
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise ValueError(f"time only moves forward (asked to advance by {step})")
        self._now += step
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        return self.advance(moment - self._now)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def __repr__(self) -> str:
        return f"SimClock({self._now.isoformat()}, elapsed={self.elapsed})"
