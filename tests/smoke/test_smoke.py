"""`make smoke` offline: the whole flow against moto (sts, s3, kinesis, stepfunctions, dynamodb, scheduler, sqs, sns,
cloudwatch), the fake Personalize and a fake CloudFormation, with the synthesised dev pipeline executing on moto's
Step Functions (testkit/pipeline_harness.py) and the cdk deploy/destroy commands played by a fake runner that
creates and deletes the stacks they name."""

from __future__ import annotations

import io
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest
from fake_cloudformation import FakeCloudFormation
from moto import mock_aws

from stacks.config import load_config
from testkit.fakes.personalize import FakePersonalize
from testkit.pipeline_harness import ACCOUNT, MOTO_CONFIG, REGION, PipelineHarness, resources_of
from testkit.synth import write_env_from_dev
from tools.smoke import cli
from tools.smoke.cdk import CDK
from tools.smoke.checks import INGEST_SERVICE, METRICS_NAMESPACE
from tools.smoke.flow import Seams, interactions_per_country

RAW = f"personalize-dev-raw-{ACCOUNT}-{REGION}"
RESULTS = f"personalize-dev-results-{ACCOUNT}-{REGION}"
DATA_STACK, PIPELINE_STACK, REALTIME_STACK = (
    "Personalize-dev-Data",
    "Personalize-dev-Pipeline",
    "Personalize-dev-Realtime",
)
COUNTRY_STACKS = ["Personalize-dev-KR", "Personalize-dev-JP", "Personalize-dev-US"]
# A sample file the run uploads (the newest views partition before the run date 2026-11-15).
SAMPLE_KEY = "views/dt=2026-11-14/part-0.csv"


def sandbox_config(config_dir: Path, account: str = ACCOUNT) -> Path:
    """The dev env's names (the harness runs the synthesised dev pipeline), marked as a sandbox of `account`."""
    write_env_from_dev(config_dir, "dev", sandbox=True, account=account, region=REGION)
    return config_dir


@pytest.fixture
def sandbox_dir(tmp_path) -> Path:
    (tmp_path / "config").mkdir()
    return sandbox_config(tmp_path / "config")


