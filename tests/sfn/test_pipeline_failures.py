"""Failure paths of the executed pipeline: what is surfaced, what is retried, and replays that reuse work."""

from __future__ import annotations

import pytest

SUNDAY = "2026-11-15"


def _successful_creates(harness) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for call in harness.personalize.calls:
        if call.operation.startswith(("create_", "update_campaign")) and call.outcome == "ok":
            name = call.kwargs.get("name") or call.kwargs.get("jobName") or call.kwargs.get("campaignArn")
            out.setdefault(call.operation, []).append(name)
    return out


def test_create_failed_surfaces_personalize_failure_reason_everywhere(harness):
    reason = "Insufficient data: fewer than 25 users with at least 2 interactions"
    harness.personalize.fail_job("solution-version", "userpers", reason)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED"
    assert execution.error == "PersonalizeJobFailed"
    assert execution.cause_detail["failure_reason"] == reason and execution.cause_detail["step"] == "train"
    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "FAILED"
    assert record["failure"]["step"] == "train" and record["failure"]["state"] == "Train"
    assert record["failure"]["reason"] == reason and record["failure"]["error"] == "PersonalizeJobFailed"
    (notification,) = harness.notifications()
    assert notification["subject"].endswith("KR 2026-11-15: FAILED")
    assert "Failed step: train (PersonalizeJobFailed)" in notification["message"]
    assert reason in notification["message"]
    (event,) = harness.events()
    assert event["detail"]["failure"]["reason"] == reason
    # nothing after the failed step ran
    assert not [c for c in harness.personalize.calls if c.operation in ("create_campaign", "update_campaign")]


def test_import_waits_for_a_free_slot_when_the_region_quota_is_full(harness):
    # Other countries hold all 5 import slots for 40 minutes: LimitExceeded means wait, never fail.
    harness.personalize.occupy_import_slots(5, until=40 * 60)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    refused = [
        c
        for c in harness.personalize.calls
        if c.operation == "create_dataset_import_job" and c.outcome == "LimitExceededException"
    ]
    assert refused
    created = [
        c
        for c in harness.personalize.calls
        if c.operation == "create_dataset_import_job" and c.outcome == "ok"
    ]
    assert len(created) == 3
    waits = [
        e
        for e in execution.history
        if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForImport"
    ]
    assert len(waits) >= 3


def test_throttling_is_retried_with_backoff_and_the_run_succeeds(harness):
    harness.personalize.throttle("create_solution_version", times=2)
    harness.personalize.throttle("describe_dataset_import_job", times=3)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    retried = [
        e
        for e in execution.history
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "PersonalizeThrottled"
    ]
    assert len(retried) == 5
    assert harness.personalize.duplicate_create_attempts() == []
    assert len(_successful_creates(harness)["create_solution_version"]) == 4


def test_gate_rejection_keeps_the_campaign_and_notifies_both_sets_of_metrics(harness):
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    harness.notifications()
    promoted_before = harness.personalize.serving("personalize-dev-kr-userpers-campaign")
    worse = {
        "normalized_discounted_cumulative_gain_at_10": 0.05,
        "precision_at_10": 0.04,
        "mean_reciprocal_rank_at_25": 0.12,
        "coverage": 0.30,
    }
    harness.personalize.set_metrics("20261122-userpers", worse)

    execution = harness.run("KR", run_date="2026-11-22")  # the next Sunday: FULL again

    assert execution.status == "SUCCEEDED" and execution.states_entered()[-1] == "Rejected"
    assert harness.personalize.serving("personalize-dev-kr-userpers-campaign") == promoted_before
    assert not [
        c
        for c in harness.personalize.calls
        if c.operation == "update_campaign"
        and c.kwargs["solutionVersionArn"] == execution.output["trained"]["user-personalization"]
    ]
    record = harness.ledger_run("KR", "2026-11-22")
    assert record["status"] == "REJECTED"
    (decision,) = [d for d in record["gate"] if d["recipe"] == "user-personalization"]
    assert decision["approved"] is False
    assert decision["reasons"] == [
        "normalized_discounted_cumulative_gain_at_10 fell 61.5% (0.1300 -> 0.0500), tolerance 5%"
    ]
    (notification,) = harness.notifications()
    assert "REJECTED" in notification["subject"]
    assert '"normalized_discounted_cumulative_gain_at_10": 0.05' in notification["message"]  # new
    assert '"normalized_discounted_cumulative_gain_at_10": 0.13' in notification["message"]  # promoted
    # batch jobs used the version still promoted, not the rejected one
    batch = [
        c.kwargs
        for c in harness.personalize.calls
        if c.operation == "create_batch_inference_job" and "20261122" in c.kwargs["jobName"]
    ]
    assert batch and all(
        b["solutionVersionArn"] != execution.output["trained"].get("user-personalization")
        for b in batch
        if "userpers" in b["jobName"]
    )


def test_a_step_past_its_timeout_fails_with_the_step_named(harness):
    harness.personalize.set_duration("solution-version", 60 * 3600)  # the training timeout is 48 h

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED" and execution.error == "StepTimedOut"
    assert execution.cause_detail["step"] == "train"
    assert set(execution.cause_detail["unfinished"]) == {
        "user-personalization",
        "personalized-ranking",
        "similar-items",
        "trending-now",
    }
    record = harness.ledger_run("KR", SUNDAY)
    assert record["failure"]["error"] == "StepTimedOut"
    assert record["failure"]["reason"].startswith("train did not finish within 48 h; stopped after the 48 h timeout")
    # every unfinished training was stopped, not left running and billing
    assert harness.personalize.count("StopSolutionVersionCreation", "ok") == 4


