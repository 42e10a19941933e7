"""The per-recipe training policy executed end to end (docs/personalize-behaviour.md item 3): FULL on the full
day; on other days no UPDATE for a recipe served by a campaign (Personalize's automatic updates add new items),
UPDATE for a batch-only country, nothing for recipes without UPDATE. Choice, reason and billed hours land in the
ledger and the notification."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipeline import ledger
from pipeline.model import Mode, RunSettings
from pipeline.steps.begin import choose_mode

SUNDAY, MONDAY = "2026-11-15", "2026-11-16"  # every dev country trains FULL on Sundays (config/dev.yaml)
SUNDAY_BEFORE = "2026-11-08"


def _versions(calls) -> list[dict]:
    return [c.kwargs for c in calls if c.operation == "create_solution_version" and c.outcome == "ok"]


def _monday(harness, country: str):
    assert harness.run(country, run_date=SUNDAY).status == "SUCCEEDED"
    harness.notifications()
    before = len(harness.personalize.calls)
    harness.clock.advance_to(datetime(2026, 11, 16, 8, 0, tzinfo=UTC))
    execution = harness.run(country, run_date=MONDAY)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["run"]["mode"] == "UPDATE"
    return execution, harness.personalize.calls[before:]


def test_full_day_trains_everything_full_and_records_the_billed_hours(harness):
    harness.personalize.set_duration("solution-version", 5 * 3600)

    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"

    training = harness.ledger_run("KR", SUNDAY)["training"]
    assert set(training) == {"user-personalization", "personalized-ranking", "similar-items", "trending-now"}
    assert {t["choice"] for t in training.values()} == {"FULL"}
    assert {t["training_hours"] for t in training.values()} == {5.0}  # DescribeSolutionVersion.trainingHours
    (notification,) = harness.notifications()
    assert "Training user-personalization: FULL (full-training day" in notification["message"]
    assert "5 training hours billed" in notification["message"]


def test_country_with_a_campaign_relies_on_automatic_updates_instead_of_a_daily_update(harness):
    execution, calls = _monday(harness, "KR")

    assert _versions(calls) == []  # neither UPDATE (it would stop the automatic updates) nor FULL
    assert not [c for c in calls if c.operation == "update_campaign"]
    record = harness.ledger_run("KR", MONDAY)
    training = record["training"]
    assert training["user-personalization"]["choice"] == "NONE"
    assert "automatic updates" in training["user-personalization"]["reason"]
    for recipe in ("personalized-ranking", "similar-items", "trending-now"):
        assert training[recipe]["choice"] == "NONE" and "no UPDATE mode" in training[recipe]["reason"]
    assert record["steps"]["train"]["status"] == "SKIPPED"
    # the batch jobs use the versions promoted on Sunday
    sunday = harness.ledger_run("KR", SUNDAY)["promoted"]
    batch = {
        c.kwargs["jobName"].rsplit("-", 1)[1]: c.kwargs for c in calls if c.operation == "create_batch_inference_job"
    }
    assert batch["userpers"]["solutionVersionArn"] == sunday["user-personalization"]
    (notification,) = harness.notifications()
    assert "Training user-personalization: NONE (served by a campaign" in notification["message"]


def test_batch_only_country_updates_before_its_batch_job(harness):
    harness.personalize.set_duration("solution-version", 1.5 * 3600)

    execution, calls = _monday(harness, "US")  # campaign.enabled: false

    versions = _versions(calls)
    assert [v["trainingMode"] for v in versions] == ["UPDATE"]
    assert versions[0]["solutionArn"].endswith("-userpers")
    training = harness.ledger_run("US", MONDAY)["training"]
    assert training["user-personalization"] == {
        "choice": "UPDATE",
        "reason": "no campaign: UPDATE brings new items in before the batch job",
        "training_hours": 1.5,
    }
    assert training["similar-items"]["choice"] == "NONE" and training["similar-items"]["training_hours"] is None
    batch = {
        c.kwargs["jobName"].rsplit("-", 1)[1]: c.kwargs for c in calls if c.operation == "create_batch_inference_job"
    }
    assert batch["userpers"]["solutionVersionArn"] == execution.output["trained"]["user-personalization"]
    (notification,) = harness.notifications()
    assert "Training user-personalization: UPDATE (no campaign" in notification["message"]
    assert "1.5 training hours billed" in notification["message"]


def test_a_full_day_that_never_ran_is_made_up_the_next_day(harness):
    # EventBridge Scheduler skips a run whose local time does not exist (a spring-forward Sunday): the last FULL
    # is then a week old on Monday, and Monday trains FULL instead of waiting another week.
    assert harness.run("US", run_date=SUNDAY_BEFORE).status == "SUCCEEDED"
    before = len(harness.personalize.calls)
    harness.clock.advance_to(datetime(2026, 11, 16, 8, 0, tzinfo=UTC))

    execution = harness.run("US", run_date=MONDAY)  # no run on SUNDAY

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["run"]["mode"] == "FULL"
    versions = _versions(harness.personalize.calls[before:])
    assert versions and {v["trainingMode"] for v in versions} == {"FULL"}
    assert harness.ledger_run("US", MONDAY)["mode"] == "FULL"


def _ledger_with_a_full_day(harness, status: str | None) -> RunSettings:
    """US's ledger: its datasets imported, SUNDAY_BEFORE trained FULL, and SUNDAY's run in `status` (None: none)."""
    settings = RunSettings.model_validate(harness.schedule_input("US")["settings"])
    harness.ledger_run("US", SUNDAY_BEFORE)  # points the ledger module at the harness's table
    for dataset, digest in settings.schema_digests.items():
        ledger.set_imported("US", dataset, date.fromisoformat(SUNDAY_BEFORE), Mode.FULL.value, "arn:job", digest)
    runs = {SUNDAY_BEFORE: "SUCCEEDED", SUNDAY: status}
    for run_date, run_status in runs.items():
        if run_status:
            record = {"status": run_status, "mode": Mode.FULL.value}
            ledger.write_run("US", run_date, record, execution_arn=f"arn:execution:{run_date}")
    return settings


@pytest.mark.parametrize(
    ("sunday", "monday"),
    [
        (None, Mode.FULL),  # the full day never ran
        ("FAILED", Mode.FULL),
        ("TIMED_OUT", Mode.FULL),
        ("ABORTED", Mode.FULL),
        ("SKIPPED", Mode.FULL),  # too little data: nothing was trained
        ("SUCCEEDED", Mode.UPDATE),
        ("REJECTED", Mode.UPDATE),  # trained FULL; the gate kept the promoted versions
        ("RUNNING", Mode.UPDATE),  # still training FULL (training may take two days): not twice
    ],
)
def test_the_day_after_a_full_day_trains_full_unless_the_full_day_trained(harness, sunday, monday):
    settings = _ledger_with_a_full_day(harness, sunday)

    assert choose_mode(settings, date.fromisoformat(MONDAY)) is monday
    # Within the week after a FULL training, other days stay UPDATE.
    assert choose_mode(settings, date(2026, 11, 14)) is Mode.UPDATE