class PersonalizeWithDeletes:
    """The fake Personalize plus the two deletes the clean-up calls (the fake has no delete operations)."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.deleted: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)

    def delete_campaign(self, campaignArn: str) -> dict:  # noqa: N803  (boto3's parameter name)
        self.deleted.append(("campaign", campaignArn))
        return {}

    def delete_solution(self, solutionArn: str) -> dict:  # noqa: N803
        self.deleted.append(("solution", solutionArn))
        return {}


class IngestingKinesis:
    """moto's Kinesis; each accepted record is then counted as the ingest Lambda's EMF metric would count it
    (moto runs no event source mapping). `refused`: every record comes back failed (the run stops there)."""

    def __init__(self, now: Any, delivered: bool = True, refused: bool = False) -> None:
        self.now = now
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.delivered = delivered
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kinesis, name)

    def put_records(self, **kwargs: Any) -> dict:
        if self.refused:
            failed = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
            return {"FailedRecordCount": len(kwargs["Records"]), "Records": [failed for _ in kwargs["Records"]]}
        response = self.kinesis.put_records(**kwargs)
        if self.delivered:
            self.cloudwatch.put_metric_data(
                Namespace=METRICS_NAMESPACE,
                MetricData=[
                    {
                        "MetricName": "RecordsDelivered",
                        "Dimensions": [{"Name": "service", "Value": INGEST_SERVICE}],
                        "Value": len(kwargs["Records"]) - response["FailedRecordCount"],
                        "Unit": "Count",
                        "Timestamp": self.now(),
                    }
                ],
            )
        return response


class World:
    """`deploy_creates`: the stacks the deploy creates when missing (default every stack of the app);
    `deploy_code`: the deploy's exit code (a failed deploy may still have created some)."""

    def __init__(
        self,
        harness: PipelineHarness,
        config_dir: Path,
        *,
        delivered: bool = True,
        kinesis_refuses: bool = False,
        deploy_code: int = 0,
        deploy_creates: list[str] | None = None,
    ) -> None:
        self.harness = harness
        self.config_dir = config_dir
        self.commands: list[list[str]] = []
        self.services: list[str] = []
        self.deploy_code = deploy_code
        self.deploy_creates = harness.synthesised.stack_names if deploy_creates is None else deploy_creates
        self.cloudformation = FakeCloudFormation()
        self.personalize = PersonalizeWithDeletes(harness.personalize)
        self.kinesis = IngestingKinesis(harness.clock.now, delivered, kinesis_refuses)
        self.kinesis.create_stream(StreamName="events", ShardCount=1)
        sqs = boto3.client("sqs", region_name=REGION)
        self.dlq = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
        for bucket in ("access-logs",):
            harness.s3.create_bucket(Bucket=f"personalize-dev-{bucket}-{ACCOUNT}-{REGION}")
        harness.s3.put_bucket_versioning(Bucket=RAW, VersioningConfiguration={"Status": "Enabled"})
        self._create_schedules()
        self._write_batch_output_when_created()
        (self.topic,) = [t["TopicArn"] for t in boto3.client("sns", region_name=REGION).list_topics()["Topics"]]
        self.ticks = 0.0
        self.say: list[str] = []

    def _create_schedules(self) -> None:
        """The synthesised schedules, as CloudFormation would create them (input with every ARN resolved)."""
        scheduler = boto3.client("scheduler", region_name=REGION)
        for schedule in resources_of(self.harness.template, "AWS::Scheduler::Schedule").values():
            props = schedule["Properties"]
            country = props["Name"].split("-")[-2].upper()
            scheduler.create_schedule(
                Name=props["Name"],
                ScheduleExpression=props["ScheduleExpression"],
                FlexibleTimeWindow=props["FlexibleTimeWindow"],
                Target={
                    "Arn": self.harness.state_machine_arn,
                    "RoleArn": self.harness.role_arn,
                    "Input": json.dumps(self.harness.schedule_input(country)),
                },
            )

    def _write_batch_output_when_created(self) -> None:
        """Personalize writes <input file>.out under the job's output path; the fake writes nothing."""
        s3 = self.harness.s3
        create = FakePersonalize.create_batch_inference_job

        def create_and_write(fake: FakePersonalize, **params: Any) -> dict:
            response = create(fake, **params)
            path = params["jobOutput"]["s3DataDestination"]["path"].removeprefix("s3://")
            bucket, prefix = path.split("/", 1)
            s3.put_object(Bucket=bucket, Key=f"{prefix}input.json.out", Body=b'{"input": {"userId": "u1"}}\n')
            return response

        self.harness.monkeypatch.setattr(FakePersonalize, "create_batch_inference_job", create_and_write)

    def run(self, command: list[str]) -> int:
        self.commands.append(command)
        if command[1] == "destroy":
            named = command[2 : command.index("--exclusively")]
            assert named and all(name in self.cloudformation.stacks for name in named), named
            for name in named:
                del self.cloudformation.stacks[name]
            return 0
        if command[1] == "deploy":
            for name in self.deploy_creates:
                self.cloudformation.stacks.setdefault(name, "CREATE_COMPLETE")
            outputs = Path(command[command.index("--outputs-file") + 1])
            outputs.write_text(
                json.dumps(
                    {
                        "Personalize-dev-Data": {"RawBucketName": RAW, "ResultsBucketName": RESULTS},
                        "Personalize-dev-Pipeline": {
                            "StateMachineArn": self.harness.state_machine_arn,
                            "LedgerTableName": self.harness.ledger_table,
                            "NotificationTopicArn": self.topic,
                        },
                        "Personalize-dev-Realtime": {"StreamName": "events", "DeadLetterQueueUrl": self.dlq},
                    }
                )
            )
            return self.deploy_code
        return 0

    def client(self, service: str) -> Any:
        self.services.append(service)
        if service == "cloudformation":
            return self.cloudformation.client()
        if service == "personalize":
            return self.personalize
        if service == "kinesis":
            return self.kinesis
        return boto3.client(service, region_name=REGION)

    def monotonic(self) -> float:
        self.ticks += 1
        return self.ticks

    def seams(self, factory: Any) -> Seams:
        return Seams(
            clients=factory,
            run=self.run,
            now=lambda: self.harness.clock.now().astimezone(UTC),
            sleep=lambda seconds: None,
            monotonic=self.monotonic,
            say=self.say.append,
        )

    def smoke(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(
            ["--env", "dev", *args],
            config_dir=self.config_dir,
            seams=self.seams,
            clients=lambda profile, region: self.client,
            stdout=out,
            stderr=err,
        )
        return code, out.getvalue(), err.getvalue()

    def versions(self, bucket: str, key: str) -> tuple[list[str], list[str]]:
        """(version ids, delete marker ids) of one key."""
        listed = self.harness.s3.list_object_versions(Bucket=bucket, Prefix=key)
        return (
            [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key],
            [m["VersionId"] for m in listed.get("DeleteMarkers", []) if m["Key"] == key],
        )


@pytest.fixture
def world(dev_app, monkeypatch, sandbox_dir):
    with mock_aws(config=MOTO_CONFIG):
        yield World(PipelineHarness(dev_app, monkeypatch), sandbox_dir)


def test_a_smoke_run_deploys_runs_verifies_and_removes_what_it_created(world):
    code, out, _ = world.smoke("--country", "KR")
    assert code == 0, out
    lines = out.splitlines()
    for what in (
        "execution",
        "ledger record",
        "import",
        "solution version",
        "campaign",
        "batch output",
        "PutEvents accepted",
        "notification",
    ):
        assert any(line.startswith(f"ok   {what}: ") for line in lines), (what, out)
    assert lines[-1].startswith("smoke test passed (env dev, country KR, run date 2026-11-15)")

    # the account confirmed first; deploy and destroy through the pinned CLI, without prompts
    assert world.services[0] == "sts"
    deploy, destroy = world.commands
    assert deploy[:6] == [CDK, "deploy", "--all", "-c", "env=dev", "--app"] and "--require-approval" in deploy
    # the stacks this run created, by name, and only those (no --all, no dependent stack pulled in)
    assert destroy[:2] == [CDK, "destroy"] and "--all" not in destroy and destroy[-1] == "--force"
    assert destroy[2 : destroy.index("--exclusively")] == world.harness.synthesised.stack_names
    assert world.cloudformation.stacks == {}

    # one run of KR, started with the schedule's own input
    run = world.harness.ledger_run("KR", "2026-11-15")
    assert run["status"] == "SUCCEEDED"
    (execution,) = world.harness.sfn.list_executions(stateMachineArn=world.harness.state_machine_arn)["executions"]
    started = json.loads(world.harness.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["settings"] == world.harness.schedule_input("KR")["settings"] and started["force"] is True

    # removed: the run's campaigns and solutions (its stacks held them), the sample it uploaded, the queue
    kinds = [kind for kind, _ in world.personalize.deleted]
    assert "campaign" in kinds and "solution" in kinds
    assert kinds.index("campaign") < kinds.index("solution")  # a solution with a campaign cannot be deleted
    left = world.harness.s3.list_object_versions(Bucket=RAW)
    assert "DeleteMarkers" not in left
    # what the pipeline wrote itself (the prepare step's reference upload) is not the smoke run's to delete
    assert {v["Key"].split("/", 1)[0] for v in left.get("Versions", [])} <= {"reference"}
    queues = boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", [])
    assert not [q for q in queues if "smoke" in q]
    assert any("[" in line and "SUCCEEDED" in line for line in world.say)  # progress was shown


def test_keep_leaves_the_sample_in_the_documented_layout_and_runs_no_destroy(world):
    code, out, _ = world.smoke("--keep")
    assert code == 0, out
    assert [c[1] for c in world.commands] == ["deploy"]
    listed = world.harness.s3.list_objects_v2(Bucket=RAW, MaxKeys=1000)["Contents"]
    # reference/genre_mapping/ is the prepare step's own upload
    keys = [o["Key"] for o in listed if not o["Key"].startswith("reference/")]
    tables = {key.split("/", 1)[0] for key in keys}
    assert tables == {"purchases", "views", "users", "contents"}
    # <table>/dt=YYYY-MM-DD/<file>.csv (docs/data-layout.md), the newest partition before the run date
    assert all(len(k.split("/")) == 3 and k.split("/")[1][:3] == "dt=" and k.endswith(".csv") for k in keys)
    assert max(k.split("/")[1] for k in keys) == "dt=2026-11-14"


def test_sample_has_at_least_1000_interactions_for_every_sample_country(tmp_path):
    from dataprep.sample_data import generate

    generate(tmp_path, users=1500, items=200, days=60, end_date="2026-11-15")
    counts = interactions_per_country(tmp_path)
    assert set(counts) >= {"KR", "JP", "US"}
    assert min(counts[c] for c in ("KR", "JP", "US")) >= 1000, counts


def test_events_that_never_reach_personalize_fail_the_smoke_test(dev_app, monkeypatch, sandbox_dir):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), sandbox_dir, delivered=False)
        code, out, _ = world.smoke()
    assert code == 1
    assert "FAIL PutEvents accepted: 0 of 20 records delivered" in out
    assert out.splitlines()[-1].startswith("smoke test FAILED")
    assert [c[1] for c in world.commands] == ["deploy", "destroy"]  # still cleaned up


