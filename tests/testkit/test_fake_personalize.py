"""The fake must behave like Personalize where the pipeline depends on it: time, quotas, errors, shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from testkit.fakes.clock import SimClock
from testkit.fakes.personalize import FakePersonalize
from testkit.fakes.personalize_jobs import HOUR, MINUTE

ROLE = "arn:aws:iam::123456789012:role/personalize"
UP_V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2026, 11, 16, 2, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: SimClock) -> FakePersonalize:
    return FakePersonalize(clock)


@pytest.fixture
def group(fake: FakePersonalize):
    return fake.seed_dataset_group("dev-de")


def import_job(fake, group, name, mode="FULL", dataset="INTERACTIONS"):
    return fake.create_dataset_import_job(
        jobName=name,
        datasetArn=group.dataset_arns[dataset],
        dataSource={"dataLocation": f"s3://bucket/{name}/"},
        roleArn=ROLE,
        importMode=mode,
    )["datasetImportJobArn"]


def import_status(fake, arn):
    return fake.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]


def active_solution(fake, clock, group, name="dev-de-upv1", recipe=UP_V1):
    arn = fake.create_solution(
        name=name, datasetGroupArn=group.dataset_group_arn, recipeArn=recipe, performAutoTraining=False
    )["solutionArn"]
    clock.advance(fake.pending_seconds + fake.durations["solution"])
    return arn


def trained_version(fake, clock, solution_arn, name, **kwargs):
    arn = fake.create_solution_version(solutionArn=solution_arn, name=name, **kwargs)["solutionVersionArn"]
    clock.advance(fake.pending_seconds + fake.durations["solution-version"])
    return arn


def code(error: pytest.ExceptionInfo) -> str:
    return error.value.response["Error"]["Code"]


# ------------------------------------------------------------------------------------------ clock


def test_sim_clock_moves_only_forward_and_needs_a_timezone():
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.sleep(90)
    clock.advance(timedelta(hours=1))
    assert clock.now() == datetime(2026, 1, 1, 1, 1, 30, tzinfo=UTC)
    assert clock.elapsed == timedelta(hours=1, seconds=90)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone"):
        SimClock(datetime(2026, 1, 1))


# ------------------------------------------------------------------------------------- transitions


def test_import_job_walks_through_its_states_as_the_clock_advances(fake, clock, group):
    arn = import_job(fake, group, "dev-de-20261116-import")
    created = clock.now()
    job = import_status(fake, arn)
    assert job["status"] == "CREATE PENDING"
    assert job["creationDateTime"] == created and job["creationDateTime"].tzinfo is not None

    clock.advance(MINUTE)
    assert import_status(fake, arn)["status"] == "CREATE IN_PROGRESS"
    clock.advance(20 * MINUTE - 1)
    assert import_status(fake, arn)["status"] == "CREATE IN_PROGRESS"
    clock.advance(1)
    job = import_status(fake, arn)
    assert job["status"] == "ACTIVE"
    assert job["lastUpdatedDateTime"] == created + timedelta(minutes=21)
    assert "failureReason" not in job


def test_training_duration_can_be_set_per_name(fake, clock, group):
    solution = active_solution(fake, clock, group)
    fake.set_duration("solution-version", 26 * HOUR, name_contains="20261116")
    long_one = fake.create_solution_version(solutionArn=solution, name="dev-de-20261116-train")[
        "solutionVersionArn"
    ]
    normal = fake.create_solution_version(solutionArn=solution, name="dev-de-other")["solutionVersionArn"]

    def status(arn):
        return fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"]

    clock.advance(25 * HOUR)
    assert (status(long_one), status(normal)) == ("CREATE IN_PROGRESS", "ACTIVE")
    clock.advance(1 * HOUR + MINUTE)
    version = fake.describe_solution_version(solutionVersionArn=long_one)["solutionVersion"]
    assert version["status"] == "ACTIVE" and version["trainingHours"] == 26


def test_stopping_a_training_walks_the_documented_stop_states(fake, clock, group):
    # API reference: CREATE_PENDING > CREATE_STOPPED, or CREATE_IN_PROGRESS > CREATE_STOPPING > CREATE_STOPPED.
    solution = active_solution(fake, clock, group)
    running = fake.create_solution_version(solutionArn=solution, name="running")["solutionVersionArn"]
    clock.advance(10 * MINUTE)
    pending = fake.create_solution_version(solutionArn=solution, name="pending")["solutionVersionArn"]

    def status(arn):
        return fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["status"]

    assert (status(running), status(pending)) == ("CREATE IN_PROGRESS", "CREATE PENDING")
    assert fake.stop_solution_version_creation(solutionVersionArn=running)["ResponseMetadata"]
    fake.stop_solution_version_creation(solutionVersionArn=pending)
    assert (status(running), status(pending)) == ("CREATE STOPPING", "CREATE STOPPED")
    clock.advance(30 * MINUTE)
    assert status(running) == "CREATE STOPPED"
    clock.advance(5 * HOUR)  # a stopped version never becomes ACTIVE
    assert status(running) == "CREATE STOPPED"
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.stop_solution_version_creation(solutionVersionArn=running)
    with pytest.raises(ParamValidationError):
        fake.stop_solution_version_creation(solutionArn=solution)
    assert fake.count("StopSolutionVersionCreation", "ok") == 2


def test_constructor_durations_override_defaults_and_reject_unknown_kinds(clock):
    fake = FakePersonalize(clock, durations={"dataset-import-job": 5 * MINUTE}, pending_seconds=0)
    group = fake.seed_dataset_group("dev-fr")
    arn = import_job(fake, group, "job")
    assert import_status(fake, arn)["status"] == "CREATE IN_PROGRESS"
    clock.advance(5 * MINUTE)
    assert import_status(fake, arn)["status"] == "ACTIVE"
    with pytest.raises(ValueError, match="trainnig"):
        FakePersonalize(clock, durations={"trainnig": 1})


def test_batch_job_reports_the_documented_batch_status_words(fake, clock, group):
    solution = active_solution(fake, clock, group)
    version = trained_version(fake, clock, solution, "v1")
    arn = fake.create_batch_inference_job(
        jobName="dev-de-20261116-batch-up",
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": "s3://bucket/in/users.json"}},
        jobOutput={"s3DataDestination": {"path": "s3://bucket/results/de/2026-11-16/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    seen = []
    for _ in range(3):
        seen.append(
            fake.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]["status"]
        )
        clock.advance(HOUR)
    assert seen == ["PENDING", "IN PROGRESS", "ACTIVE"]


# ------------------------------------------------------------------------------------------ quotas


def test_sixth_running_import_in_the_region_hits_the_quota_until_one_finishes(fake, clock, group):
    for n in range(5):
        import_job(fake, group, f"job-{n}")
    with pytest.raises(fake.exceptions.LimitExceededException) as error:
        import_job(fake, group, "job-5")
    assert error.value.operation_name == "CreateDatasetImportJob"
    clock.advance(21 * MINUTE)
    assert import_job(fake, group, "job-5").endswith("/job-5")


def test_other_countries_can_hold_import_slots_until_a_time(fake, clock, group):
    fake.occupy_import_slots(4, until=30 * MINUTE)
    import_job(fake, group, "ours-1")
    with pytest.raises(ClientError) as error:
        import_job(fake, group, "ours-2")
    assert code(error) == "LimitExceededException"
    clock.advance(30 * MINUTE)
    import_job(fake, group, "ours-2")


def test_five_batch_jobs_at_once_is_the_limit(fake, clock, group):
    version = trained_version(fake, clock, active_solution(fake, clock, group), "v1")

    def batch(name):
        return fake.create_batch_inference_job(
            jobName=name,
            solutionVersionArn=version,
            jobInput={"s3DataSource": {"path": "s3://bucket/in/"}},
            jobOutput={"s3DataDestination": {"path": "s3://bucket/out/"}},
            roleArn=ROLE,
        )

    for n in range(5):
        batch(f"batch-{n}")
    with pytest.raises(fake.exceptions.LimitExceededException):
        batch("batch-5")


def test_twenty_trainings_at_once_is_the_region_limit(fake, clock, group):
    solution = active_solution(fake, clock, group)
    for n in range(20):
        fake.create_solution_version(solutionArn=solution, name=f"v{n}")
    with pytest.raises(fake.exceptions.LimitExceededException):
        fake.create_solution_version(solutionArn=solution, name="v20")
    clock.advance(3 * HOUR)
    fake.create_solution_version(solutionArn=solution, name="v20")


def test_a_dataset_group_holds_at_most_five_campaigns(fake, clock, group):
    version = trained_version(fake, clock, active_solution(fake, clock, group), "v1")
    for n in range(5):
        fake.create_campaign(name=f"c{n}", solutionVersionArn=version)
    with pytest.raises(fake.exceptions.LimitExceededException):
        fake.create_campaign(name="c5", solutionVersionArn=version)


def test_names_are_unique_per_kind_and_a_second_create_is_logged_as_a_duplicate(fake, clock, group):
    import_job(fake, group, "same-name")
    clock.advance(HOUR)
    with pytest.raises(fake.exceptions.ResourceAlreadyExistsException):
        import_job(fake, group, "same-name")
    assert [call.kwargs["jobName"] for call in fake.duplicate_create_attempts()] == ["same-name"]
    assert fake.created_names("dataset-import-job") == ["same-name"]
    assert len(fake.create_calls("dataset-import-job")) == 2


# -------------------------------------------------------------------------------------- validation


def test_unknown_or_missing_parameters_fail_like_boto3_and_are_logged(fake, group):
    with pytest.raises(ParamValidationError, match="datasetGroupArn"):
        fake.create_solution(name="dev-de-upv1", datasetGroupARN=group.dataset_group_arn)
    with pytest.raises(ParamValidationError, match="maxResults"):
        fake.list_solutions(maxResults="10")
    with pytest.raises(TypeError, match="keyword arguments"):
        fake.describe_solution("arn:aws:personalize:eu-west-1:123456789012:solution/x")
    assert [call.outcome for call in fake.calls] == ["ParamValidationError", "ParamValidationError"]
    assert fake.create_calls("solution", "ok") == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "bad name!"}, "does not match"),
        ({"name": "x" * 64}, "exceeds 63"),
        ({"name": "ok", "datasetGroupArn": "not-an-arn"}, "does not match"),
    ],
)
def test_values_the_service_rejects_raise_invalid_input(fake, group, kwargs, fragment):
    with pytest.raises(fake.exceptions.InvalidInputException, match=fragment):
        fake.create_solution(**{"datasetGroupArn": group.dataset_group_arn, **kwargs})


def test_out_of_range_and_enum_values_raise_invalid_input(fake, clock, group):
    with pytest.raises(fake.exceptions.InvalidInputException, match="exceeds 100"):
        fake.list_solutions(maxResults=500)
    solution = active_solution(fake, clock, group)
    with pytest.raises(fake.exceptions.InvalidInputException, match="one of"):
        fake.create_solution_version(solutionArn=solution, trainingMode="PARTIAL")


def test_missing_resources_raise_the_modeled_not_found_error(fake):
    missing = "arn:aws:personalize:eu-west-1:123456789012:campaign/nope"
    with pytest.raises(fake.exceptions.ResourceNotFoundException) as error:
        fake.describe_campaign(campaignArn=missing)
    assert isinstance(error.value, ClientError)
    assert error.value.operation_name == "DescribeCampaign"
    assert missing in error.value.response["Error"]["Message"]


# ----------------------------------------------------------------------------- service semantics


def test_incremental_import_needs_data_already_imported(clock):
    fake = FakePersonalize(clock)
    empty = fake.seed_dataset_group("dev-de")
    with pytest.raises(fake.exceptions.InvalidInputException, match="FULL"):
        import_job(fake, empty, "incr", mode="INCREMENTAL")
    import_job(fake, empty, "full")
    clock.advance(HOUR)
    import_job(fake, empty, "incr", mode="INCREMENTAL")
    loaded = fake.seed_dataset_group("dev-fr", with_data=True)
    import_job(fake, loaded, "fr-incr", mode="INCREMENTAL")


def test_update_training_needs_a_supporting_recipe_and_an_active_version(fake, clock, group):
    v2 = active_solution(fake, clock, group, "dev-de-upv2", UP_V2)
    with pytest.raises(fake.exceptions.InvalidInputException, match="not supported"):
        fake.create_solution_version(solutionArn=v2, name="u", trainingMode="UPDATE")
    v1 = active_solution(fake, clock, group, "dev-de-upv1", UP_V1)
    with pytest.raises(fake.exceptions.InvalidInputException, match="ACTIVE solution version"):
        fake.create_solution_version(solutionArn=v1, name="u", trainingMode="UPDATE")
    trained_version(fake, clock, v1, "full")
    arn = fake.create_solution_version(solutionArn=v1, name="u", trainingMode="UPDATE")["solutionVersionArn"]
    assert (
        fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]["trainingMode"] == "UPDATE"
    )


def test_solution_version_needs_an_active_solution(fake, group):
    arn = fake.create_solution(name="dev-de-upv1", datasetGroupArn=group.dataset_group_arn, recipeArn=UP_V1)[
        "solutionArn"
    ]
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.create_solution_version(solutionArn=arn, name="v1")


def test_solution_version_arns_are_solution_arn_plus_eight_hex_and_repeatable(clock):
    arns = []
    for _ in range(2):
        fake = FakePersonalize(SimClock(clock.now()))
        group = fake.seed_dataset_group("dev-de")
        solution = active_solution(fake, fake.clock, group)
        arn = fake.create_solution_version(solutionArn=solution, name="v1")["solutionVersionArn"]
        prefix, suffix = arn.rsplit("/", 1)
        assert prefix == solution
        assert len(suffix) == 8 and int(suffix, 16) >= 0
        arns.append(arn)
    assert arns[0] == arns[1]


def test_solution_api_default_turns_auto_training_on_and_update_solution_changes_it(fake, clock, group):
    arn = fake.create_solution(name="dev-de-upv1", datasetGroupArn=group.dataset_group_arn, recipeArn=UP_V1)[
        "solutionArn"
    ]
    clock.advance(2 * MINUTE)
    assert fake.describe_solution(solutionArn=arn)["solution"]["performAutoTraining"] is True
    fake.update_solution(solutionArn=arn, performAutoTraining=False)
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.update_solution(solutionArn=arn, performAutoTraining=False)
    solution = fake.describe_solution(solutionArn=arn)["solution"]
    assert solution["performAutoTraining"] is True
    assert solution["latestSolutionUpdate"]["status"] == "CREATE PENDING"
    clock.advance(2 * MINUTE)
    solution = fake.describe_solution(solutionArn=arn)["solution"]
    assert solution["performAutoTraining"] is False
    assert solution["latestSolutionUpdate"]["status"] == "ACTIVE"


def test_metrics_exist_only_for_active_versions_and_can_be_scripted(clock):
    fake = FakePersonalize(clock, default_metrics={"coverage": 0.5})
    group = fake.seed_dataset_group("dev-de")
    solution = active_solution(fake, clock, group)
    pending = fake.create_solution_version(solutionArn=solution, name="dev-de-20261116-train")[
        "solutionVersionArn"
    ]
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.get_solution_metrics(solutionVersionArn=pending)
    fake.set_metrics("20261116", {"coverage": 0.1, "precision_at_10": 0.02})
    clock.advance(3 * HOUR)
    other = trained_version(fake, clock, solution, "dev-de-20261117-train")
    assert fake.get_solution_metrics(solutionVersionArn=pending)["metrics"] == {
        "coverage": 0.1,
        "precision_at_10": 0.02,
    }
    assert fake.get_solution_metrics(solutionVersionArn=other)["metrics"] == {"coverage": 0.5}


def test_campaign_keeps_serving_the_old_version_until_the_update_is_active(fake, clock, group):
    solution = active_solution(fake, clock, group)
    old = trained_version(fake, clock, solution, "old")
    new = trained_version(fake, clock, solution, "new")
    campaign = fake.create_campaign(name="dev-de-upv1", solutionVersionArn=old, minProvisionedTPS=1)[
        "campaignArn"
    ]
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.update_campaign(campaignArn=campaign, solutionVersionArn=new)
    clock.advance(11 * MINUTE)
    fake.update_campaign(campaignArn=campaign, solutionVersionArn=new)
    with pytest.raises(fake.exceptions.ResourceInUseException):
        fake.update_campaign(campaignArn=campaign, solutionVersionArn=new)

    described = fake.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["status"] == "ACTIVE" and described["solutionVersionArn"] == old
    assert described["latestCampaignUpdate"]["status"] == "CREATE PENDING"
    assert described["latestCampaignUpdate"]["solutionVersionArn"] == new
    clock.advance(5 * MINUTE)
    assert fake.describe_campaign(campaignArn=campaign)["campaign"]["latestCampaignUpdate"]["status"] == (
        "CREATE IN_PROGRESS"
    )
    assert fake.serving("dev-de-upv1") == old
    clock.advance(6 * MINUTE)
    described = fake.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["solutionVersionArn"] == new
    assert described["latestCampaignUpdate"]["status"] == "ACTIVE"


def test_a_failed_campaign_update_leaves_the_old_version_serving(fake, clock, group):
    solution = active_solution(fake, clock, group)
    old = trained_version(fake, clock, solution, "old")
    new = trained_version(fake, clock, solution, "new")
    campaign = fake.create_campaign(name="dev-de-upv1", solutionVersionArn=old)["campaignArn"]
    clock.advance(HOUR)
    fake.fail_job("campaign-update", "dev-de", "Internal error while deploying")
    fake.update_campaign(campaignArn=campaign, solutionVersionArn=new)
    clock.advance(HOUR)
    described = fake.describe_campaign(campaignArn=campaign)["campaign"]
    assert described["solutionVersionArn"] == old
    assert described["latestCampaignUpdate"]["status"] == "CREATE FAILED"
    assert described["latestCampaignUpdate"]["failureReason"] == "Internal error while deploying"


# ---------------------------------------------------------------------------------- scripting hooks


def test_fail_job_fails_the_next_matching_job_once(fake, clock, group):
    fake.fail_job("dataset-import-job", "interactions", "Input CSV has fewer than 1000 records")
    failed = import_job(fake, group, "dev-de-20261116-import-interactions")
    unaffected = import_job(fake, group, "dev-de-20261116-import-items", dataset="ITEMS")
    clock.advance(HOUR)
    retry = import_job(fake, group, "dev-de-20261116-import-interactions-r2")
    clock.advance(HOUR)
    job = import_status(fake, failed)
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == "Input CSV has fewer than 1000 records"
    assert import_status(fake, unaffected)["status"] == "ACTIVE"
    assert import_status(fake, retry)["status"] == "ACTIVE"


def test_fail_job_also_hits_a_job_already_running(fake, clock, group):
    solution = active_solution(fake, clock, group)
    arn = fake.create_solution_version(solutionArn=solution, name="dev-de-20261116-train")[
        "solutionVersionArn"
    ]
    clock.advance(HOUR)
    fake.fail_job("solution-version", "20261116", "Insufficient data")
    described = fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert described["status"] == "CREATE IN_PROGRESS"
    clock.advance(2 * HOUR)
    described = fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert (described["status"], described["failureReason"]) == ("CREATE FAILED", "Insufficient data")


def test_throttle_raises_the_unmodeled_throttling_error_n_times(fake, group):
    fake.throttle("describe_dataset_group", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as error:
            fake.describe_dataset_group(datasetGroupArn=group.dataset_group_arn)
        assert code(error) == "ThrottlingException"
        assert type(error.value) is ClientError  # not a modeled Personalize exception, as in boto3
    assert (
        fake.describe_dataset_group(datasetGroupArn=group.dataset_group_arn)["datasetGroup"]["name"]
        == "dev-de"
    )
    assert fake.count("DescribeDatasetGroup", "ThrottlingException") == 2
    assert fake.count("describe_dataset_group") == 3


def test_limit_exceeded_hook_and_generic_error_injection(fake, group):
    fake.limit_exceeded("CreateDatasetImportJob")
    fake.inject_error("create_dataset_import_job", "ResourceInUseException", message="dataset busy")
    with pytest.raises(fake.exceptions.LimitExceededException):
        import_job(fake, group, "job")
    with pytest.raises(fake.exceptions.ResourceInUseException, match="dataset busy"):
        import_job(fake, group, "job")
    import_job(fake, group, "job")
    assert [c.outcome for c in fake.create_calls("dataset-import-job")] == [
        "LimitExceededException",
        "ResourceInUseException",
        "ok",
    ]
    with pytest.raises(ValueError, match="not a Personalize operation"):
        fake.throttle("create_dataset_import")


PURCHASED = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'


def test_before_call_lets_a_test_play_a_racing_run(fake, group):
    def other_run(client):
        client.create_filter(name="dev-de-f", datasetGroupArn=group.dataset_group_arn, filterExpression=PURCHASED)

    fake.before_call("create_filter", other_run)
    with pytest.raises(fake.exceptions.ResourceAlreadyExistsException):
        fake.create_filter(name="dev-de-f", datasetGroupArn=group.dataset_group_arn, filterExpression=PURCHASED)
    assert [c.outcome for c in fake.create_calls("filter")] == ["ok", "ResourceAlreadyExistsException"]


def test_auto_trained_versions_have_no_name(fake, clock, group):
    solution = active_solution(fake, clock, group)
    arn = fake.auto_train(solution)
    version = fake.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert version["trainingType"] == "AUTOMATIC" and "name" not in version


# ------------------------------------------------------------------------------- lists and reads


def test_lists_are_newest_first_paginated_and_reject_foreign_tokens(fake, clock, group):
    names = [f"job-{n}" for n in range(5)]
    for name in names:
        import_job(fake, group, name)
        clock.advance(HOUR)
    first = fake.list_dataset_import_jobs(datasetArn=group.dataset_arns["INTERACTIONS"], maxResults=2)
    assert [job["jobName"] for job in first["datasetImportJobs"]] == ["job-4", "job-3"]
    pages = fake.get_paginator("list_dataset_import_jobs").paginate(
        datasetArn=group.dataset_arns["INTERACTIONS"], PaginationConfig={"PageSize": 2}
    )
    assert [job["jobName"] for page in pages for job in page["datasetImportJobs"]] == names[::-1]
    assert fake.list_dataset_import_jobs(datasetArn=group.dataset_arns["ITEMS"])["datasetImportJobs"] == []
    with pytest.raises(fake.exceptions.InvalidNextTokenException):
        fake.list_solutions(nextToken=first["nextToken"])


def test_seeded_dataset_group_reads_like_the_stack_made_it(fake, group):
    assert (
        fake.describe_dataset_group(datasetGroupArn=group.dataset_group_arn)["datasetGroup"]["status"]
        == "ACTIVE"
    )
    datasets = fake.list_datasets(datasetGroupArn=group.dataset_group_arn)["datasets"]
    assert sorted(d["datasetType"] for d in datasets) == ["Interactions", "Items", "Users"]
    interactions = fake.describe_dataset(datasetArn=group.dataset_arns["INTERACTIONS"])["dataset"]
    tracker = fake.describe_event_tracker(eventTrackerArn=group.event_tracker_arn)["eventTracker"]
    assert tracker["trackingId"] == group.tracking_id == interactions["trackingId"]
    assert tracker["datasetGroupArn"] == group.dataset_group_arn
    assert fake.can_paginate("list_datasets") and not fake.can_paginate("describe_dataset")


def test_responses_are_copies_so_callers_cannot_change_the_fake(fake, group):
    described = fake.describe_dataset_group(datasetGroupArn=group.dataset_group_arn)
    described["datasetGroup"]["status"] = "DELETE PENDING"
    again = fake.describe_dataset_group(datasetGroupArn=group.dataset_group_arn)
    assert again["datasetGroup"]["status"] == "ACTIVE"
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
