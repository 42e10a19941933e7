"""Publish: how fast the publish step loads users into the read model, with every BatchWriteItem call taking
10 ms (a DynamoDB round trip) and the step's own parsing, batching and writer pool (pipeline.publishing,
pipeline.read_model_writer, the step's window of WINDOW_ITEMS).

`publish_users_per_s`: users per second, each one batch-output line -> its list item plus its profile item
(users.csv row). `publish_full_day_minutes` (goal <= 30): the trial's 2.4 M users at that rate.
`publish_normal_day_minutes` (goal <= 3): 6 % of the users written, plus the whole users.csv parsed to pick
their profiles (`publish_csv_rows_per_s`). Neither counts DynamoDB's own limit: a new on-demand table's
throughput grows with use, so a first full day may be throttled (UnprocessedItems, retried with backoff).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date

from bench.trial import TRIAL_USERS
from pipeline import read_model_writer
from pipeline.publishing import Load, PartKind, items_of
from pipeline.steps.publish import WINDOW_ITEMS

CALL_SECONDS = 0.010
USERS = 20_000
NORMAL_DAY_SHARE = 0.06
HEADER = ["USER_ID", "LOCALE", "AGE_GROUP", "GENDER", "MEMBERSHIP"]


class SlowDynamoDB:
    """BatchWriteItem that takes CALL_SECONDS and processes everything."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def batch_write_item(self, RequestItems: dict) -> dict:  # noqa: N803 (botocore's parameter name)
        time.sleep(CALL_SECONDS)
        with self._lock:
            self.calls += 1
        return {"UnprocessedItems": {}}


def _lines(users: int) -> tuple[list[str], list[str]]:
    lists = [
        json.dumps(
            {
                "input": {"userId": f"user-{u:07d}"},
                "output": {"recommendedItems": [f"{i:06d}" for i in range(u, u + 25)]},
            }
        )
        for u in range(users)
    ]
    rows = [f"user-{u:07d},ko_KR,{20 + u % 5 * 10}s,{'FM'[u % 2]},basic" for u in range(users)]
    return lists, rows


def load_rate(workers: int = read_model_writer.WORKERS, users: int = USERS) -> float:
    lists, rows = _lines(users)
    load = Load("KR", date(2026, 11, 15), 30)
    client = SlowDynamoDB()
    started = time.perf_counter()
    with read_model_writer.Writer(client, "read-model", workers=workers) as writer:
        for kind, lines, header in ((PartKind.USER_LISTS, lists, None), (PartKind.PROFILES, rows, HEADER)):
            window: list = []
            for line in lines:
                window.extend(items_of(kind, load, line, header))
                if len(window) >= WINDOW_ITEMS:
                    writer.write(window)
                    window = []
            writer.write(window)
    return users / (time.perf_counter() - started)


def csv_rate(rows: int = 100_000) -> float:
    _, lines = _lines(rows)
    load = Load("KR", date(2026, 11, 15), 30, profile_users=frozenset({"nobody"}))
    started = time.perf_counter()
    for line in lines:
        items_of(PartKind.PROFILES, load, line, HEADER)
    return rows / (time.perf_counter() - started)


def figures() -> list[tuple[str, float, str]]:
    rate, rows_per_s = load_rate(), csv_rate()
    full = TRIAL_USERS / rate / 60
    normal = (TRIAL_USERS * NORMAL_DAY_SHARE / rate + TRIAL_USERS / rows_per_s) / 60
    return [
        ("publish_users_per_s", rate, "users/s"),
        ("publish_csv_rows_per_s", rows_per_s, "rows/s"),
        ("publish_full_day_minutes", full, "min"),
        ("publish_normal_day_minutes", normal, "min"),
    ]


if __name__ == "__main__":
    import sys

    if "--sweep" in sys.argv:  # the table WORKERS was chosen from
        for n in (4, 8, 16, 32, 64):
            print(f"workers={n}: {load_rate(n, 10_000):.0f} users/s")
    else:
        for name, value, unit in figures():
            print(f"{name}: {value:.1f} {unit}")