def test_a_failed_deploy_stops_before_any_data_is_sent_and_removes_the_stacks_it_created(
    dev_app, monkeypatch, sandbox_dir
):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), sandbox_dir, deploy_code=1)
        code, out, _ = world.smoke()
        assert "Contents" not in world.harness.s3.list_objects_v2(Bucket=RAW)
    assert code == 1
    assert "FAIL smoke run: cdk deploy failed with exit code 1" in out
    assert [c[1] for c in world.commands] == ["deploy", "destroy"]
    assert world.cloudformation.stacks == {}


def test_a_failed_deploy_destroys_no_stack_and_deletes_no_object_that_existed_before(dev_app, monkeypatch, sandbox_dir):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), sandbox_dir, deploy_code=1)
        before = {name: "UPDATE_COMPLETE" for name in world.harness.synthesised.stack_names}
        world.cloudformation.stacks.update(before)
        kept = world.harness.s3.put_object(Bucket=RAW, Key=SAMPLE_KEY, Body=b"earlier export\n")["VersionId"]
        world.harness.s3.put_object(Bucket=RESULTS, Key="KR/2026-11-14/batch.json.out", Body=b"{}\n")
        code, out, _ = world.smoke()
        assert world.versions(RAW, SAMPLE_KEY) == ([kept], [])
        assert world.harness.s3.list_objects_v2(Bucket=RESULTS)["KeyCount"] == 1
    assert code == 1 and "FAIL smoke run: cdk deploy failed with exit code 1" in out
    assert [c[1] for c in world.commands] == ["deploy"]  # no destroy at all
    assert world.cloudformation.stacks == before
    assert world.personalize.deleted == []


