"""Real-time ingest: throughput of one 10,000-record Kinesis batch through the handler's processor
on one core with stubbed AWS clients, and how close the PutEvents call count is to the minimum.

Goals: ingest_records_per_s >= 20,000; putevents_calls_per_ideal = 1.00. `putevents_calls_vs_naive` is how
many times fewer calls than one PutEvents per record.

`ingest_records_per_s_per_shard_20ms` (goal >= 1,000, what a shard accepts) drains a backlog of one
full shard -- 1,000 records/s of sessions interleaved as they arrive in time -- with every put_events call
sleeping 20 ms, modelled as production runs it: the deployed batch size, parallelization factor N (N
invocations at once per shard, each on the sessions whose partition key hashes to it, each invocation's
batches one after another), delivery pool and PutEvents rate share, all read from the construct.
`putevents_calls_per_record_shard` is that stream's calls per record: one country's events/s can never
exceed 1,000 (PutEvents requests/s per dataset group) divided by it. `python bench/bench_ingest.py --sweep`
prints the table the settings were chosen from. `putevents_client_cpu_ms_per_call` is the CPU one real
botocore put_events call costs (serialise, sign, HTTP) against a local HTTP server: the stub above costs none,
so it sizes what the figure leaves out -- Lambda's CPU share (memory size) and one process's GIL.
"""

from __future__ import annotations

import base64
import json
import math
import random
import sys
import threading
import time
import zlib
from itertools import groupby
from pathlib import Path

from common.event_kinds import EventKind
from testkit.fakes.ingest import CountingPersonalizeEvents, RecordingSqs, kinesis_record

ROOT = Path(__file__).resolve().parent.parent

RECORDS = 10_000
COUNTRIES = ("KR", "JP", "US")
TRACKING_IDS = {country: f"tracker-{country.lower()}" for country in COUNTRIES}
SEED = 20261129


def _payloads(rng: random.Random) -> list[dict]:
    """Sessions of 1-40 events in three countries; a third start anonymous and log in part-way."""
    sessions: list[list[dict]] = []
    total = 0
    while total < RECORDS:
        length = min(rng.randint(1, 40), RECORDS - total)
        session_id = f"sess-{len(sessions)}"
        country = rng.choice(COUNTRIES)
        login_at = rng.randint(1, length) if rng.random() < 0.33 else 0
        user = f"user-{rng.randint(1, 50_000)}"
        events = [
            {
                "event_type": EventKind.PURCHASE if rng.random() < 0.05 else EventKind.VIEW,
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
            kinesis_record(
                str(49_000_000_000 + n),
                base64.b64encode(json.dumps(p).encode()).decode(),
                p["session_id"],
                1795000000.0,
            )
            for n, p in enumerate(payloads)
        ]
    }


def ideal_calls(payloads: list[dict]) -> int:
    """The fewest PutEvents calls that keep each session's order: one userId per call, <= 10 events."""
    sessions: dict[tuple[str, str], list[str | None]] = {}
    for p in payloads:
        sessions.setdefault((p["country"], p["session_id"]), []).append(p.get("user_id"))
    return sum(math.ceil(len(list(run)) / 10) for users in sessions.values() for _, run in groupby(users))


# One full shard: 1,000 records/s (Kinesis' write limit per shard). Sessions of 1-40 events as above, one
# event every ~10 s while someone browses (exponential gaps), so ~10,000 sessions are open at once and a
# batch rarely holds two events of one session: calls per record stay close to 1.
SHARD_RECORDS_PER_S = 1000
SHARD_SECONDS = 12
MEAN_EVENT_GAP_S = 10.0
LATENCY_S = 0.020


def _shard_payloads(rng: random.Random, seconds: int = SHARD_SECONDS) -> list[dict]:
    """`seconds` of one full shard in arrival order, from sessions already under way when it starts."""
    mean_length = 20.5
    session_rate = SHARD_RECORDS_PER_S / mean_length
    warm_up = 40 * MEAN_EVENT_GAP_S * 2  # long enough for the longest sessions to be in full swing
    timed: list[tuple[float, dict]] = []
    start = -warm_up
    n = 0
    while start < seconds:
        start += rng.expovariate(session_rate)
        length = rng.randint(1, 40)
        country = rng.choice(COUNTRIES)
        login_at = rng.randint(1, length) if rng.random() < 0.33 else 0
        user = f"user-{rng.randint(1, 2_400_000)}"
        at = start
        for i in range(length):
            if 0 <= at < seconds:
                timed.append(
                    (
                        at,
                        {
                            "event_type": EventKind.PURCHASE if rng.random() < 0.05 else EventKind.VIEW,
                            "country": country,
                            "session_id": f"sess-{n}",
                            **({"user_id": user} if i >= login_at else {}),
                            "item_id": f"item-{rng.randint(1, 20_000)}",
                            "timestamp": 1795000000 + int(at),
                        },
                    )
                )
            at += rng.expovariate(1 / MEAN_EVENT_GAP_S)
        n += 1
    timed.sort(key=lambda pair: pair[0])
    return [payload for _, payload in timed]


