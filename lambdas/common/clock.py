"""The time source of the pipeline code. Tests replace `now` with a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