def test_after_a_failed_deploy_only_the_stacks_this_run_created_are_destroyed(dev_app, monkeypatch, sandbox_dir):
    with mock_aws(config=MOTO_CONFIG):
        world = World(
            PipelineHarness(dev_app, monkeypatch),
            sandbox_dir,
            deploy_code=1,
            deploy_creates=[PIPELINE_STACK, REALTIME_STACK],
        )
        world.cloudformation.stacks.update({name: "CREATE_COMPLETE" for name in [DATA_STACK, *COUNTRY_STACKS]})
        code, _, _ = world.smoke()
    assert code == 1
    _, destroy = world.commands
    assert destroy[2 : destroy.index("--exclusively")] == [PIPELINE_STACK, REALTIME_STACK]
    assert "--all" not in destroy
    assert sorted(world.cloudformation.stacks) == sorted([DATA_STACK, *COUNTRY_STACKS])
    assert world.personalize.deleted == []  # the country stacks (the dataset groups) were not this run's


def test_clean_up_deletes_only_the_object_versions_this_run_uploaded(dev_app, monkeypatch, sandbox_dir):
    """A key the sample shares with an earlier upload keeps the earlier version; nothing else is touched."""
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), sandbox_dir, kinesis_refuses=True)
        s3 = world.harness.s3
        kept = s3.put_object(Bucket=RAW, Key=SAMPLE_KEY, Body=b"earlier export\n")["VersionId"]
        other = s3.put_object(Bucket=RAW, Key="exports/2026-11-01.csv", Body=b"a,b\n")["VersionId"]
        s3.put_object(Bucket=RESULTS, Key="KR/2026-11-14/batch.json.out", Body=b"{}\n")
        code, out, _ = world.smoke()
        assert code == 1 and "FAIL smoke run: Kinesis refused 20 of 20 records" in out  # after the upload
        assert world.versions(RAW, SAMPLE_KEY) == ([kept], [])  # the run's version gone, the earlier one current
        assert s3.get_object(Bucket=RAW, Key=SAMPLE_KEY)["Body"].read() == b"earlier export\n"
        assert world.versions(RAW, "exports/2026-11-01.csv") == ([other], [])
        left = s3.list_object_versions(Bucket=RAW)
        assert sorted(v["Key"] for v in left["Versions"]) == sorted(["exports/2026-11-01.csv", SAMPLE_KEY])
        assert "DeleteMarkers" not in left
        assert s3.list_objects_v2(Bucket=RESULTS)["KeyCount"] == 1