def shard_throughput(
    payloads: list[dict],
    *,
    batch_size: int,
    parallelization_factor: int,
    concurrency: int,
    rate_per_s: float,
    latency_s: float = LATENCY_S,
) -> tuple[float, int]:
    """Records/s draining `payloads` as one shard's backlog, and the PutEvents calls it took."""
    from common.observability import metrics
    from ingest.handler import process_batch
    from ingest.settings import IngestSettings

    config = IngestSettings.model_validate(
        {
            "TRACKING_IDS": json.dumps(TRACKING_IDS),
            "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
            "DELIVERY_CONCURRENCY": str(concurrency),
            "PUT_EVENTS_RATE_PER_S": str(rate_per_s),
        }
    )
    # Lambda spreads a shard's partition keys over the factor's concurrent batches by hash, keeping each
    # key's records in order; here crc32 stands in for that hash.
    lanes: list[list[dict]] = [[] for _ in range(parallelization_factor)]
    for payload in payloads:
        lanes[zlib.crc32(payload["session_id"].encode()) % parallelization_factor].append(payload)
    events = [[_kinesis_event(lane[i : i + batch_size]) for i in range(0, len(lane), batch_size)] for lane in lanes]
    client = CountingPersonalizeEvents(latency_s)
    failures: list[int] = []

    def invoke_lane(batches: list[dict]) -> None:
        for event in batches:  # one batch at a time per lane, as the event source mapping does
            response = process_batch(event, None, config=config, personalize_events=client, sqs=RecordingSqs())
            failures.append(len(response["batchItemFailures"]))

    threads = [threading.Thread(target=invoke_lane, args=(batches,)) for batches in events]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    metrics.clear_metrics()
    if sum(failures):
        raise RuntimeError(f"{sum(failures)} records were not delivered")
    return len(payloads) / elapsed, client.calls


def client_cpu_ms_per_call(calls: int = 1000) -> float:
    """CPU of one botocore put_events round trip (the calling thread's), against a localhost server."""
    import datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3
    from botocore.config import Config
    from botocore.credentials import Credentials

    class _Ok(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = boto3.session.Session(region_name="us-east-1")
        # Dummy keys for the local server only: signing must run, nothing leaves the machine.
        session._session._credentials = Credentials("bench", "bench")  # noqa: SLF001
        client = session.client(
            "personalize-events",
            endpoint_url=f"http://127.0.0.1:{server.server_port}",
            config=Config(retries={"total_max_attempts": 1}),
        )
        sent_at = datetime.datetime.now(datetime.UTC)
        events = [{"eventType": EventKind.VIEW.value, "itemId": "item-1", "sentAt": sent_at, "eventId": "e1"}]
        for _ in range(50):  # warm: endpoint resolution, connection
            client.put_events(trackingId="t", sessionId="s", userId="u", eventList=events)
        start = time.thread_time()
        for _ in range(calls):
            client.put_events(trackingId="t", sessionId="s", userId="u", eventList=events)
        return (time.thread_time() - start) / calls * 1000
    finally:
        server.shutdown()
        server.server_close()


def _deployed_settings() -> dict:
    from stacks.constructs import realtime_ingest as construct

    return {
        "batch_size": construct.BATCH_SIZE,
        "parallelization_factor": construct.PARALLELIZATION_FACTOR,
        "concurrency": construct.DELIVERY_CONCURRENCY,
        # The share of one provisioned shard's invocations: the figure is per shard.
        "rate_per_s": construct.put_events_rate_per_invocation(1, construct.PARALLELIZATION_FACTOR),
    }


def sweep() -> None:
    import os

    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from common.observability import logger

    logger.setLevel("WARNING")
    payloads = _shard_payloads(random.Random(SEED), seconds=6)
    print(f"# {len(payloads)} records, load average {os.getloadavg()[0]:.1f}")
    print("parallelization_factor batch_size concurrency records_per_s calls_per_record")
    for factor in (1, 2, 4):
        for batch_size in (100, 250, 500, 1000):
            for concurrency in (8, 16, 32):
                rate = 1000 // factor
                per_s, calls = shard_throughput(
                    payloads,
                    batch_size=batch_size,
                    parallelization_factor=factor,
                    concurrency=concurrency,
                    rate_per_s=rate,
                )
                print(f"{factor} {batch_size} {concurrency} {per_s:.0f} {calls / len(payloads):.3f}", flush=True)


def figures():
    import os

    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from common.observability import logger, metrics
    from ingest.handler import process_batch
    from ingest.settings import IngestSettings

    logger.setLevel("WARNING")  # keep per-batch info lines out of the figures
    payloads = _payloads(random.Random(SEED))
    event = _kinesis_event(payloads)
    config = IngestSettings.model_validate(
        {"TRACKING_IDS": json.dumps(TRACKING_IDS), "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq"}
    )
    # CPU only: the PutEvents quota (1,000 requests/s per dataset group) is a wall-clock bound, which the
    # 20 ms shard figure below measures with the deployed rate share; here the token bucket would only sleep.
    config = config.model_copy(update={"put_events_rate_per_s": 1e12})
    best = math.inf
    calls = 0
    for _ in range(3):
        stub = CountingPersonalizeEvents()
        start = time.perf_counter()
        response = process_batch(event, None, config=config, personalize_events=stub, sqs=RecordingSqs())
        best = min(best, time.perf_counter() - start)
        metrics.clear_metrics()
        if response["batchItemFailures"]:
            raise RuntimeError(f"{len(response['batchItemFailures'])} records were not delivered")
        calls = stub.calls
    yield "ingest_records_per_s", RECORDS / best, "records/s"
    yield "putevents_calls_per_ideal", calls / ideal_calls(payloads), "ratio"
    yield "putevents_calls_vs_naive", RECORDS / calls, "x"

    shard = _shard_payloads(random.Random(SEED))
    per_s, shard_calls = shard_throughput(shard, **_deployed_settings())
    yield "ingest_records_per_s_per_shard_20ms", per_s, "records/s"
    yield "putevents_calls_per_record_shard", shard_calls / len(shard), "ratio"
    yield "putevents_client_cpu_ms_per_call", client_cpu_ms_per_call(), "ms"
    yield "bench_load_average_1m", os.getloadavg()[0], "load"


if __name__ == "__main__":
    if sys.argv[1:] == ["--sweep"]:
        sweep()
    else:
        for name, value, unit in figures():
            print(f"{name}: {value:.3f} {unit}")
