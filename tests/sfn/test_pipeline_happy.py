"""The synthesised pipeline executed end to end: full-day and update-day runs, long training, guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from testkit.fakes.athena import SCANNED_BYTES_PER_QUERY

SUNDAY, MONDAY = "2026-11-15", "2026-11-16"  # KR trains FULL on Sundays (config/dev.yaml)


def test_full_day_runs_every_step_and_records_the_run(harness):
    # an earlier run's report, for the page's trend chart
    earlier = {
        "country": "KR",
        "run_date": "2026-11-08",
        "recommenders": [{"name": "curation", "metrics": {"normalized_discounted_cumulative_gain_at_10": 0.25}}],
        "decision": {"values": {"curation": 0.01}},  # the trend plots the decision's metric
    }
    harness.s3.put_object(
        Bucket="personalize-dev-results-123456789012-us-east-1",
        Key="KR/2026-11-08/report.json",
        Body=json.dumps(earlier).encode(),
    )
    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.states_entered()[-1] == "Succeeded"
    output = execution.output
    assert output["run"]["mode"] == "FULL" and output["outcome"]["status"] == "SUCCEEDED"
    # FULL imports of the three datasets from the assembled CSVs
    imports = [c.kwargs for c in harness.personalize.calls if c.operation == "create_dataset_import_job"]
    assert sorted(i["importMode"] for i in imports) == ["FULL", "FULL", "FULL"]
    assert all(i["dataSource"]["dataLocation"].endswith(".csv") for i in imports)
    imported = {i["datasetArn"].rsplit("/", 1)[1].title(): i["dataSource"]["dataLocation"] for i in imports}
    # every configured recipe trained FULL, each solution created with auto-training explicitly off
    solutions = [c.kwargs for c in harness.personalize.calls if c.operation == "create_solution"]
    assert {s["recipeArn"].rsplit("/", 1)[1] for s in solutions} == {
        "aws-user-personalization",
        "aws-personalized-ranking",
        "aws-similar-items",
        "aws-trending-now",
    }
    assert all(s["performAutoTraining"] is False for s in solutions)
    versions = [c.kwargs for c in harness.personalize.calls if c.operation == "create_solution_version"]
    assert len(versions) == 4 and {v["trainingMode"] for v in versions} == {"FULL"}
    # first versions pass on the floors; campaigns for the real-time recipes
    assert all(d["approved"] for d in output["gate"])
    assert sorted(harness.personalize.created_names("campaign")) == [
        "personalize-dev-kr-trending-campaign",
        "personalize-dev-kr-userpers-campaign",
    ]
    # batch jobs write under results/<country>/<run_date>/<recipe>/ (trending-now has no batch mode)
    batch = [c.kwargs for c in harness.personalize.calls if c.operation == "create_batch_inference_job"]
    results = f"s3://personalize-dev-results-123456789012-us-east-1/KR/{SUNDAY}"
    assert {b["jobOutput"]["s3DataDestination"]["path"] for b in batch} == {
        f"{results}/{recipe}/" for recipe in ("user-personalization", "personalized-ranking", "similar-items")
    }
    inputs = {b["jobName"].rsplit("-", 1)[1]: b["jobInput"]["s3DataSource"]["path"] for b in batch}
    assert inputs["userpers"].endswith("/all_users/")  # the full day scores every user
    assert inputs["simitems"].endswith("/items_batch/") and inputs["ranking"].endswith("/ranking_input/")
    assert harness.personalize.duplicate_create_attempts() == []

    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "SUCCEEDED" and record["execution_arn"] == execution.arn
    assert set(record["steps"]) == {"prepare", "import", "train", "promote", "batch", "report", "publish"}
    assert record["steps"]["train"]["jobs"]["user-personalization"]["arn"].startswith("arn:aws:personalize:")
    assert record["counts"]["interactions"] == 250_000
    assert set(record["metrics"]) == {
        "user-personalization",
        "personalized-ranking",
        "similar-items",
        "trending-now",
    }
    assert record["promoted"]["user-personalization"] == output["trained"]["user-personalization"]

    # the comparison page sits next to the batch output and the notification links it
    results_bucket = "personalize-dev-results-123456789012-us-east-1"
    page = (
        harness.s3.get_object(Bucket=results_bucket, Key=f"KR/{SUNDAY}/report.html")["Body"].read().decode()
    )
    assert 'id="metrics"' in page and "<script src" not in page
    report = json.loads(
        harness.s3.get_object(Bucket=results_bucket, Key=f"KR/{SUNDAY}/report.json")["Body"].read()
    )
    assert report["country"] == "KR" and report["run_date"] == SUNDAY
    assert [p["run_date"] for p in report["trend"]] == ["2026-11-08", SUNDAY]
    assert f"Decision: {report['decision']['text']}" in output["notification"]["message"].splitlines()
    # the back office's stable address holds the same report
    latest = harness.s3.get_object(Bucket=results_bucket, Key="KR/latest/report.json")["Body"].read()
    assert json.loads(latest) == report
    # built on the query engine: the report SQL ran (on DuckDB in FakeAthena) over the prepared parts
    started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
    report_queries = [sql for sql in started if "/athena/reports/" in sql]
    assert len(report_queries) == 5 and "report SQL" in report["curation"]["reason"]
    assert report["counts"]["interactions"] > 0
    # the fake batch jobs write no output: the page says so instead of dropping the Personalize column
    assert report["notes"][0] == "Personalize batch output was expected but no output file was found."
    assert record["report_url"] == f"s3://{results_bucket}/KR/{SUNDAY}/report.html"
    (notification,) = harness.notifications()
    assert notification["subject"] == f"[personalize dev] KR {SUNDAY}: SUCCEEDED"
    assert f"Report: s3://{results_bucket}/KR/{SUNDAY}/report.html" in notification["message"]
    (event,) = harness.events()
    assert event["source"] == "personalize.pipeline" and event["detail"]["status"] == "SUCCEEDED"

    # the run's cost drivers, each from where the run met it
    cost = record["cost"]
    drivers = cost["drivers"]
    assert drivers["athena_scanned_bytes"] == SCANNED_BYTES_PER_QUERY * len(started)  # prepare + report queries
    assert drivers["training_hours"] == {
        recipe: choice["training_hours"] for recipe, choice in record["training"].items()
    } and len(drivers["training_hours"]) == 4
    for dataset, size in drivers["import_bytes"].items():  # the size recorded when assembled is the object's
        bucket, key = imported[dataset].removeprefix("s3://").split("/", 1)
        assert size == harness.s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert set(drivers["import_bytes"]) == {"Users", "Items", "Interactions"}
    counts = record["counts"]
    assert drivers["batch_scored"] == {
        "user-personalization": {"scored": counts["users"], "scored_kind": "users"},  # all_users on a full day
        "personalized-ranking": {"scored": counts["changed_users"], "scored_kind": "users"},
        "similar-items": {"scored": counts["items"], "scored_kind": "items"},
    }
    assert drivers["campaign_tps_hours"] == {"user-personalization": 24.0, "trending-now": 24.0}  # min_tps 1
    assert cost["label"] == "estimate" and cost["month"] is None  # no UPDATE run yet to make a month from
    athena_usd = drivers["athena_scanned_bytes"] / 1e12 * 5.0
    assert cost["estimate"]["total_usd"] == pytest.approx(athena_usd)  # dev prices only Athena
    assert "Estimated cost of this run (estimate): $" in notification["message"]
    assert notification["message"].count("Cost drivers: Athena ") == 1
    assert event["detail"]["cost"] == cost


def test_update_day_imports_incrementally_and_trains_only_where_the_policy_says(harness):
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    before = len(harness.personalize.calls)
    harness.notifications()
    harness.clock.advance_to(datetime(2026, 11, 15, 18, 0, tzinfo=UTC))  # Monday 03:00 in Seoul

    execution = harness.run("KR", run_date=MONDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["run"]["mode"] == "UPDATE"
    assert execution.output["run"]["previous_success_date"] == SUNDAY
    calls = harness.personalize.calls[before:]
    imports = [c.kwargs for c in calls if c.operation == "create_dataset_import_job" and c.outcome == "ok"]
    assert {i["importMode"] for i in imports} == {"INCREMENTAL"}
    versions = [c.kwargs for c in calls if c.operation == "create_solution_version" and c.outcome == "ok"]
    # KR serves user-personalization from a campaign: automatic updates, no UPDATE (tests/sfn/test_training_policy.py)
    assert versions == []
    assert not [c for c in calls if c.operation == "create_solution"]  # existing solutions reused
    assert not [c for c in calls if c.operation == "update_campaign"]
    assert harness.ledger_run("KR", MONDAY)["mode"] == "UPDATE"
    batch = {
        c.kwargs["jobName"].rsplit("-", 1)[1]: c.kwargs
        for c in calls
        if c.operation == "create_batch_inference_job" and c.outcome == "ok"
    }
    assert batch["userpers"]["jobInput"]["s3DataSource"]["path"].endswith("/changed_users/")
    # the served curation lists the same users as the batch job: the changed ones today, every one on Sunday
    started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
    curation = {day: [sql for sql in started if f"/KR/{day}/curation/" in sql] for day in (SUNDAY, MONDAY)}
    assert curation[MONDAY] and all("part IN ('new', 'changed')" in sql for sql in curation[MONDAY])
    assert curation[SUNDAY] and all("part IN ('new', 'changed', 'old')" in sql for sql in curation[SUNDAY])
    # every recipe uses the version promoted on Sunday
    assert (
        batch["userpers"]["solutionVersionArn"]
        == harness.ledger_run("KR", SUNDAY)["promoted"]["user-personalization"]
    )
    assert (
        batch["simitems"]["solutionVersionArn"]
        == harness.ledger_run("KR", SUNDAY)["promoted"]["similar-items"]
    )
    # the update day scores only the changed users, trains nothing, and with Sunday's run makes a month
    full_cost, cost = harness.ledger_run("KR", SUNDAY)["cost"], harness.ledger_run("KR", MONDAY)["cost"]
    counts = harness.ledger_run("KR", MONDAY)["counts"]
    assert cost["drivers"]["batch_scored"]["user-personalization"] == {
        "scored": counts["changed_users"],
        "scored_kind": "users",
    }
    assert cost["drivers"]["training_hours"] == {}
    assert cost["month"]["from_runs"] == {"FULL": SUNDAY, "UPDATE": MONDAY}
    full_usd, update_usd = full_cost["estimate"]["total_usd"], cost["estimate"]["total_usd"]
    # Recorded to the micro-dollar (pipeline.pricing rounds to 6 decimals).
    month = 30.4375 / 7 * full_usd + (30.4375 - 30.4375 / 7) * update_usd
    assert cost["month"]["usd"] == pytest.approx(month, abs=1e-6)
    (notification,) = harness.notifications()
    assert "Estimated cost per month for this country (estimate, from FULL 2026-11-15, UPDATE 2026-11-16): $" in (
        notification["message"]
    )
    # the report's trend shows each earlier run's estimated cost beside its point (this run's is not known yet)
    results_bucket = "personalize-dev-results-123456789012-us-east-1"
    report = json.loads(harness.s3.get_object(Bucket=results_bucket, Key=f"KR/{MONDAY}/report.json")["Body"].read())
    costs = {p["run_date"]: p["estimated_cost_usd"] for p in report["trend"]}
    assert costs == {SUNDAY: full_usd, MONDAY: None}
    page = harness.s3.get_object(Bucket=results_bucket, Key=f"KR/{MONDAY}/report.html")["Body"].read().decode()
    assert f"<tr><td>{SUNDAY}</td><td>${full_usd:,.2f}</td></tr>" in page


def test_training_that_takes_26_hours_is_waited_for_with_growing_intervals(harness):
    harness.personalize.set_duration("solution-version", 26 * 3600)
    start = harness.clock.now()

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert (harness.clock.now() - start).total_seconds() > 26 * 3600
    waits = [
        json.loads(e["stateEnteredEventDetails"]["input"])["steps"]["train"]["wait_seconds"]
        for e in execution.history
        if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForTraining"
    ]
    assert waits[:4] == [300, 600, 1200, 2400] and max(waits) == 3600
    assert execution.transitions <= 250


def test_below_minimum_data_is_skipped_without_any_personalize_call(harness):
    harness.athena.counts.update(interactions=800, users_with_2_interactions=10)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED"
    assert execution.states_entered()[-1] == "Skipped"
    assert harness.personalize.calls == []
    record = harness.ledger_run("KR", SUNDAY)
    assert record["status"] == "SKIPPED"
    assert record["reason"] == "800 interactions < 1000; 10 users with >= 2 interactions < 25"
    (notification,) = harness.notifications()
    assert "SKIPPED" in notification["subject"] and "800 interactions < 1000" in notification["message"]


def test_a_date_that_already_succeeded_is_not_run_again_unless_forced(harness):
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    calls = len(harness.personalize.calls)

    again = harness.run("KR", run_date=SUNDAY)

    assert again.status == "SUCCEEDED" and again.states_entered()[-1] == "NotAdmitted"
    assert again.output["run"]["admission"] == "ALREADY_DONE"
    assert len(harness.personalize.calls) == calls

    forced = harness.run("KR", run_date=SUNDAY, force=True)
    assert forced.status == "SUCCEEDED" and forced.states_entered()[-1] == "Succeeded"
    assert harness.personalize.duplicate_create_attempts() == []
    creates = [
        c
        for c in harness.personalize.calls[calls:]
        if c.operation.startswith("create_") and c.outcome == "ok"
    ]
    assert creates == []  # the forced rerun found every job of that date and reused it


def test_a_second_execution_while_one_runs_is_not_admitted(harness, monkeypatch):
    from pipeline import ledger
    from pipeline.steps import begin

    monkeypatch.setenv("LEDGER_TABLE", harness.ledger_table)
    monkeypatch.setenv("ENV_NAME", "dev")
    other = "arn:aws:states:us-east-1:123456789012:execution:personalize-dev-pipeline:other"
    assert ledger.claim_run("KR", begin.date.fromisoformat(SUNDAY), other, lambda arn: False) == (True, "")
    monkeypatch.setattr(begin, "_execution_running", lambda arn: arn == other)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.output["run"]["admission"] == "DUPLICATE"
    assert other in execution.output["run"]["reason"]
    assert harness.personalize.calls == [] and harness.athena.calls == []
    assert harness.ledger_run("KR", SUNDAY)["execution_arn"] == other


def test_the_schedule_input_decides_the_run_date_in_the_country_time_zone(harness):
    # 2026-11-14T18:00Z is 03:00 on Sunday the 15th in Seoul, still Saturday in New York.
    execution = harness.run("KR")
    assert execution.output["run"]["run_date"] == SUNDAY and execution.output["run"]["mode"] == "FULL"


def test_a_failed_run_being_redriven_still_holds_its_date(harness, monkeypatch):
    """The ledger says FAILED while a redrive of that execution runs: a new execution must not start."""
    from pipeline.steps import begin

    harness.fail_at("train")
    failed = harness.run("KR", run_date=SUNDAY)
    assert harness.ledger_run("KR", SUNDAY)["status"] == "FAILED"
    monkeypatch.setattr(begin, "_execution_running", lambda arn: arn == failed.arn)  # redrive in progress
    calls = len(harness.personalize.calls)

    second = harness.run("KR", run_date=SUNDAY)

    assert second.output["run"]["admission"] == "DUPLICATE"
    assert len(harness.personalize.calls) == calls
