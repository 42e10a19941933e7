"""The ingest through a 15-minute outage of one country's tracker, with throttling, 5xx, timeouts and
malformed records, 100,000 records on a simulated clock (bench/ingest_outage.py), with the deployed event
source mapping settings (stacks/constructs/realtime_ingest.py).

Goal: ingest_outage_records_lost = 0 (records neither delivered, dead-lettered nor replayed from the failure
queue). `ingest_outage_records_to_failure_queue` is what would have needed the replay command (goal 0 too:
the retry budget spans the outage); `ingest_outage_max_delivery_delay_s` is how late the oldest event reached
Personalize; `ingest_outage_duplicates_per_record` counts events sent again after a redelivery (Personalize
keeps one per event id).

Poison records: 150,000 records on a healthy service, every call built by botocore's own validator and
serialiser, with a few events mixed in that botocore cannot build a request from. Goals:
ingest_poison_records_lost = 0 and ingest_poison_stall_s (the longest any record waited for its delivery)
within 2x of ingest_clean_stall_s, the same stream without the poison records.
"""

from __future__ import annotations

import time
from dataclasses import replace

POISON_STREAM_RECORDS = 150_000
POISON_RECORDS = 5


def figures():
    yield from outage_figures()
    yield from poison_figures()


def _deployed(**overrides):
    from bench.ingest_outage import Scenario
    from stacks.constructs import realtime_ingest as construct

    return Scenario(
        batch_size=construct.BATCH_SIZE,
        function_timeout_s=construct.FUNCTION_TIMEOUT.to_seconds(),
        max_record_age_s=construct.MAX_RECORD_AGE.to_seconds(),
        retry_attempts=construct.RETRY_ATTEMPTS_UNTIL_RECORD_AGE,
        **overrides,
    )


def outage_figures():
    from bench.ingest_outage import simulate

    scenario = _deployed(records=100_000)
    started = time.perf_counter()
    result = simulate(scenario)
    elapsed = time.perf_counter() - started
    if result.order_violations:
        raise RuntimeError(f"{result.order_violations} sessions reached Personalize out of order")
    yield "ingest_outage_records_lost", result.lost, "records"
    yield "ingest_outage_records_to_failure_queue", result.records_in_failure_queue, "records"
    yield "ingest_outage_max_delivery_delay_s", result.max_delivery_delay_s, "s"
    yield "ingest_outage_duplicates_per_record", result.duplicate_events / result.records, "ratio"
    yield "ingest_outage_harness_s", elapsed, "s"


def poison_figures():
    from bench.ingest_outage import simulate

    clean = _deployed(
        records=POISON_STREAM_RECORDS,
        throttle_rate=0.0,
        server_error_rate=0.0,
        timeout_rate=0.0,
        malformed_rate=0.0,
        outage_s=0.0,
        build_requests=True,
    )
    poisoned = simulate(replace(clean, poison_records=POISON_RECORDS))
    if poisoned.order_violations:
        raise RuntimeError(f"{poisoned.order_violations} sessions reached Personalize out of order")
    yield "ingest_poison_records_lost", poisoned.lost, "records"
    yield "ingest_poison_records_dead_lettered", poisoned.dead_lettered, "records"
    yield "ingest_poison_stall_s", poisoned.max_delivery_delay_s, "s"
    yield "ingest_clean_stall_s", simulate(clean).max_delivery_delay_s, "s"


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value} {unit}")
