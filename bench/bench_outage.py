"""Issue 13: the ingest through a 15-minute outage of one country's tracker, with throttling, 5xx, timeouts and
malformed records, 100,000 records on a simulated clock (bench/ingest_outage.py), with the deployed event
source mapping settings (stacks/constructs/realtime_ingest.py).

Goal: ingest_outage_records_lost = 0 (records neither delivered, dead-lettered nor replayed from the failure
queue). `ingest_outage_records_to_failure_queue` is what would have needed the replay command (goal 0 too:
the retry budget spans the outage); `ingest_outage_max_delivery_delay_s` is how late the oldest event reached
Personalize; `ingest_outage_duplicates_per_record` counts events sent again after a redelivery (Personalize
keeps one per event id).
"""

from __future__ import annotations

import time


def figures():
    from bench.ingest_outage import Scenario, simulate
    from stacks.constructs import realtime_ingest as construct

    scenario = Scenario(
        records=100_000,
        batch_size=construct.BATCH_SIZE,
        function_timeout_s=construct.FUNCTION_TIMEOUT.to_seconds(),
        max_record_age_s=construct.MAX_RECORD_AGE.to_seconds(),
        retry_attempts=construct.RETRY_ATTEMPTS_UNTIL_RECORD_AGE,
    )
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


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value} {unit}")
