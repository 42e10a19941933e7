"""The redrive fake itself (testkit/fakes/redrive.py) against AWS's documented RedriveExecution behaviour."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from testkit.fakes.redrive import RedrivableStepFunctions

# A task that fails until its table exists, and writes the execution's own ARN (a context-object path) when
# it succeeds: redrive must resume at this task and show it the original ARN.
FLAKY = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"prepared": True}, "ResultPath": "$.prepare", "Next": "Write"},
        "Write": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": "flags",
                "Item": {"id": {"S.$": "$$.Execution.Id"}, "input": {"S.$": "$.value"}},
            },
            "ResultPath": None,
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


@pytest.fixture
def flaky(world):
    """(fake, start) where start() runs FLAKY until it fails (the table is missing) and returns its ARN."""
    harness = world.harness
    machine = harness.sfn.create_state_machine(name="flaky", definition=json.dumps(FLAKY), roleArn=harness.role_arn)[
        "stateMachineArn"
    ]
    delivered: list[tuple[str, str]] = []
    fake = RedrivableStepFunctions(
        harness.sfn, now=lambda: world.now, on_status_change=lambda arn, status: delivered.append((arn, status))
    )
    fake.delivered = delivered

    def start(name: str = "one") -> str:
        arn = harness.sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps({"value": "v1"}))[
            "executionArn"
        ]
        assert _wait(fake, arn)["status"] == "FAILED"
        return arn

    fake.machine = machine
    return fake, start


def _wait(fake, arn, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        described = fake.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, "execution did not end"
        time.sleep(0.02)


def _create_flags(world):
    world.harness.ddb.create_table(
        TableName="flags",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_redrive_resumes_at_the_failed_state_with_the_same_arn_input_and_context(world, flaky):
    fake, start = flaky
    arn = start()
    failed = fake.describe_execution(executionArn=arn)
    assert failed["redriveCount"] == 0 and failed["redriveStatus"] == "REDRIVABLE"
    _create_flags(world)

    response = fake.redrive_execution(executionArn=arn)

    assert response["redriveDate"] == world.now
    running = fake.describe_execution(executionArn=arn)
    assert running["executionArn"] == arn and running["name"] == "one"
    assert running["startDate"] == failed["startDate"] and running["input"] == failed["input"]
    done = _wait(fake, arn)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1 and done["redriveDate"] == world.now
    assert done["redriveStatus"] == "NOT_REDRIVABLE"
    assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    # the resumed task saw the original execution's ARN and the input the failed state had
    item = world.harness.ddb.scan(TableName="flags")["Items"]
    assert item == [{"id": {"S": arn}, "input": {"S": "v1"}}]
    # one history: first attempt, ExecutionRedriven, then the failed state again (the Pass state not rerun)
    events = fake.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for e in events]
    assert kinds.count("ExecutionStarted") == 1 and kinds.count("ExecutionRedriven") == 1
    redriven = kinds.index("ExecutionRedriven")
    assert events[redriven]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    entered_after = [e["stateEnteredEventDetails"]["name"] for e in events[redriven:] if e["type"].endswith("Entered")]
    assert entered_after == ["Write", "Done"]
    assert kinds[redriven - 1] == "ExecutionFailed" and kinds[-1] == "ExecutionSucceeded"
    # reverse order and paging work on the merged history
    newest = fake.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=2)
    assert [e["id"] for e in newest["events"]] == [len(events), len(events) - 1] and newest["nextToken"]
    # ListExecutions shows the same execution (not the hidden copy), SUCCEEDED now, redriven once
    (listed,) = fake.list_executions(stateMachineArn=fake.machine)["executions"]
    assert listed["executionArn"] == arn and listed["status"] == "SUCCEEDED" and listed["redriveCount"] == 1
    assert fake.list_executions(stateMachineArn=fake.machine, redriveFilter="NOT_REDRIVEN")["executions"] == []
    machines = [m["name"] for m in fake.list_state_machines()["stateMachines"]]
    assert "flaky" in machines and not [m for m in machines if m.startswith("redrive-")]


def test_a_redrive_that_fails_again_can_be_redriven_again_and_each_failure_is_reported_once(world, flaky):
    fake, start = flaky
    arn = start()
    assert fake.delivered == [(arn, "FAILED")]

    fake.redrive_execution(executionArn=arn, clientToken="first")
    again = _wait(fake, arn)  # the table is still missing

    assert again["status"] == "FAILED" and again["redriveCount"] == 1 and again["redriveStatus"] == "REDRIVABLE"
    assert fake.delivered == [(arn, "FAILED"), (arn, "FAILED")]
    fake.describe_execution(executionArn=arn)
    assert len(fake.delivered) == 2  # observed again, not reported again
    _create_flags(world)
    fake.redrive_execution(executionArn=arn, clientToken="second")
    final = _wait(fake, arn)
    assert final["status"] == "SUCCEEDED" and final["redriveCount"] == 2
    events = fake.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert [e["executionRedrivenEventDetails"]["redriveCount"] for e in events if e["type"] == "ExecutionRedriven"] == [
        1,
        2,
    ]


def test_a_client_token_makes_the_redrive_idempotent_for_15_minutes(world, flaky):
    fake, start = flaky
    arn = start()

    first = fake.redrive_execution(executionArn=arn, clientToken="same")
    _wait(fake, arn)
    repeat = fake.redrive_execution(executionArn=arn, clientToken="same")  # fails again meanwhile: still no-op

    assert repeat == first
    assert fake.describe_execution(executionArn=arn)["redriveCount"] == 1
    world.now += timedelta(minutes=16)
    fake.redrive_execution(executionArn=arn, clientToken="same")  # the token has expired: a new redrive
    _wait(fake, arn)
    assert fake.describe_execution(executionArn=arn)["redriveCount"] == 2


def _not_redrivable(fake, arn) -> str:
    with pytest.raises(ClientError) as caught:
        fake.redrive_execution(executionArn=arn)
    assert caught.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert isinstance(caught.value, fake.exceptions.ExecutionNotRedrivable)
    assert fake.describe_execution(executionArn=arn)["redriveStatus"] == "NOT_REDRIVABLE"
    return caught.value.response["Error"]["Message"]


def test_refuses_succeeded_executions(world, flaky):
    fake, start = flaky
    arn = start()
    _create_flags(world)
    fake.redrive_execution(executionArn=arn)
    _wait(fake, arn)

    assert _not_redrivable(fake, arn) == "Execution is SUCCEEDED and cannot be redriven"
    assert fake.describe_execution(executionArn=arn)["redriveCount"] == 1


def test_refuses_after_the_14_day_redrivable_period(world, flaky):
    fake, start = flaky
    arn = start()
    stopped = fake.describe_execution(executionArn=arn)["stopDate"]

    world.now = stopped + timedelta(days=13, hours=23)
    assert fake.describe_execution(executionArn=arn)["redriveStatus"] == "REDRIVABLE"
    world.now = stopped + timedelta(days=14, minutes=1)
    assert _not_redrivable(fake, arn) == "Execution redrivable period exceeded"
    world.now = stopped + timedelta(days=400)
    assert _not_redrivable(fake, arn) == "Execution has exceeded the max execution time"


def test_refuses_when_the_history_reached_its_event_limit(world, flaky):
    fake, start = flaky
    arn = start()
    events = len(fake.get_execution_history(executionArn=arn, maxResults=1000)["events"])
    limited = RedrivableStepFunctions(world.harness.sfn, now=lambda: world.now, history_event_limit=events)

    assert _not_redrivable(limited, arn) == "Execution history event limit exceeded"


def test_refuses_running_executions_and_redrives_aborted_ones(world):
    arn, hold = world.start_held("KR")
    try:
        assert world.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        assert _not_redrivable(world.sfn, arn) == "Execution is RUNNING and cannot be redriven"
        world.sfn.stop_execution(executionArn=arn)
    finally:
        hold.release()
    aborted = world.wait(arn)
    assert aborted["status"] == "ABORTED" and aborted["redriveStatus"] == "REDRIVABLE"
    assert world.delivered == [(arn, "ABORTED")]

    world.sfn.redrive_execution(executionArn=arn)
    resumed = world.wait(arn)

    assert resumed["status"] == "SUCCEEDED", resumed.get("cause")
    assert resumed["executionArn"] == arn and resumed["redriveCount"] == 1
    # the lock holder in the ledger is the original execution: the resumed BeginRun saw its ARN
    assert world.ledger("KR")["execution_arn"] == arn and world.ledger("KR")["status"] == "SUCCEEDED"


def test_unknown_executions_are_reported_as_aws_does(world):
    missing = world.harness.state_machine_arn.replace(":stateMachine:", ":execution:") + ":nope"
    with pytest.raises(ClientError) as caught:
        world.sfn.redrive_execution(executionArn=missing)
    assert caught.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
