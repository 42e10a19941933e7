"""The describe-or-create helper, status normalisation and error classification, against FakePersonalize."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker

from common import aws_errors
from common import personalize_resources as pr
from common.aws_errors import PersonalizeLimitExceeded, PersonalizeResourceInUse, PersonalizeThrottled
from common.personalize_resources import Phase
from testkit.fakes.clock import SimClock
from testkit.fakes.personalize import HOUR, MINUTE, FakePersonalize

MODEL = botocore.session.get_session().get_service_model("personalize")
ROLE = "arn:aws:iam::123456789012:role/personalize"
UP_V1 = "arn:aws:personalize:::recipe/aws-user-personalization"
RUN_DATE = date(2026, 11, 16)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2026, 11, 16, 2, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: SimClock) -> FakePersonalize:
    return FakePersonalize(clock)


@pytest.fixture
def group(fake: FakePersonalize):
    return fake.seed_dataset_group("dev-de")


def import_args(group, dataset="INTERACTIONS"):
    return {
        "datasetArn": group.dataset_arns[dataset],
        "dataSource": {"dataLocation": "s3://bucket/prepared/de/2026-11-16/interactions/"},
        "roleArn": ROLE,
        "importMode": "FULL",
    }


def ensure_import(fake, group, name="dev-de-20261116-import-interactions", **kwargs):
    return pr.ensure(fake, "dataset-import-job", name=name, create_args=import_args(group), **kwargs)


def ensure_solution(fake, clock, group, name="dev-de-upv1"):
    result = pr.ensure(
        fake,
        "solution",
        name=name,
        create_args={
            "datasetGroupArn": group.dataset_group_arn,
            "recipeArn": UP_V1,
            "performAutoTraining": False,
        },
    )
    clock.advance(2 * MINUTE)
    return result.arn


def ensure_version(fake, solution_arn, name, **kwargs):
    return pr.ensure(
        fake,
        "solution-version",
        name=name,
        create_args={"solutionArn": solution_arn, "trainingMode": "FULL"},
        **kwargs,
    )


# ------------------------------------------------------------------------------------------- names


def test_names_follow_the_botocore_name_shape_and_read_well():
    shape = MODEL.operation_model("CreateSolution").input_shape.members["name"]
    assert (shape.metadata["max"], shape.metadata["pattern"]) == (
        pr.NAME_MAX_LENGTH,
        pr.NAME_PATTERN.pattern[:-1],
    )
    name = pr.resource_name("dev", "DE", RUN_DATE, "import-interactions")
    assert name == "dev-de-20261116-import-interactions"
    assert pr.resource_name("dev", "de", "2026-11-16", "import interactions") == name
    assert pr.stable_name("prod", "pt_BR", "User Personalization v2") == "prod-pt-br-user-personalization-v2"


def test_long_names_are_shortened_deterministically_without_colliding():
    step_a = "batch-inference-" + "x" * 60 + "-a"
    step_b = "batch-inference-" + "x" * 60 + "-b"
    a = pr.resource_name("staging", "de", RUN_DATE, step_a)
    b = pr.resource_name("staging", "de", RUN_DATE, step_b)
    shape = MODEL.operation_model("CreateBatchInferenceJob").input_shape.members["jobName"]
    for name in (a, b):
        assert len(name) <= shape.metadata["max"]
        assert re.fullmatch(shape.metadata["pattern"], name)
        assert name.startswith("staging-de-20261116-batch-inference-x")
    assert a != b
    assert a == pr.resource_name("staging", "de", RUN_DATE, step_a)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dev", "", RUN_DATE, "train"), "no letters or digits"),
        (("dev", "de", "16/11/2026", "train"), "ISO date"),
        (("dev", "de", datetime(2026, 11, 16, tzinfo=UTC), "train"), "not a datetime"),
    ],
)
def test_bad_name_parts_give_clear_errors(args, message):
    with pytest.raises(ValueError, match=message):
        pr.resource_name(*args)


def test_attempt_names_stay_valid():
    long = pr.resource_name("dev", "de", RUN_DATE, "y" * 70)
    assert pr.attempt_name("dev-de-20261116-train", 1) == "dev-de-20261116-train"
    assert pr.attempt_name("dev-de-20261116-train", 2) == "dev-de-20261116-train-r2"
    assert pr.validate_name(pr.attempt_name(long, 3)) != long


# ------------------------------------------------------------------------------------- kind table


@pytest.mark.parametrize("kind", sorted(pr.KINDS))
def test_kind_table_matches_the_botocore_model(kind):
    spec = pr.KINDS[kind]
    ops = {botocore.xform_name(op): op for op in MODEL.operation_names}
    describe = MODEL.operation_model(ops[spec.describe_op])
    create = MODEL.operation_model(ops[spec.create_op])
    assert spec.arn_param in describe.input_shape.required_members
    assert spec.describe_key in describe.output_shape.members
    assert spec.name_param in create.input_shape.members
    assert spec.parent_param in create.input_shape.required_members
    assert spec.arn_param in create.output_shape.members


@pytest.mark.parametrize(
    "kind", ["dataset-import-job", "solution", "campaign", "batch-inference-job", "filter"]
)
def test_derived_arns_match_the_ones_personalize_returns(fake, clock, group, kind):
    solution = ensure_solution(fake, clock, group)
    version = ensure_version(fake, solution, "v1").arn
    clock.advance(3 * HOUR)
    args = {
        "dataset-import-job": import_args(group),
        "solution": {"datasetGroupArn": group.dataset_group_arn},
        "campaign": {"solutionVersionArn": version},
        "batch-inference-job": {
            "solutionVersionArn": version,
            "jobInput": {"s3DataSource": {"path": "s3://bucket/in/"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://bucket/out/"}},
            "roleArn": ROLE,
        },
        "filter": {
            "datasetGroupArn": group.dataset_group_arn,
            "filterExpression": 'EXCLUDE ItemID WHERE Items.X IN ("y")',
        },
    }[kind]
    result = pr.ensure(fake, kind, name="dev-de-thing", create_args=args)
    assert result.created
    assert result.arn == pr.arn_for(kind, "dev-de-thing", like=args[pr.KINDS[kind].parent_param])


def test_arns_keep_the_partition_region_and_account_of_their_parent():
    arn = pr.arn_for(
        "campaign", "c", like="arn:aws-cn:personalize:cn-north-1:111122223333:solution/s/abcd1234"
    )
    assert arn == "arn:aws-cn:personalize:cn-north-1:111122223333:campaign/c"
    with pytest.raises(ValueError, match="not derived"):
        pr.arn_for("solution-version", "v", like=arn)
    with pytest.raises(ValueError, match="unknown Personalize resource kind"):
        pr.arn_for("recommender", "r", like=arn)


# ------------------------------------------------------------------------------------------ ensure


def test_ensure_creates_a_missing_resource_then_only_describes_it(fake, clock, group):
    first = ensure_import(fake, group)
    assert first.created and first.phase is Phase.PENDING
    clock.advance(30 * MINUTE)
    again = ensure_import(fake, group)
    assert not again.created
    assert (again.arn, again.phase, again.status.raw) == (first.arn, Phase.SUCCEEDED, "ACTIVE")
    assert again.description["jobName"] == first.name
    assert fake.created_names("dataset-import-job") == [first.name]
    assert fake.duplicate_create_attempts() == []
    # Describe first: one describe before the create, one for the replay.
    assert [c.operation for c in fake.calls] == [
        "describe_dataset_import_job",
        "create_dataset_import_job",
        "describe_dataset_import_job",
    ]


def test_ensure_while_running_reuses_the_running_job(fake, clock, group):
    first = ensure_import(fake, group)
    clock.advance(5 * MINUTE)
    replay = ensure_import(fake, group)
    assert (replay.created, replay.phase, replay.arn) == (False, Phase.RUNNING, first.arn)
    assert len(fake.create_calls("dataset-import-job")) == 1


def test_a_create_that_loses_a_race_returns_the_other_runs_resource(fake, group):
    def other_run(client):
        client.create_dataset_import_job(jobName="dev-de-20261116-import-interactions", **import_args(group))

    fake.before_call("create_dataset_import_job", other_run)
    result = ensure_import(fake, group)
    assert not result.created
    assert result.phase is Phase.PENDING
    assert result.arn.endswith("dataset-import-job/dev-de-20261116-import-interactions")
    assert fake.created_names("dataset-import-job") == ["dev-de-20261116-import-interactions"]


def test_resource_in_use_with_nothing_to_describe_is_a_named_transient_error(fake, group):
    fake.inject_error("create_filter", "ResourceInUseException", message="dataset group is busy")
    with pytest.raises(PersonalizeResourceInUse, match="busy") as error:
        pr.ensure(
            fake,
            "filter",
            name="dev-de-f",
            create_args={"datasetGroupArn": group.dataset_group_arn, "filterExpression": "x"},
        )
    assert aws_errors.is_in_use(error.value.__cause__)


def test_throttling_and_quota_surface_as_named_errors_for_the_state_machine(fake, group):
    fake.throttle("describe_dataset_import_job")
    with pytest.raises(PersonalizeThrottled) as throttled:
        ensure_import(fake, group)
    assert aws_errors.error_code(throttled.value.__cause__) == "ThrottlingException"
    fake.occupy_import_slots(5)
    with pytest.raises(PersonalizeLimitExceeded, match="CreateDatasetImportJob"):
        ensure_import(fake, group)
    assert fake.create_calls("dataset-import-job", "ok") == []


def test_other_errors_pass_through_untouched(fake, group):
    args = {**import_args(group), "importMode": "INCREMENTAL"}
    with pytest.raises(fake.exceptions.InvalidInputException):
        pr.ensure(fake, "dataset-import-job", name="dev-de-incr", create_args=args)


def test_ensure_rejects_contradictory_or_incomplete_arguments(fake, group):
    with pytest.raises(ValueError, match="contradicts"):
        pr.ensure(fake, "dataset-import-job", name="a", create_args={**import_args(group), "jobName": "b"})
    with pytest.raises(ValueError, match="datasetArn"):
        pr.ensure(fake, "dataset-import-job", name="a", create_args={"importMode": "FULL"})
    with pytest.raises(ValueError, match="must match"):
        pr.ensure(fake, "dataset-import-job", name="-a", create_args=import_args(group))
    assert fake.calls == []


def test_a_failed_job_is_reported_with_its_reason(fake, clock, group):
    fake.fail_job("dataset-import-job", "interactions", "CSV header does not match the schema")
    ensure_import(fake, group)
    clock.advance(HOUR)
    result = ensure_import(fake, group)
    assert result.phase is Phase.FAILED
    assert result.failure_reason == "CSV header does not match the schema"
    assert (result.name, result.status.raw, result.created) == (
        "dev-de-20261116-import-interactions",
        "CREATE FAILED",
        False,
    )


def test_a_failed_job_is_redone_under_the_next_attempt_name_once(fake, clock, group):
    fake.fail_job("dataset-import-job", "interactions", "bad rows")
    ensure_import(fake, group)
    clock.advance(HOUR)
    second = pr.attempt_name("dev-de-20261116-import-interactions", 2)
    replay = ensure_import(fake, group, name=second)
    assert replay.created and replay.name == "dev-de-20261116-import-interactions-r2"
    again = ensure_import(fake, group, name=second)
    assert (again.created, again.arn) == (False, replay.arn)
    assert fake.created_names("dataset-import-job") == [
        "dev-de-20261116-import-interactions",
        "dev-de-20261116-import-interactions-r2",
    ]
    assert fake.duplicate_create_attempts() == []


# ------------------------------------------------------------------------------- solution versions


def test_solution_versions_are_found_by_name_on_replay(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    first = ensure_version(fake, solution, "dev-de-20261116-train-upv1")
    assert first.created
    clock.advance(HOUR)
    replay = ensure_version(fake, solution, "dev-de-20261116-train-upv1")
    assert (replay.created, replay.arn, replay.phase) == (False, first.arn, Phase.RUNNING)
    assert len(fake.create_calls("solution-version")) == 1


def test_version_lookup_skips_automatic_and_old_versions_and_bounds_describes(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    old = ensure_version(fake, solution, "dev-de-20261101-train")
    clock.advance(10 * 24 * HOUR)
    fake.auto_train(solution)
    clock.advance(3 * HOUR)
    recent = ensure_version(fake, solution, "dev-de-20261112-train")
    clock.advance(3 * HOUR)

    not_before = clock.now() - timedelta(days=2)
    found = pr.find_solution_version(fake, solution, "dev-de-20261112-train", not_before=not_before)
    assert found["solutionVersionArn"] == recent.arn
    before = fake.count("describe_solution_version")
    assert pr.find_solution_version(fake, solution, "dev-de-20261101-train", not_before=not_before) is None
    assert fake.count("describe_solution_version") - before == 1  # only the recent manual one
    assert pr.find_solution_version(fake, solution, "dev-de-20261101-train")["solutionVersionArn"] == old.arn
    before = fake.count("describe_solution_version")
    assert pr.find_solution_version(fake, solution, "nope", max_describes=1) is None
    assert fake.count("describe_solution_version") - before == 1


def test_version_lookup_reads_every_page(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    first = ensure_version(fake, solution, "version-000")
    for n in range(1, 102):
        clock.advance(3 * HOUR)
        fake.create_solution_version(solutionArn=solution, name=f"version-{n:03d}")
    lists_before = fake.count("list_solution_versions")
    found = pr.find_solution_version(fake, solution, "version-000", max_describes=200)
    assert found["solutionVersionArn"] == first.arn
    assert fake.count("list_solution_versions") - lists_before == 2  # 102 versions, 100 per page


def test_version_create_race_is_resolved_by_listing_again(fake, clock, group):
    solution = ensure_solution(fake, clock, group)

    def other_run(client):
        client.create_solution_version(solutionArn=solution, name="dev-de-20261116-train")

    fake.before_call("create_solution_version", other_run)
    result = ensure_version(fake, solution, "dev-de-20261116-train")
    assert not result.created and result.description["name"] == "dev-de-20261116-train"
    assert fake.created_names("solution-version") == ["dev-de-20261116-train"]


def test_version_create_on_an_unready_solution_is_transient(fake, group):
    solution = pr.ensure(
        fake, "solution", name="dev-de-upv1", create_args={"datasetGroupArn": group.dataset_group_arn}
    )
    with pytest.raises(PersonalizeResourceInUse):
        ensure_version(fake, solution.arn, "dev-de-20261116-train")


def test_a_failed_training_is_redone_under_the_next_attempt_name(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    fake.fail_job("solution-version", "20261116", "Insufficient interactions")
    ensure_version(fake, solution, "dev-de-20261116-train")
    clock.advance(3 * HOUR)
    assert (
        ensure_version(fake, solution, "dev-de-20261116-train").failure_reason == "Insufficient interactions"
    )
    replay = ensure_version(fake, solution, pr.attempt_name("dev-de-20261116-train", 2))
    assert replay.created and replay.name == "dev-de-20261116-train-r2"


# --------------------------------------------------------------------------------------- campaigns


def test_campaign_promotion_creates_then_updates_once_and_replays_do_nothing(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    v1 = ensure_version(fake, solution, "v1").arn
    clock.advance(3 * HOUR)
    v2 = ensure_version(fake, solution, "v2").arn
    clock.advance(3 * HOUR)

    created = pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v1)
    assert created.created
    assert pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v1).phase is Phase.PENDING
    clock.advance(HOUR)
    assert (
        pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v1).phase is Phase.SUCCEEDED
    )

    update = pr.ensure_campaign_serves(
        fake, name="dev-de-upv1", solution_version_arn=v2, create_args={"minProvisionedTPS": 2}
    )
    assert update.created and update.phase is Phase.PENDING
    clock.advance(5 * MINUTE)
    during = pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v2)
    assert during.phase is Phase.RUNNING and fake.serving("dev-de-upv1") == v1
    clock.advance(HOUR)
    done = pr.current(fake, "campaign", created.arn, target_solution_version_arn=v2)
    assert done.phase is Phase.SUCCEEDED
    assert done.description["minProvisionedTPS"] == 2
    assert len(fake.create_calls("campaign")) == 1
    assert len(fake.create_calls("campaign-update")) == 1


def test_a_failed_campaign_update_is_reported_then_retried_by_a_replay(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    v1 = ensure_version(fake, solution, "v1").arn
    clock.advance(3 * HOUR)
    v2 = ensure_version(fake, solution, "v2").arn
    clock.advance(3 * HOUR)
    campaign = pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v1).arn
    clock.advance(HOUR)
    fake.fail_job("campaign-update", "dev-de-upv1", "Deployment failed")
    pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v2)
    clock.advance(HOUR)
    polled = pr.current(fake, "campaign", campaign, target_solution_version_arn=v2)
    assert (polled.phase, polled.failure_reason) == (Phase.FAILED, "Deployment failed")
    replay = pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=v2)
    assert replay.created
    clock.advance(HOUR)
    assert fake.serving("dev-de-upv1") == v2
    assert len(fake.create_calls("campaign-update")) == 2


def test_campaign_update_blocked_by_another_update_is_transient(fake, clock, group):
    solution = ensure_solution(fake, clock, group)
    versions = []
    for name in ("v1", "v2", "v3"):
        versions.append(ensure_version(fake, solution, name).arn)
        clock.advance(3 * HOUR)
    pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=versions[0])
    clock.advance(HOUR)
    pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=versions[1])
    with pytest.raises(PersonalizeResourceInUse, match="update_campaign"):
        pr.ensure_campaign_serves(fake, name="dev-de-upv1", solution_version_arn=versions[2])


def test_current_raises_for_a_resource_that_does_not_exist(fake):
    with pytest.raises(LookupError, match="does not exist"):
        pr.current(fake, "solution", "arn:aws:personalize:eu-west-1:123456789012:solution/none")


# ------------------------------------------------------------------------------------------ status


@pytest.mark.parametrize(
    ("raw", "phase"),
    [
        ("CREATE PENDING", Phase.PENDING),
        ("PENDING", Phase.PENDING),
        ("CREATE IN_PROGRESS", Phase.RUNNING),
        ("IN PROGRESS", Phase.RUNNING),
        ("ACTIVE", Phase.SUCCEEDED),
        ("CREATE FAILED", Phase.FAILED),
        ("CREATE STOPPING", Phase.FAILED),
        ("CREATE STOPPED", Phase.FAILED),
        ("DELETE PENDING", Phase.FAILED),
        ("create  in_progress", Phase.RUNNING),
    ],
)
def test_statuses_map_to_four_phases(raw, phase):
    assert pr.normalise_status(raw).phase is phase


def test_failures_always_carry_a_reason_and_others_never_do():
    assert pr.normalise_status("CREATE FAILED", "Out of memory").failure_reason == "Out of memory"
    assert pr.normalise_status("CREATE STOPPED").failure_reason == "resource is CREATE STOPPED"
    assert pr.normalise_status("CREATE FAILED").failure_reason
    assert pr.normalise_status("ACTIVE", "stale reason").failure_reason is None
    assert Phase.FAILED.done and Phase.SUCCEEDED.done and not Phase.RUNNING.done


def test_unknown_statuses_fail_loudly():
    with pytest.raises(pr.UnknownStatus, match="HIBERNATING"):
        pr.normalise_status("HIBERNATING")
    with pytest.raises(pr.UnknownStatus):
        pr.normalise_status(None)


def test_campaign_status_follows_the_update_to_the_target():
    campaign = {
        "status": "ACTIVE",
        "solutionVersionArn": "old",
        "latestCampaignUpdate": {"solutionVersionArn": "new", "status": "CREATE IN_PROGRESS"},
    }
    assert pr.campaign_status(campaign).phase is Phase.RUNNING
    assert pr.campaign_status(campaign, "new").phase is Phase.RUNNING
    assert pr.status_of("campaign", campaign, "new").phase is Phase.RUNNING
    assert pr.status_of("solution", campaign).phase is Phase.SUCCEEDED  # other kinds: own status only
    other = pr.campaign_status(campaign, "newer")
    assert (other.phase, other.raw) == (Phase.FAILED, "NOT_DEPLOYED")
    assert "serves old" in other.failure_reason
    assert (
        pr.campaign_status({"status": "ACTIVE", "solutionVersionArn": "old"}, "old").phase is Phase.SUCCEEDED
    )
    failed = {"status": "CREATE FAILED", "failureReason": "no capacity", "solutionVersionArn": "old"}
    assert pr.campaign_status(failed, "new").failure_reason == "no capacity"


# -------------------------------------------------------------------------------------------- errors


def client_error(error_code: str, operation: str = "CreateSolution") -> ClientError:
    return ClientError({"Error": {"Code": error_code, "Message": f"{error_code} happened"}}, operation)


@pytest.mark.parametrize("error_code", sorted(ThrottledRetryableChecker._THROTTLED_ERROR_CODES))
def test_throttling_covers_botocores_codes_except_the_personalize_quota(error_code):
    error = client_error(error_code)
    if error_code == "LimitExceededException":
        # botocore retries it as throttling; for Personalize it is the running-jobs quota: its own class.
        assert not aws_errors.is_throttling(error) and aws_errors.is_limit_exceeded(error)
    else:
        assert aws_errors.is_throttling(error) and not aws_errors.is_limit_exceeded(error)


def test_classifiers_read_the_error_code_only_from_client_errors():
    assert aws_errors.is_not_found(client_error("ResourceNotFoundException"))
    assert aws_errors.is_already_exists(client_error("ResourceAlreadyExistsException"))
    assert aws_errors.is_in_use(client_error("ResourceInUseException"))
    assert not aws_errors.is_not_found(client_error("InvalidInputException"))
    assert not aws_errors.is_throttling(ValueError("ThrottlingException"))
    assert aws_errors.error_code(KeyError("x")) is None
    assert aws_errors.is_transient(PersonalizeResourceInUse("busy"))
    assert not aws_errors.is_transient(client_error("InvalidInputException"))


def test_transient_errors_are_renamed_and_keep_their_cause():
    with pytest.raises(PersonalizeThrottled, match="CreateSolution throttled") as throttled:
        with aws_errors.transient_errors_named():
            raise client_error("TooManyRequestsException")
    assert aws_errors.error_code(throttled.value.__cause__) == "TooManyRequestsException"
    with pytest.raises(PersonalizeLimitExceeded, match="quota"):
        with aws_errors.transient_errors_named():
            raise client_error("LimitExceededException", "CreateDatasetImportJob")
    with pytest.raises(ClientError):
        with aws_errors.transient_errors_named():
            raise client_error("ResourceInUseException")
    assert set(aws_errors.TRANSIENT_ERROR_NAMES) == {
        "PersonalizeThrottled",
        "PersonalizeLimitExceeded",
        "PersonalizeResourceInUse",
    }
