"""A request's latency budget: how much of it is left, on a monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable


class Deadline:
    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at = clock() + budget_s

    def remaining_s(self, keep_s: float = 0.0) -> float:
        """Seconds left before the deadline less `keep_s` (never negative)."""
        return max(0.0, self.at - self._clock() - keep_s)
