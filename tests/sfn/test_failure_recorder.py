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


# ------------------------------------------------------------------------- one record per status change


def _runs_failed_counted(capsys) -> int:
    """RunsFailed datapoints the recorder emitted (powertools writes each flush as one EMF line on stdout)."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return sum(1 for line in lines if "RunsFailed" in line)


def test_the_same_status_change_delivered_twice_is_recorded_notified_and_counted_once(harness, capsys):
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    recorder = AsyncLambda.of(harness, target)
    capsys.readouterr()

    recorder.invoke(event)
    recorder.invoke(json.loads(json.dumps(event)))  # EventBridge delivered the same event again

    assert recorder.attempts == ["ok", "ok"]
    assert harness.ledger_run("KR", SUNDAY)["status"] == "FAILED"
    assert len(harness.notifications()) == 1
    assert len(harness.events()) == 1
    assert _runs_failed_counted(capsys) == 1


def _redrivable(harness, monkeypatch):
    """The pipeline's Step Functions client with RedriveExecution (moto has none), as AWS documents it."""
    from common import clients
    from testkit.fakes.redrive import RedrivableStepFunctions

    sfn = RedrivableStepFunctions(harness.sfn, now=harness.clock.now)
    monkeypatch.setattr(clients, "stepfunctions", lambda: sfn)
    return sfn


def test_a_late_failure_event_of_an_execution_redriven_to_success_changes_nothing(harness, monkeypatch, capsys):
    sfn = _redrivable(harness, monkeypatch)
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)  # the FAILED event of the first attempt
    recorder = AsyncLambda.of(harness, target)
    harness.crash_next["record_failure"] = ["Runtime.ExitError"] * 3
    (queued,) = [recorder.invoke(event)]  # not recorded: it waits in the on-failure queue
    assert queued is not None

    sfn.redrive_execution(executionArn=execution.arn)
    assert sfn.describe_execution(executionArn=execution.arn)["status"] == "SUCCEEDED"
    done = harness.ledger_run("KR", SUNDAY)
    assert done["status"] == "SUCCEEDED"
    harness.notifications(), harness.events()
    capsys.readouterr()

    # an operator re-drives the queued event (docs/runbook.md) after the execution was redriven to success
    assert recorder.invoke(queued["requestPayload"]) is None

    after = harness.ledger_run("KR", SUNDAY)
    assert after["status"] == "SUCCEEDED" and "late_failure" not in after
    assert after["finished_at"] == done["finished_at"]
    assert harness.notifications() == []
    assert harness.events() == []
    assert _runs_failed_counted(capsys) == 0


def test_a_failure_event_of_an_execution_being_redriven_changes_nothing(harness, monkeypatch):
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    described = harness.sfn.describe_execution(executionArn=execution.arn)
    running_again = {**described, "status": "RUNNING", "redriveCount": 1, "redriveDate": harness.clock.now()}
    running_again.pop("stopDate", None)
    _describing(harness, monkeypatch, running_again)

    assert AsyncLambda.of(harness, target).invoke(event) is None

    assert harness.ledger_run("KR", SUNDAY)["status"] == "RUNNING"
    assert harness.notifications() == []


def test_a_failure_event_that_describe_execution_does_not_show_yet_is_retried_not_dropped(harness, monkeypatch):
    # DescribeExecution is eventually consistent: RUNNING for the attempt this event says ended is a stale answer.
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    described = harness.sfn.describe_execution(executionArn=execution.arn)
    stale = {**described, "status": "RUNNING", "redriveCount": 0}
    stale.pop("stopDate", None)
    answers = _describing(harness, monkeypatch, stale, then=described)

    recorder = AsyncLambda.of(harness, target)
    assert recorder.invoke(event) is None

    assert recorder.attempts[0] != "ok" and recorder.attempts[-1] == "ok"
    assert answers == []  # the stale answer was given
    assert harness.ledger_run("KR", SUNDAY)["status"] == "FAILED"
    assert len(harness.notifications()) == 1


def _describing(harness, monkeypatch, answer, then=None):
    """DescribeExecution answers `answer` (once, if `then` follows; else always) for the recorder."""
    from common import clients

    real = clients.stepfunctions()
    answers = [answer]

    class Describing:
        def __getattr__(self, name):
            return getattr(real, name)

        def describe_execution(self, **kwargs):
            if then is None:
                return answer
            return answers.pop() if answers else then

    monkeypatch.setattr(clients, "stepfunctions", lambda: Describing())
    return answers


# ------------------------------------------------------------------------ an event without the input


def test_a_failure_event_without_the_execution_input_is_recorded_from_describe_execution(harness):
    # The event leaves the input out when input and output together exceed EventBridge's size, and an encrypted
    # state machine's event need not carry it: the recorder reads it from the execution.
    execution = _failed_run(harness)
    target, event = harness.status_change(execution)
    del event["detail"]["input"]
    event["detail"]["inputDetails"] = {"included": False}

    assert AsyncLambda.of(harness, target).invoke(event) is None

    run = harness.ledger_run("KR", SUNDAY)
    assert run["status"] == "FAILED" and run["failure"]["reason"] == "Insufficient data for training"
    (notification,) = harness.notifications()
    assert notification["subject"].endswith("KR 2026-11-15: FAILED")