def test_an_account_other_than_the_configs_is_refused_before_any_call(dev_app, monkeypatch, tmp_path):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), sandbox_config(tmp_path, account="000000000000"))
        code, out, err = world.smoke()
        assert "Contents" not in world.harness.s3.list_objects_v2(Bucket=RAW)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("personalize-smoke: refused: ")
    assert f"credentials are for account {ACCOUNT}" in err and "000000000000" in err
    assert world.services == ["sts"]  # GetCallerIdentity and nothing else
    assert world.commands == []


def test_credentials_that_cannot_be_confirmed_are_refused_in_one_line(sandbox_dir):
    from botocore.exceptions import NoCredentialsError

    class NoCredentials:
        def get_caller_identity(self) -> dict:
            raise NoCredentialsError()

    asked: list[str] = []

    def clients(service: str) -> Any:
        asked.append(service)
        return NoCredentials()

    def no_command(command: list[str]) -> int:
        raise AssertionError(f"ran {command}")

    err = io.StringIO()
    code = cli.main(
        ["--env", "dev"],
        config_dir=sandbox_dir,
        seams=lambda factory: Seams(clients=factory, run=no_command),
        clients=lambda *a: clients,
        stderr=err,
    )
    assert code == 2 and asked == ["sts"]
    assert err.getvalue() == (
        "personalize-smoke: refused: could not confirm the account with STS (Unable to locate credentials): "
        "nothing was called\n"
    )


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_an_env_that_is_not_a_sandbox_is_refused_in_one_line_even_for_a_dry_run(env):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        ["--env", env, "--dry-run"],
        stdout=out,
        stderr=err,
        clients=lambda *a: pytest.fail("a refused env creates no client"),
    )
    assert code == 2 and out.getvalue() == ""
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith(f"personalize-smoke: refused: env {env} is not a sandbox ")
    assert "sandbox: true" in err.getvalue() and "docs/smoke.md" in err.getvalue()


def test_the_stacks_smoke_may_destroy_are_named_as_the_app_names_them(dev_app):
    from tools.smoke.ownership import env_stack_names

    assert env_stack_names(load_config("dev")) == dev_app.stack_names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "nope"], "unknown env 'nope'"),
        (["--env", "dev", "--country", "FR"], "unknown country 'FR' for env dev (countries: KR, JP, US)"),
        (["--env", "dev", "--timeout-minutes", "0"], "--timeout-minutes must be >= 1"),
        (["--env", "dev", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: --env"),
    ],
)
def test_argument_errors_are_one_line_and_exit_2(args, message, sandbox_dir):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        args,
        config_dir=sandbox_dir,
        stdout=out,
        stderr=err,
        clients=lambda *a: pytest.fail("no client on bad arguments"),
    )
    assert code == 2
    assert err.getvalue().count("\n") == 1 and message in err.getvalue()
    assert err.getvalue().startswith("personalize-smoke: error: ")


def test_dry_run_prints_the_plan_and_calls_nothing(sandbox_dir):
    out = io.StringIO()
    code = cli.main(
        ["--env", "dev", "--dry-run", "--country", "jp"],
        config_dir=sandbox_dir,
        stdout=out,
        clients=lambda *a: pytest.fail("--dry-run must not create clients"),
    )
    assert code == 0
    plan = out.getvalue()
    assert f"account: STS GetCallerIdentity must return {ACCOUNT}" in plan
    assert f"deploy: {CDK} deploy --all -c env=dev" in plan
    assert "schedule personalize-dev-jp-daily" in plan and "20 JP events" in plan
    assert "cdk destroy <the stacks this run created> --exclusively -c env=dev" in plan and "--force" in plan
    assert "--all" not in next(line for line in plan.splitlines() if line.startswith("remove:"))
