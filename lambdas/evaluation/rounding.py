"""A ratio and its 95 % interval as printed: rounding never puts a number on the other side of 1.

The outcome compares the unrounded bounds with 1, so a printed bound must stay on the same side of 1 (a lower
bound of 0.9956 printed as 1.00 beside "not clearly different" contradicts it): bounds round outward (low down,
high up) with 2 decimals, or more until the printed number is on the value's side of 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np


class Bounds(Protocol):
    @property
    def low(self) -> float | None: ...

    @property
    def high(self) -> float | None: ...


def _side_of_one(value: float) -> int:
    return (value > 1) - (value < 1)


def _digits(value: float, rounding: Callable[[float], float]) -> str:
    """`value` with 2 decimals, or more until the printed number sits on the same side of 1 as the value (a lower
    bound of 0.9996 must not print as 1.00 beside "not clearly different")."""
    for places in range(2, 9):
        scale = 10**places
        shown = rounding(round(value * scale, 6)) / scale  # 1.09 * 100 is 109.00000000000001
        if _side_of_one(shown) == _side_of_one(value):
            return f"{shown:.{places}f}"
    return repr(value)


def ratio_text(value: float) -> str:
    return _digits(value, round)


def interval_text(interval: Bounds) -> str:
    """The 95 % interval rounded outward (low down, high up), never across 1: the printed interval contains the
    computed one, so it never looks more decided than the outcome."""
    lo, hi = interval.low, interval.high
    if lo is None or hi is None:
        return "no interval"
    if not np.isfinite(hi):
        return f"95 % CI from {_digits(lo, math.floor)}x"
    return f"95 % CI {_digits(lo, math.floor)}-{_digits(hi, math.ceil)}x"
