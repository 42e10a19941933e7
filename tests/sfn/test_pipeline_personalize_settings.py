"""Exploration, filters, v2 recipes and the gate without metrics, in the executed pipeline: the calls carry the
settings (the fake validates them against the botocore model and the documented rules), and the outcome lands in
the ledger record and the notification."""

from __future__ import annotations

import boto3

from common.recipes import RECIPES, Recipe, spec
from pipeline import filters
from testkit.pipeline_harness import REGION

SUNDAY = "2026-11-15"  # KR trains FULL on Sundays (config/dev.yaml)
PURCHASED_EXPRESSION = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'


def _calls(harness, operation: str) -> list[dict]:
    return [c.kwargs for c in harness.personalize.calls if c.operation == operation and c.outcome == "ok"]


def test_exploration_and_the_purchase_filter_reach_campaigns_and_batch_jobs(harness):
    execution = harness.run("KR", run_date=SUNDAY)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)

    # config/dev.yaml sets no exploration: the config's defaults, as strings (HyperParameters map)
    expected = {"explorationWeight": "0.5", "explorationItemAgeCutOff": "30"}
    campaigns = {c["name"].split("-")[3]: c for c in _calls(harness, "create_campaign")}
    assert campaigns["userpers"]["campaignConfig"] == {"itemExplorationConfig": expected}
    assert "campaignConfig" not in campaigns["trending"]  # trending-now takes no exploration

    (created_filter,) = _calls(harness, "create_filter")
    assert created_filter["filterExpression"] == PURCHASED_EXPRESSION
    filter_arn = execution.output["filters"][filters.PURCHASED]

    batch = {b["jobName"].rsplit("-", 1)[1]: b for b in _calls(harness, "create_batch_inference_job")}
    assert batch["userpers"]["batchInferenceJobConfig"] == {"itemExplorationConfig": expected}
    assert "batchInferenceJobConfig" not in batch["ranking"] and "batchInferenceJobConfig" not in batch["simitems"]
    # user-keyed jobs exclude purchases; the related-items job has no user to filter by
    assert batch["userpers"]["filterArn"] == filter_arn and batch["ranking"]["filterArn"] == filter_arn
    assert "filterArn" not in batch["simitems"]

    # published for the app's GetRecommendations calls
    ssm = boto3.client("ssm", region_name=REGION)
    parameter = ssm.get_parameter(Name="/personalize/dev/kr/filters/exclude-purchased")["Parameter"]
    assert parameter["Value"] == filter_arn
    record = harness.ledger_run("KR", SUNDAY)
    promote_jobs = record["steps"]["promote"]["jobs"]
    assert promote_jobs[f"filter:{filters.PURCHASED}"] == {
        "arn": filter_arn,
        "name": created_filter["name"],
        "status": "SUCCEEDED",
    }


def test_configured_exploration_genres_and_item_age(harness):
    harness.settings_changes.update(
        exploration={"weight": 0.8, "item_age_cutoff_days": 14},
        filters={"exclude_purchased": True, "exclude_genres": ["Horror", "Adult"], "max_item_age_days": 90},
    )
    execution = harness.run("KR", run_date=SUNDAY)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)

    batch = {b["jobName"].rsplit("-", 1)[1]: b for b in _calls(harness, "create_batch_inference_job")}
    assert batch["userpers"]["batchInferenceJobConfig"]["itemExplorationConfig"] == {
        "explorationWeight": "0.8",
        "explorationItemAgeCutOff": "14",
    }
    expressions = {f["name"]: f["filterExpression"] for f in _calls(harness, "create_filter")}
    arns = execution.output["filters"]
    by_arn = {arn: expressions[arn.rsplit("/", 1)[1]] for arn in arns.values()}
    genres = 'EXCLUDE ItemID WHERE Items.GENRES IN ("Horror", "Adult")'
    # one filter per batch job: the user-keyed jobs chain both exclusions, related items only the genres
    assert by_arn[batch["userpers"]["filterArn"]] == f"{PURCHASED_EXPRESSION} | {genres}"
    assert by_arn[batch["simitems"]["filterArn"]] == genres
    # the age filter has a placeholder: published for real-time calls, never given to a batch job
    recent = by_arn[arns[filters.RECENT]]
    assert recent == "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $CREATED_AFTER"
    assert arns[filters.RECENT] not in {b.get("filterArn") for b in batch.values()}
    ssm = boto3.client("ssm", region_name=REGION)
    published = ssm.get_parameters_by_path(Path="/personalize/dev/kr/filters/")["Parameters"]
    assert {p["Name"].rsplit("/", 1)[1] for p in published} == {"exclude-purchased", "exclude-genres", "recent-items"}


