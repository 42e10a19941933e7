"""A date whose job failed on every attempt is recovered, once the cause is fixed, by `rerun --fresh-attempts`;
redrive and plain reruns say so instead of failing again; a fresh series is started once per execution."""

from __future__ import annotations

from replay_fakes import SUNDAY
from test_replay_replays import clean_run_creates

from pipeline.jobs import MAX_ATTEMPTS
from pipeline.steps import begin

FAILING_VERSION = "simitems"  # the training job the harness scripts failures on (PipelineHarness.fail_at)


def version_names(world) -> list[str]:
    return [
        call.kwargs["name"]
        for call in world.harness.personalize.calls
        if call.operation == "create_solution_version"
        and call.outcome == "ok"
        and FAILING_VERSION in call.kwargs["name"]
    ]


def test_a_date_whose_attempts_are_used_up_is_recovered_with_fresh_attempts(world):
    reason = "scripted: the training role cannot read the bucket"
    world.harness.personalize.fail_job("solution-version", FAILING_VERSION, reason, times=MAX_ATTEMPTS)
    arn = world.run("KR", SUNDAY)["executionArn"]  # attempt 1 fails
    for _ in range(MAX_ATTEMPTS - 1):  # each redrive tries the next attempt, which fails too
        assert world.cli("redrive", arn, "--yes", "--wait").code == 1
    assert len(version_names(world)) == MAX_ATTEMPTS
    # The cause is fixed now (the fake fails no more trainings), but the date's attempts are used up.

    redrive = world.cli("redrive", arn, "--yes", "--wait")
    assert redrive.code == 3, redrive.out + redrive.err
    assert len(redrive.err.splitlines()) == 1 and f"all {MAX_ATTEMPTS} attempts" in redrive.err
    assert f"personalize-runs rerun --env dev --country KR --date {SUNDAY} --fresh-attempts" in redrive.err
    plain = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--force", "--yes", "--output", "json")
    assert plain.code == 0, plain.err
    ((item),) = plain.json()["items"]
    assert item["action"] == "skip" and "--fresh-attempts" in item["reason"]
    assert len(world.executions()) == 1

    dry = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--fresh-attempts", "--dry-run")
    assert dry.code == 0 and "fresh attempt series" in dry.out and len(world.executions()) == 1

    fresh = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--fresh-attempts", "--yes", "--wait")

    assert fresh.code == 0, fresh.out + fresh.err
    record = world.ledger()
    assert record["status"] == "SUCCEEDED" and record["attempt_series"] == 2
    assert record["execution_arn"].endswith(f":KR-{SUNDAY}-rerun-1")
    names = version_names(world)
    assert len(names) == MAX_ATTEMPTS + 1 and len(set(names)) == len(names)  # one new, deterministic name
    assert names[-1].endswith(f"-r{MAX_ATTEMPTS + 1}")
    assert world.harness.personalize.duplicate_create_attempts() == []
    creates = clean_run_creates("KR")
    creates["create_solution_version"] += MAX_ATTEMPTS  # the failed attempts; finished jobs were reused
    assert {k: v for k, v in world.creates().items() if k.startswith("create_")} == creates

    shown = world.cli("show", f"KR:{SUNDAY}")
    assert "attempts   series 2 (started with --fresh-attempts)" in shown.out
    # A later replay of the date stays in its series: no job is created again.
    again = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--force", "--yes", "--wait")
    assert again.code == 0, again.err
    assert world.ledger()["attempt_series"] == 2
    assert {k: v for k, v in world.creates().items() if k.startswith("create_")} == creates


def test_begin_starts_a_fresh_attempt_series_once_per_execution(world):
    world.ledger()  # the ledger's environment for the in-process call below
    request = {**world.harness.schedule_input("KR"), "run_date": SUNDAY, "fresh_attempts": True}
    request.pop("scheduled_time")  # the schedule's placeholder; the date is explicit
    execution = world.harness.state_machine_arn.replace(":stateMachine:", ":execution:") + ":by-hand"

    first = begin.begin(request, execution)
    retried = begin.begin(request, execution)  # a Lambda retry of the same BeginRun

    assert first.run.attempt_series == retried.run.attempt_series == 2
    assert world.ledger()["attempt_series"] == 2
    later = begin.begin({**request, "fresh_attempts": False}, execution + "-2")
    assert later.run.attempt_series == 2  # a plain replay keeps the date's series
