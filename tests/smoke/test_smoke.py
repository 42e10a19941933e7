"""`make smoke` offline: the whole flow against moto (s3, kinesis, stepfunctions, dynamodb, scheduler, sqs, sns,
cloudwatch) and the fake Personalize, with the synthesised dev pipeline executing on moto's Step Functions
(testkit/pipeline_harness.py) and the cdk deploy/destroy commands recorded by a fake runner."""

from __future__ import annotations

import io
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from testkit.fakes.personalize import FakePersonalize
from testkit.pipeline_harness import ACCOUNT, MOTO_CONFIG, REGION, PipelineHarness, resources_of
from tools.smoke import cli
from tools.smoke.flow import CDK, INGEST_SERVICE, METRICS_NAMESPACE, Seams, interactions_per_country

RAW = f"personalize-dev-raw-{ACCOUNT}-{REGION}"
RESULTS = f"personalize-dev-results-{ACCOUNT}-{REGION}"


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
    (moto runs no event source mapping)."""

    def __init__(self, now: Any, delivered: bool = True) -> None:
        self.now = now
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.delivered = delivered

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kinesis, name)

    def put_records(self, **kwargs: Any) -> dict:
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
    def __init__(self, harness: PipelineHarness, *, delivered: bool = True, deploy_code: int = 0) -> None:
        self.harness = harness
        self.commands: list[list[str]] = []
        self.deploy_code = deploy_code
        self.personalize = PersonalizeWithDeletes(harness.personalize)
        self.kinesis = IngestingKinesis(harness.clock.now, delivered)
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
        if command[1] == "deploy":
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
            seams=self.seams,
            clients=lambda profile, region: self.client,
            stdout=out,
            stderr=err,
        )
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def world(dev_app, monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        yield World(PipelineHarness(dev_app, monkeypatch))


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

    # deploy and destroy through the pinned CLI, without prompts
    deploy, destroy = world.commands
    assert deploy[:6] == [CDK, "deploy", "--all", "-c", "env=dev", "--app"] and "--require-approval" in deploy
    assert destroy[:5] == [CDK, "destroy", "--all", "-c", "env=dev"] and destroy[-1] == "--force"

    # one run of KR, started with the schedule's own input
    run = world.harness.ledger_run("KR", "2026-11-15")
    assert run["status"] == "SUCCEEDED"
    (execution,) = world.harness.sfn.list_executions(stateMachineArn=world.harness.state_machine_arn)["executions"]
    started = json.loads(world.harness.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["settings"] == world.harness.schedule_input("KR")["settings"] and started["force"] is True

    # removed: the run's campaigns and solutions, every object, the notification queue
    kinds = [kind for kind, _ in world.personalize.deleted]
    assert "campaign" in kinds and "solution" in kinds
    assert kinds.index("campaign") < kinds.index("solution")  # a solution with a campaign cannot be deleted
    assert "Contents" not in world.harness.s3.list_objects_v2(Bucket=RAW)
    assert "Versions" not in world.harness.s3.list_object_versions(Bucket=RAW)
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


def test_events_that_never_reach_personalize_fail_the_smoke_test(dev_app, monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), delivered=False)
        code, out, _ = world.smoke()
    assert code == 1
    assert "FAIL PutEvents accepted: 0 of 20 records delivered" in out
    assert out.splitlines()[-1].startswith("smoke test FAILED")
    assert [c[1] for c in world.commands] == ["deploy", "destroy"]  # still cleaned up


def test_a_failed_deploy_stops_before_any_data_is_sent_and_still_cleans_up(dev_app, monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        world = World(PipelineHarness(dev_app, monkeypatch), deploy_code=1)
        code, out, _ = world.smoke()
        assert "Contents" not in world.harness.s3.list_objects_v2(Bucket=RAW)
    assert code == 1
    assert "FAIL smoke run: cdk deploy failed with exit code 1" in out


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
def test_argument_errors_are_one_line_and_exit_2(args, message):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(args, stdout=out, stderr=err, clients=lambda *a: pytest.fail("no client on bad arguments"))
    assert code == 2
    assert err.getvalue().count("\n") == 1 and message in err.getvalue()
    assert err.getvalue().startswith("personalize-smoke: error: ")


def test_dry_run_prints_the_plan_and_calls_nothing():
    out = io.StringIO()
    code = cli.main(
        ["--env", "dev", "--dry-run", "--country", "jp"],
        stdout=out,
        clients=lambda *a: pytest.fail("--dry-run must not create clients"),
    )
    assert code == 0
    plan = out.getvalue()
    assert f"deploy: {CDK} deploy --all -c env=dev" in plan
    assert "schedule personalize-dev-jp-daily" in plan and "20 JP events" in plan
    assert "cdk destroy --all -c env=dev" in plan and "--force" in plan