def test_v2_recipes_train_serve_and_batch_as_the_table_says(harness):
    harness.settings_changes.update(recipes=["user-personalization-v2", "personalized-ranking-v2"])
    execution = harness.run("KR", run_date=SUNDAY)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)

    assert {s["recipeArn"] for s in _calls(harness, "create_solution")} == {
        spec(Recipe.USER_PERSONALIZATION_V2).arn,
        spec(Recipe.PERSONALIZED_RANKING_V2).arn,
    }
    (campaign,) = _calls(harness, "create_campaign")  # ranking has no campaign
    assert campaign["name"] == "personalize-dev-kr-userpers2-campaign"
    assert "campaignConfig" not in campaign  # v2 explores by itself: no itemExplorationConfig
    batch = {b["jobName"].rsplit("-", 1)[1]: b for b in _calls(harness, "create_batch_inference_job")}
    assert set(batch) == {"userpers2", "ranking2"}
    assert all("batchInferenceJobConfig" not in b for b in batch.values())
    assert batch["userpers2"]["jobInput"]["s3DataSource"]["path"].endswith("/all_users/")
    assert batch["ranking2"]["jobInput"]["s3DataSource"]["path"].endswith("/ranking_input/")
    assert all(b["filterArn"] == execution.output["filters"][filters.PURCHASED] for b in batch.values())


def test_a_version_without_metrics_is_rejected_with_the_reason(harness):
    harness.personalize.set_metrics("simitems", {})
    execution = harness.run("KR", run_date=SUNDAY)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.output["outcome"]["status"] == "REJECTED"

    decisions = {d["recipe"]: d for d in harness.ledger_run("KR", SUNDAY)["gate"]}
    assert decisions["similar-items"]["approved"] is False
    assert decisions["similar-items"]["reasons"] == [
        "metrics missing for the new version: coverage, normalized_discounted_cumulative_gain_at_10"
    ]
    # trending-now has no offline metrics to compare: gated on the stated rule, approved on 250,000 interactions
    assert not spec(Recipe.TRENDING_NOW).metrics
    assert decisions["trending-now"]["approved"] is True
    assert decisions["trending-now"]["gated_on"].startswith("version ACTIVE and trained on >= 1000 interactions")
    assert decisions["user-personalization"]["gated_on"] == "metrics"
    (message,) = [n["message"] for n in harness.notifications()]
    assert "Gate similar-items: REJECTED (gated on: metrics)" in message
    assert "  - metrics missing for the new version" in message
    assert "Gate trending-now: approved (gated on: version ACTIVE and trained on >= 1000 interactions" in message


def test_every_offered_recipe_is_known_to_the_fake():
    from testkit.fakes.personalize import KNOWN_RECIPES

    assert {s.arn.rsplit("/", 1)[1] for s in RECIPES.values()} <= KNOWN_RECIPES


def test_a_replaced_filter_is_deleted_a_day_after_its_replacement_was_published(harness):
    from datetime import UTC, datetime

    ssm = boto3.client("ssm", region_name=REGION)
    parameter = "/personalize/dev/kr/filters/exclude-genres"

    def run_on(day: int, genres: list[str]):
        harness.settings_changes.update(filters={"exclude_purchased": True, "exclude_genres": genres})
        harness.clock.advance_to(datetime(2026, 11, day - 1, 18, 0, tzinfo=UTC))  # 03:00 in Seoul
        execution = harness.run("KR", run_date=f"2026-11-{day}")
        assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
        return execution

    def genre_filters() -> set[str]:
        listed = harness.personalize.list_filters(datasetGroupArn=harness.groups["KR"].dataset_group_arn)
        return {f["filterArn"] for f in listed["Filters"] if "filter-exclude-genres-" in f["name"]}

    day_one = run_on(15, ["Horror"]).output["filters"]
    old = day_one[filters.GENRES]
    # The config changes: new filters (the genres one and the batch jobs' chain that includes it), the genres
    # one published at once; the old ones stay (an app may hold the old ARN).
    day_two = run_on(16, ["Horror", "Adult"]).output["filters"]
    new = day_two[filters.GENRES]
    assert new != old and genre_filters() == {old, new}
    assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == new
    assert harness.personalize.count("DeleteFilter") == 0
    # The next day the replacements have been published for a day: the filters they replaced are deleted, and
    # only those (the purchase filter did not change). Housekeeping never fails a run: a filter Personalize
    # refuses to delete today stays, recorded, and goes the next day.
    harness.personalize.inject_error("DeleteFilter", "ResourceInUseException")
    third = run_on(17, ["Horror", "Adult"])
    assert third.output["filters"] == day_two and day_two[filters.PURCHASED] == day_one[filters.PURCHASED]
    promote = harness.ledger_run("KR", "2026-11-17")["steps"]["promote"]
    assert promote["status"] == "SUCCEEDED" and promote["jobs"]["filters:retired"]["status"] == "SUCCEEDED"
    assert harness.personalize.count("DeleteFilter", "ok") == 1
    assert "replaced filters deleted: personalize-dev-kr-filter-" in promote["note"]
    assert "not deleted (ResourceInUseException): the next run tries again" in promote["note"]
    run_on(18, ["Horror", "Adult"])
    assert genre_filters() == {new}
    deleted = [c.kwargs["filterArn"] for c in harness.personalize.calls if c.operation == "delete_filter"]
    assert sorted(set(deleted)) == sorted([old, day_one[filters.BATCH_USERS]])
    assert harness.personalize.count("DeleteFilter", "ok") == 2
