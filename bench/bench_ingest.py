"""Real-time ingest (issue 5): throughput of one 10,000-record Kinesis batch through the handler's processor
on one core with stubbed AWS clients, and how close the PutEvents call count is to the minimum.

Goals: ingest_records_per_s >= 20,000; putevents_calls_per_ideal = 1.00. `putevents_calls_vs_naive` is how
many times fewer calls than one PutEvents per record.
"""

from __future__ import annotations

import base64
import json
import math
import random
import sys
import time
from itertools import groupby
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

RECORDS = 10_000
COUNTRIES = ("KR", "JP", "US")
TRACKING_IDS = {country: f"tracker-{country.lower()}" for country in COUNTRIES}
SEED = 20261129


class _StubPersonalize:
    def __init__(self) -> None:
        self.calls = 0

    def put_events(self, **params):
        self.calls += 1
        return {}


class _StubSqs:
    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - botocore's parameter names
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def _payloads(rng: random.Random) -> list[dict]:
    """Sessions of 1-40 events in three countries; a third start anonymous and log in part-way."""
    sessions = []
    total = 0
    while total < RECORDS:
        length = min(rng.randint(1, 40), RECORDS - total)
        session_id = f"sess-{len(sessions)}"
        country = rng.choice(COUNTRIES)
        login_at = rng.randint(1, length) if rng.random() < 0.33 else 0
        user = f"user-{rng.randint(1, 50_000)}"
        events = [
            {
                "event_type": "purchase" if rng.random() < 0.05 else "view",
                "country": country,
                "session_id": session_id,
                **({"user_id": user} if i >= login_at else {}),
                "item_id": f"item-{rng.randint(1, 20_000)}",
                "timestamp": 1795000000 + total + i,
                **({"view_count": rng.randint(1, 5)} if rng.random() < 0.5 else {}),
            }
            for i in range(length)
        ]
        sessions.append(events)
        total += length
    # Interleave sessions the way one shard does, keeping each session's own order.
    queues = [list(reversed(s)) for s in sessions]
    ordered = []
    while queues:
        index = rng.randrange(len(queues))
        ordered.append(queues[index].pop())
        if not queues[index]:
            queues[index] = queues[-1]
            queues.pop()
    return ordered


def _kinesis_event(payloads: list[dict]) -> dict:
    return {
        "Records": [
            {
                "kinesis": {
                    "partitionKey": p["session_id"],
                    "sequenceNumber": str(49_000_000_000 + n),
                    "data": base64.b64encode(json.dumps(p).encode()).decode(),
                    "approximateArrivalTimestamp": 1795000000.0,
                    "kinesisSchemaVersion": "1.0",
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{49_000_000_000 + n}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/events",
                "awsRegion": "us-east-1",
            }
            for n, p in enumerate(payloads)
        ]
    }


def ideal_calls(payloads: list[dict]) -> int:
    """The fewest PutEvents calls that keep each session's order: one userId per call, <= 10 events."""
    sessions: dict[tuple[str, str], list[str | None]] = {}
    for p in payloads:
        sessions.setdefault((p["country"], p["session_id"]), []).append(p.get("user_id"))
    return sum(math.ceil(len(list(run)) / 10) for users in sessions.values() for _, run in groupby(users))


def figures():
    import os

    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from common.observability import logger, metrics
    from ingest.handler import IngestSettings, process_batch

    logger.setLevel("WARNING")  # keep per-batch info lines out of the figures
    payloads = _payloads(random.Random(SEED))
    event = _kinesis_event(payloads)
    config = IngestSettings.model_validate(
        {"TRACKING_IDS": json.dumps(TRACKING_IDS), "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq"}
    )
    best = math.inf
    calls = 0
    for _ in range(3):
        stub = _StubPersonalize()
        start = time.perf_counter()
        response = process_batch(event, None, config=config, personalize_events=stub, sqs=_StubSqs())
        best = min(best, time.perf_counter() - start)
        metrics.clear_metrics()
        if response["batchItemFailures"]:
            raise RuntimeError(f"{len(response['batchItemFailures'])} records were not delivered")
        calls = stub.calls
    yield "ingest_records_per_s", RECORDS / best, "records/s"
    yield "putevents_calls_per_ideal", calls / ideal_calls(payloads), "ratio"
    yield "putevents_calls_vs_naive", RECORDS / calls, "x"


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value:.3f} {unit}")
