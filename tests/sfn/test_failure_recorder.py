"""The failure recorder keeps what it cannot handle: Lambda's asynchronous retries, then its on-failure queue.

EventBridge hands a failed execution's status change to Lambda asynchronously; what Lambda then does (retries,
invocation record to the on-failure destination) is simulated from the synthesised EventInvokeConfig by
testkit/fakes/async_invoke.py, running the real recorder in-process.
"""

from __future__ import annotations

import json

from testkit.fakes.async_invoke import AsyncLambda

SUNDAY = "2026-11-15"


def _failed_run(harness):
    harness.fail_at("train", "Insufficient data for training")
    execution = harness.wait(harness.start("KR", run_date=SUNDAY))  # no in-process delivery: done below
    assert execution.status == "FAILED"
    return execution


def _messages(harness, queue_url):
    found = harness.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


def test_a_recorder_that_keeps_failing_leaves_the_event_in_its_queue_and_a_redrive_records_the_run(harness):
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    recorder = AsyncLambda.of(harness, target)
    assert recorder.config.on_failure_logical_id, "the recorder has no on-failure destination"
    harness.crash_next["record_failure"] = ["Runtime.ExitError"] * 3
    started = harness.clock.now()

    recorder.invoke(event)

    assert recorder.attempts == ["Runtime.ExitError"] * 3  # the first try and two retries
    assert (harness.clock.now() - started).total_seconds() == 180  # 1 min, then 2 min between attempts
    (record,) = _messages(harness, recorder.destination_queue_url)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(f":{target}:$LATEST")
    assert record["requestPayload"] == event  # the whole status change survives
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"
    assert harness.ledger_run("KR", SUNDAY)["status"] == "RUNNING"  # nothing recorded yet
    assert harness.notifications() == []

    # docs/runbook.md: re-drive = invoke the recorder with the record's requestPayload.
    assert recorder.invoke(record["requestPayload"]) is None
    run = harness.ledger_run("KR", SUNDAY)
    assert run["status"] == "FAILED" and run["failure"]["reason"] == "Insufficient data for training"
    (notification,) = harness.notifications()
    assert notification["subject"].endswith("KR 2026-11-15: FAILED")


def test_a_recorder_that_fails_once_is_retried_and_nothing_is_queued(harness):
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    recorder = AsyncLambda.of(harness, target)
    harness.crash_next["record_failure"] = ["Runtime.ExitError"]

    assert recorder.invoke(event) is None

    assert recorder.attempts == ["Runtime.ExitError", "ok"]
    assert _messages(harness, recorder.destination_queue_url) == []
    assert harness.ledger_run("KR", SUNDAY)["status"] == "FAILED"
    assert len(harness.notifications()) == 1
