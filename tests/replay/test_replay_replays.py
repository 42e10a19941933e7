"""`redrive` and `rerun` bring a failed run to success without creating any Personalize job twice;
`--dry-run` changes nothing; ranges skip what already succeeded; refusals say what to do instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from replay_fakes import SUNDAY

from common.recipes import BATCH_CAPABLE, CAMPAIGN_RECIPES
from stacks.config import load_config

# The Personalize job each scripted failure leaves behind (it cannot be reused: a new attempt is created).
RETRIED_KIND = {
    "import": "create_dataset_import_job",
    "train": "create_solution_version",
    "batch": "create_batch_inference_job",
}


def clean_run_creates(country: str) -> dict[str, int]:
    """Successful create calls of one FULL run of `country`, derived from its configuration."""
    settings = load_config("dev").country(country)
    recipes = set(settings.recipes)
    creates = {
        "create_dataset_import_job": 3,  # Interactions, Users, Items
        "create_solution": len(recipes),
        "create_solution_version": len(recipes),
        "create_batch_inference_job": len(recipes & BATCH_CAPABLE),
    }
    if settings.campaign.enabled:
        creates["create_campaign"] = len(recipes & CAMPAIGN_RECIPES)
    # one per configured filter (pipeline.filters; dev.yaml: exclude-purchased only)
    f = settings.filters
    creates["create_filter"] = sum(
        (
            f.exclude_purchased,
            bool(f.exclude_genres),
            f.max_item_age_days is not None,
            f.exclude_purchased and bool(f.exclude_genres),
        )
    )
    return creates


def expected_creates(country: str, failed_step: str) -> dict[str, int]:
    creates = clean_run_creates(country)
    if failed_step in RETRIED_KIND:
        creates[RETRIED_KIND[failed_step]] += 1  # the failed job's next attempt (`<name>-r2`)
    return creates


def nothing_changed(world, arn: str, creates: dict[str, int], record: dict) -> None:
    described = world.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED" and described["redriveCount"] == 0
    assert world.sfn.redrive_calls == []
    assert len(world.executions()) == 1
    assert world.creates() == creates
    assert world.ledger() == record


@pytest.mark.parametrize("step", ["begin", "train", "finish"])
def test_redrive_resumes_the_failed_step_and_succeeds_without_duplicate_creates(world, step):
    world.fail_at(step)
    arn = world.run("KR", SUNDAY)["executionArn"]
    record, creates = world.ledger(), world.creates()
    state = {"begin": "BeginRun"}.get(step, step.title())
    assert record["status"] == "FAILED" and record["failure"]["state"] == state

    dry = world.cli("redrive", f"KR:{SUNDAY}", "--dry-run")

    assert dry.code == 0, dry.err
    assert f"resumes at state {state} with the same input; redrive count becomes 1" in dry.out
    assert "dry run: nothing changed" in dry.out
    nothing_changed(world, arn, creates, record)

    done = world.cli("redrive", arn, "--yes", "--wait", "--output", "json")

    assert done.code == 0, done.err
    result = done.json()
    assert result["execution_arn"] == arn and result["resume_state"] == state
    assert result["final_status"] == "SUCCEEDED" and result["redrive_count"] == 1
    described = world.sfn.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1
    assert [e["executionArn"] for e in world.executions()] == [arn]  # same execution, no new one
    assert world.ledger()["status"] == "SUCCEEDED" and world.ledger()["execution_arn"] == arn
    assert world.harness.personalize.duplicate_create_attempts() == []
    assert {k: v for k, v in world.creates().items() if k.startswith("create_")} == expected_creates("KR", step)
    assert world.sfn.redrive_calls[0]["clientToken"].startswith("personalize-runs-1-")


@pytest.mark.parametrize("step", ["prepare", "batch"])
def test_rerun_starts_a_new_execution_that_reuses_finished_jobs(world, step):
    world.fail_at(step)
    failed = world.run("KR", SUNDAY)["executionArn"]
    record, creates = world.ledger(), world.creates()

    dry = world.cli("rerun", "--country", "kr", "--date", SUNDAY, "--dry-run")

    assert dry.code == 0, dry.err
    assert f"{SUNDAY}  start   last run FAILED at {step}" in dry.out and "dry run: nothing changed" in dry.out
    assert world.creates() == creates and world.ledger() == record and len(world.executions()) == 1

    done = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes", "--wait")

    assert done.code == 0, done.err
    rerun_arn = world.harness.state_machine_arn.replace(":stateMachine:", ":execution:") + f":KR-{SUNDAY}-rerun-1"
    assert {e["executionArn"]: e["status"] for e in world.executions()} == {failed: "FAILED", rerun_arn: "SUCCEEDED"}
    assert world.ledger()["status"] == "SUCCEEDED" and world.ledger()["execution_arn"] == rerun_arn
    assert world.harness.personalize.duplicate_create_attempts() == []
    assert {k: v for k, v in world.creates().items() if k.startswith("create_")} == expected_creates("KR", step)
    # the rerun's input is the deployed schedule's, with the date explicit and no fire time
    started = world.sfn.describe_execution(executionArn=rerun_arn)
    import json

    sent = json.loads(started["input"])
    scheduled = world.harness.schedule_input("KR")
    assert sent == {"settings": scheduled["settings"], "run_date": SUNDAY}
    assert f"KR-{SUNDAY}-rerun-1" in done.out and "SUCCEEDED" in done.out


def test_rerun_of_a_range_skips_succeeded_dates_and_runs_the_rest_oldest_first(world):
    assert world.run("KR", "2026-11-15")["status"] == "SUCCEEDED"
    world.fail_at("batch")
    assert world.run("KR", "2026-11-16")["status"] == "FAILED"
    creates = world.creates()

    dry = world.cli(
        "rerun", "--country", "KR", "--date", "2026-11-14", "--to", "2026-11-17", "--dry-run", "--output", "json"
    )

    assert dry.code == 0, dry.err
    plan = {i["run_date"]: (i["action"], i["reason"]) for i in dry.json()["items"]}
    assert plan == {
        "2026-11-14": ("start", "no run recorded yet"),
        "2026-11-15": ("skip", "already SUCCEEDED (--force runs it again)"),
        "2026-11-16": ("start", "last run FAILED at batch: scripted failure in batch"),
        "2026-11-17": ("start", "no run recorded yet"),
    }
    assert len(world.executions()) == 2 and world.creates() == creates

    done = world.cli("rerun", "--country", "KR", "--date", "2026-11-14", "--to", "2026-11-17", "--yes")

    assert done.code == 0, done.err
    assert "each starts when the previous one has ended" in done.err
    names = [e["name"] for e in sorted(world.executions(), key=lambda e: e["startDate"])]
    assert names[2:] == ["KR-2026-11-14-rerun-1", "KR-2026-11-16-rerun-1", "KR-2026-11-17-rerun-1"]
    for day in ("2026-11-14", "2026-11-15", "2026-11-16", "2026-11-17"):
        assert world.ledger("KR", day)["status"] == "SUCCEEDED", day
    assert world.ledger("KR", "2026-11-15")["execution_arn"].endswith(":KR-2026-11-15-1")  # untouched
    assert world.harness.personalize.duplicate_create_attempts() == []
    # a second range rerun has nothing left to do
    again = world.cli("rerun", "--country", "KR", "--date", "2026-11-14", "--to", "2026-11-17", "--yes")
    assert again.code == 0 and "nothing to start" in again.out


def test_force_reruns_a_succeeded_date_under_the_next_free_name(world):
    assert world.run("KR", SUNDAY)["status"] == "SUCCEEDED"
    assert world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes").out.count("nothing to start") == 1
    turned_away = world.run("KR", SUNDAY)["executionArn"]  # the schedule's input, not forced: ALREADY_DONE
    shown = world.cli("show", turned_away, "--output", "json").json()
    assert shown["status"] == "NOT_ADMITTED" and shown["reason"].startswith(f"KR {SUNDAY} already ended SUCCEEDED")

    first = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--force", "--yes", "--wait")
    second = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--force", "--yes", "--wait")

    assert first.code == second.code == 0
    names = {e["name"]: e["status"] for e in world.executions()}
    assert names == {
        f"KR-{SUNDAY}-1": "SUCCEEDED",
        f"KR-{SUNDAY}-2": "SUCCEEDED",  # not admitted
        f"KR-{SUNDAY}-rerun-1": "SUCCEEDED",
        f"KR-{SUNDAY}-rerun-2": "SUCCEEDED",
    }
    assert world.ledger()["execution_arn"].endswith(f"KR-{SUNDAY}-rerun-2")
    assert world.harness.personalize.duplicate_create_attempts() == []
    # same date, same deterministic job names: the forced reruns created no new import, version or batch job
    assert {k: v for k, v in world.creates().items() if k.startswith("create_")} == clean_run_creates("KR")


def test_rerun_skips_a_date_that_is_running_and_redrive_refuses_it(world):
    arn, hold = world.start_held("KR", SUNDAY)
    try:
        rerun = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes")
        assert rerun.code == 0 and f"running now: {arn}" in rerun.out and "nothing to start" in rerun.out
        redrive = world.cli("redrive", f"KR:{SUNDAY}", "--yes")
        assert redrive.code == 3
        assert redrive.err.startswith(f"personalize-runs: KR {SUNDAY} is still running ({arn}); nothing to redrive")
    finally:
        hold.release()
    assert len(world.executions()) == 1 and world.sfn.redrive_calls == []


def test_a_redrive_in_progress_is_seen_by_list_rerun_and_redrive(world):
    world.fail_at("train")
    arn = world.run("KR", SUNDAY)["executionArn"]
    hold = world.held(world.sfn.redrive_execution, executionArn=arn)  # resumes Train, held in WaitForTraining
    try:
        (row,) = world.cli("list", "--output", "json").json()
        assert (row["status"], row["ledger_status"], row["redrive_count"]) == ("RUNNING", "FAILED", 1)
        assert row["note"] == "redrive running"
        rerun = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes")
        assert rerun.code == 0 and f"being redriven now: {arn}" in rerun.out and "nothing to start" in rerun.out
        again = world.cli("redrive", arn, "--yes")
        assert again.code == 3 and "is still running" in again.err
    finally:
        hold.release()
    assert world.wait(arn)["status"] == "SUCCEEDED" and len(world.executions()) == 1
    assert world.ledger()["status"] == "SUCCEEDED"


def test_redrive_refusals_say_what_to_do_instead(world):
    ok = world.run("KR", SUNDAY)["executionArn"]
    succeeded = world.cli("redrive", ok, "--yes")
    assert succeeded.code == 3
    assert "succeeded; there is nothing to redrive" in succeeded.err
    assert f"personalize-runs rerun --env dev --country KR --date {SUNDAY} --force" in succeeded.err

    world.fail_at("train")
    failed = world.run("JP", SUNDAY)
    stopped = failed["stopDate"]
    world.now = stopped + timedelta(days=15)
    old = world.cli("redrive", f"JP:{SUNDAY}", "--yes")
    assert old.code == 3 and "more than 14 days ago" in old.err
    assert f"personalize-runs rerun --env dev --country JP --date {SUNDAY}" in old.err
    world.now = stopped + timedelta(hours=1)

    # once a rerun took the date over, the old execution is not redriven
    assert world.cli("rerun", "--country", "JP", "--date", SUNDAY, "--yes", "--wait").code == 0
    taken = world.cli("redrive", failed["executionArn"], "--yes")
    assert taken.code == 3 and f"JP {SUNDAY} already ended SUCCEEDED in execution" in taken.err
    assert world.sfn.redrive_calls == [] and len(taken.err.splitlines()) == 1


def test_redrive_refuses_when_step_functions_says_not_redrivable(world, monkeypatch):
    world.fail_at("train")
    arn = world.run("KR", SUNDAY)["executionArn"]
    monkeypatch.setattr(world.sfn, "_history_event_limit", 10)  # as if the history were full

    refused = world.cli("redrive", arn, "--yes")

    assert refused.code == 3
    assert "Step Functions cannot redrive" in refused.err and "Execution history event limit exceeded" in refused.err
    assert "personalize-runs rerun --env dev --country KR" in refused.err
    assert world.sfn.redrive_calls == []


def test_changes_need_a_confirmation(world):
    world.fail_at("train")
    arn = world.run("KR", SUNDAY)["executionArn"]

    no_tty = world.cli("redrive", arn, tty=False)
    declined = world.cli("redrive", arn, answer="n\n")
    rerun_no_tty = world.cli("rerun", "--country", "KR", "--date", SUNDAY, tty=False)

    assert no_tty.code == 2 and "stdin is not a terminal; pass --yes" in no_tty.err
    assert rerun_no_tty.code == 2 and "pass --yes" in rerun_no_tty.err
    assert declined.code == 3 and "cancelled: nothing was changed" in declined.err
    assert world.sfn.redrive_calls == [] and len(world.executions()) == 1

    accepted = world.cli("redrive", arn, "--wait", answer="y\n")

    assert accepted.code == 0, accepted.err
    assert f"Redrive KR {SUNDAY} from state Train? [y/N]" in accepted.err
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"


def test_wait_reports_a_run_that_fails_again(world):
    world.fail_at("train")
    arn = world.run("KR", SUNDAY)["executionArn"]
    world.harness.personalize.fail_job("solution-version", "simitems-r2", "still broken")  # the next attempt too

    again = world.cli("redrive", arn, "--yes", "--wait")

    assert again.code == 1
    assert "FAILED PersonalizeJobFailed: still broken" in again.out
    record = world.ledger()
    assert record["status"] == "FAILED" and record["failure"]["reason"] == "still broken"
    assert world.cli("list", "--output", "json").json()[0]["redrive_count"] == 1