def test_a_training_that_never_finishes_is_stopped_at_the_timeout_and_a_replay_trains_again(harness):
    harness.personalize.set_duration("solution-version", 1000 * 3600, name_contains="userpers")

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED" and execution.error == "StepTimedOut"
    assert harness.failed_state(execution)[0] == "Train"
    (stop,) = [c for c in harness.personalize.calls if c.operation == "stop_solution_version_creation"]
    assert stop.outcome == "ok" and "userpers" in stop.kwargs["solutionVersionArn"]
    version = harness.personalize.describe_solution_version(solutionVersionArn=stop.kwargs["solutionVersionArn"])
    assert version["solutionVersion"]["status"] in ("CREATE STOPPING", "CREATE STOPPED")
    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "FAILED" and record["failure"]["step"] == "train"
    assert record["failure"]["reason"] == (
        "train did not finish within 48 h; stopped after the 48 h timeout: user-personalization"
    )
    assert record["failure"]["detail"]["stopped"] == ["user-personalization"]
    (notification,) = harness.notifications()
    assert "stopped after the 48 h timeout: user-personalization" in notification["message"]

    # A rerun trains that recipe again under the next attempt's name instead of failing on the stopped version.
    harness.personalize.set_duration("solution-version", 2 * 3600, name_contains="-r2")
    replayed = harness.run("KR", run_date=SUNDAY)
    assert replayed.status == "SUCCEEDED", (replayed.error, replayed.cause)
    assert [n for n in harness.personalize.created_names("solution-version") if "userpers" in n][-1].endswith("-r2")
    assert harness.personalize.count("StopSolutionVersionCreation") == 1


def test_a_lambda_service_error_is_retried_and_a_crash_fails_then_redrive_resumes(harness):
    harness.crash_next["gate"] = ["Lambda.ServiceException"]  # transient: retried by the state machine
    harness.crash_next["promote"] = ["Runtime.ExitError"]  # a crashed function: fails the execution

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "FAILED" and execution.error == "Runtime.ExitError"
    assert ("gate", "Lambda.ServiceException") in harness.invocations and (
        "gate",
        "ok",
    ) in harness.invocations
    assert harness.ledger_run("KR", SUNDAY)["failure"]["state"] == "Promote"

    resumed = harness.redrive(execution)

    assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)
    assert resumed.states_entered()[0] == "Promote"
    assert harness.ledger_run("KR", SUNDAY)["status"] == "SUCCEEDED"
    assert harness.personalize.duplicate_create_attempts() == []


STEPS = ["begin", "prepare", "import", "train", "gate", "promote", "batch", "report", "publish", "finish"]


@pytest.mark.parametrize("replay", ["redrive", "rerun"])
@pytest.mark.parametrize("step", STEPS)
def test_failure_at_each_step_then_a_replay_succeeds_without_duplicate_creates(harness, step, replay):
    harness.fail_at(step)
    failed = harness.run("KR", run_date=SUNDAY)
    assert failed.status == "FAILED", step

    if replay == "redrive":
        replayed = harness.redrive(failed)
    else:
        replayed = harness.run("KR", run_date=SUNDAY)

    assert replayed.status == "SUCCEEDED", (step, replayed.error, replayed.cause)
    assert harness.ledger_run("KR", SUNDAY)["status"] == "SUCCEEDED"
    assert harness.personalize.duplicate_create_attempts() == []
    creates_after = _successful_creates(harness)
    retried_kind = {
        "import": "create_dataset_import_job",
        "train": "create_solution_version",
        "batch": "create_batch_inference_job",
    }.get(step)
    for operation, names in creates_after.items():
        if operation == "update_campaign":
            continue
        assert len(names) == len(set(names)), (operation, names)  # no name created twice
        attempts = [n for n in names if n.endswith("-r2")]
        # only the failed job gets a second attempt (its failed name cannot be reused)
        assert len(attempts) == (1 if operation == retried_kind else 0), (operation, names)
    # the same resources as a clean run (+1 attempt of the failed job)
    assert len(creates_after["create_solution"]) == 4
    assert len(creates_after["create_solution_version"]) == 4 + (step == "train")
    assert len(creates_after["create_dataset_import_job"]) == 3 + (step == "import")
    assert len(creates_after["create_campaign"]) == 2


def test_a_hand_started_execution_with_bad_input_fails_clearly_and_is_still_notified(harness):
    import json

    arn = harness.sfn.start_execution(
        stateMachineArn=harness.state_machine_arn, name="by-hand", input=json.dumps({"country": "KR"})
    )["executionArn"]
    execution = harness.wait(arn)
    harness.deliver_status_change(execution)

    assert execution.status == "FAILED" and execution.error == "InvalidRunInput"
    assert "execution input is not a run request" in execution.cause_detail["failure_reason"]
    assert harness.personalize.calls == [] and harness.athena.calls == []
    (notification,) = harness.notifications()
    assert "FAILED" in notification["subject"] and "InvalidRunInput" in notification["message"]
