"""The smoke run itself: confirm the account, deploy, sample, run, events, checks, clean-up.

The clean-up removes what this run made and nothing else: the stacks that did not exist before its deploy, the
object versions it uploaded, the queue it created (tools/smoke/ownership.py); docs/smoke.md lists what it leaves.

`Seams` is everything it touches outside itself: `clients(service)` returns a boto3 client (tests: moto and the
fakes), `run(command)` runs a cdk command line and returns its exit code (tests: a recorder),
`now`/`sleep`/`monotonic` the clock, `say` the progress output.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import Country, EnvironmentConfig
from tools.smoke.guard import confirm_account
from tools.smoke.ownership import (
    KeyTaken,
    Upload,
    check_free,
    country_stack_name,
    delete_uploads,
    env_stack_names,
    live_stacks,
    upload,
)

ROOT = Path(__file__).resolve().parents[2]
CDK = str(ROOT / "node_modules" / ".bin" / "cdk")
SAMPLE_COUNTRIES = ("KR", "JP", "US")  # the countries dataprep.sample_data writes users for
MIN_INTERACTIONS = 1_000  # Personalize's minimum per import and training
EVENTS_PER_SESSION = 2  # one anonymous view, then one with the user id (links the session)
METRICS_NAMESPACE = "PersonalizeRecommendations"
INGEST_SERVICE = "realtime-ingest"


@dataclass(frozen=True)
class Options:
    country: Country
    keep: bool = False
    timeout: timedelta = timedelta(hours=6)
    poll_seconds: float = 60.0
    sessions: int = 10
    users: int = 1500
    items: int = 200
    days: int = 60


@dataclass
class Seams:
    clients: Callable[[str], Any]
    run: Callable[[list[str]], int] = field(default=lambda command: subprocess.run(command, cwd=ROOT).returncode)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))


class SmokeFailed(Exception):
    """A step or check failed; the message is one line for the person running the smoke test."""


def _app(env: str) -> list[str]:
    return ["-c", f"env={env}", "--app", f"{sys.executable} app.py"]


def deploy_command(env: str, outputs_file: Path) -> list[str]:
    """The pinned CLI, as `make deploy` runs it, without prompts."""
    return [CDK, "deploy", "--all", *_app(env), "--require-approval", "never", "--outputs-file", str(outputs_file)]


def destroy_command(env: str, stacks: list[str]) -> list[str]:
    """Only the named stacks. `cdk destroy --exclusively`: "Only destroy requested stacks and don't include
    dependencies" (CDK CLI reference); without it a named stack would bring the stacks that depend on it."""
    if not stacks:
        raise ValueError("no stack to destroy")
    return [CDK, "destroy", *stacks, "--exclusively", *_app(env), "--force"]


def schedule_name(config: EnvironmentConfig, country: Country) -> str:
    return f"{config.name_prefix}-{country.slug}-daily"


def plan(config: EnvironmentConfig, options: Options, outputs_file: Path) -> list[str]:
    """What a run does, in order (`--dry-run` prints this and calls nothing)."""
    cc = options.country.code
    lines = [
        f"account: STS GetCallerIdentity must return {config.account} (the sandbox's account), else nothing is called",
        f"stacks: note which of {', '.join(env_stack_names(config))} exist already: those are never destroyed",
        f"deploy: {' '.join(deploy_command(config.env, outputs_file))}",
        f"sample: dataprep.sample_data ({options.users} users, {options.items} items, {options.days} days ending on "
        f"today's date in {options.country.time_zone}) -> s3://<RawBucketName>/<table>/dt=YYYY-MM-DD/*.csv, "
        "each upload's version id recorded",
        "notification: a temporary SQS queue subscribed to the env's notification topic",
        f"events: {options.sessions * EVENTS_PER_SESSION} {cc} events ({options.sessions} sessions) -> Kinesis "
        "<StreamName>, partition key session_id",
        f"run: StartExecution with the input of schedule {schedule_name(config, options.country)} "
        "(scheduled_time = now, force)",
        f"wait: until the execution ends, at most {options.timeout}, polling every {options.poll_seconds:g} s",
        "verify: import, solution version, campaign, batch output, PutEvents accepted, ledger record, notification",
    ]
    if options.keep:
        lines.append("keep: nothing is removed (--keep)")
    else:
        destroy = destroy_command(config.env, ["<the stacks this run created>"])
        lines.append(
            "remove: the queue, the object versions this run uploaded, the campaigns and solutions of a country "
            f"stack this run created, then {' '.join(destroy)} (nothing when it created none)"
        )
    return lines


class Smoke:
    def __init__(self, config: EnvironmentConfig, options: Options, seams: Seams, workdir: Path) -> None:
        self.config = config
        self.options = options
        self.seams = seams
        self.workdir = workdir
        self.outputs: dict[str, str] = {}
        self.verified: list[tuple[str, bool, str]] = []
        self.queue_url: str | None = None
        self.subscription_arn: str | None = None
        self.execution_arn: str | None = None
        self.record: dict[str, Any] | None = None
        self.run_date: date | None = None
        self.sample_dir = workdir / "sample"
        self.stacks_before: set[str] | None = None  # None: unknown, so no stack counts as this run's
        self.uploads: list[Upload] = []

    # ------------------------------------------------------------------------------------------ flow

    def execute(self) -> bool:
        """Everything in order; True when every check passed. Removes what it created unless --keep.

        Raises guard.Refused, having called nothing but STS, when the env is not a sandbox or the credentials
        are for another account."""
        confirm_account(self.config, self.client("sts"))
        try:
            self.stacks_before = live_stacks(self.client("cloudformation"), env_stack_names(self.config))
            self.deploy()
            self.subscribe()
            self.upload_sample()
            sent = self.send_events()
            self.start()
            status = self.wait()
            self.verify(status, sent)
        except (SmokeFailed, KeyTaken) as error:
            self.verified.append(("smoke run", False, str(error)))
        except (BotoCoreError, ClientError) as error:
            self.verified.append(("smoke run", False, " ".join(str(error).split())))
        finally:
            if self.options.keep:
                self.seams.say("--keep: leaving the deployment, the data and the queue in place")
            else:
                self.remove()
        return all(ok for _, ok, _ in self.verified)

    def client(self, service: str) -> Any:
        return self.seams.clients(service)

    def deploy(self) -> None:
        outputs_file = self.workdir / "outputs.json"
        kept = ", ".join(sorted(self.stacks_before or ())) or "none"
        self.seams.say(f"deploying (cdk deploy --all); stacks that exist already and are never destroyed: {kept}")
        code = self.seams.run(deploy_command(self.config.env, outputs_file))
        if code != 0:
            raise SmokeFailed(f"cdk deploy failed with exit code {code}")
        stacks = json.loads(outputs_file.read_text())
        self.outputs = {key: value for outputs in stacks.values() for key, value in outputs.items()}
        missing = [
            key
            for key in ("RawBucketName", "ResultsBucketName", "StateMachineArn", "LedgerTableName", "StreamName")
            if key not in self.outputs
        ]
        if missing:
            raise SmokeFailed(f"stack outputs missing: {', '.join(missing)}")

    def subscribe(self) -> None:
        topic = self.outputs.get("NotificationTopicArn")
        if not topic:
            self.seams.say("no NotificationTopicArn output: the notification cannot be checked")
            return
        sqs = self.client("sqs")
        stamp = self.seams.now().strftime("%Y%m%d%H%M%S")
        self.queue_url = sqs.create_queue(QueueName=f"{self.config.name_prefix}-smoke-{stamp}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
        self.subscription_arn = self.client("sns").subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
        )["SubscriptionArn"]

    def upload_sample(self) -> None:
        from dataprep.sample_data import generate

        country = self.options.country
        self.run_date = self.seams.now().astimezone(ZoneInfo(country.time_zone)).date()
        generate(
            self.sample_dir,
            users=self.options.users,
            items=self.options.items,
            days=self.options.days,
            end_date=self.run_date,
        )
        interactions = interactions_per_country(self.sample_dir).get(country.code, 0)
        if interactions < MIN_INTERACTIONS:
            raise SmokeFailed(
                f"the sample has {interactions} {country.code} interactions, fewer than Personalize's "
                f"{MIN_INTERACTIONS}: raise --users"
            )
        s3, bucket = self.client("s3"), self.outputs["RawBucketName"]
        files = {path.relative_to(self.sample_dir).as_posix(): path for path in sorted(self.sample_dir.rglob("*.csv"))}
        check_free(s3, bucket, list(files))
        for key, path in files.items():
            # recorded at once: removed even if a later upload fails
            self.uploads.append(upload(s3, bucket, key, path.read_bytes()))
        self.seams.say(
            f"uploaded {len(files)} sample files to s3://{bucket}/ ({interactions} {country.code} interactions, "
            f"run date {self.run_date})"
        )

    def send_events(self) -> int:
        code = self.options.country.code
        locale_country = {locale.split("_")[1] for locale in self.options.country.locales}
        users, items = sample_ids(self.sample_dir, locale_country, self.options.sessions)
        stamp = self.seams.now()
        records = []
        for n, user in enumerate(users):
            session = f"smoke-{stamp:%H%M%S}-{n}"
            base = {"event_type": "view", "country": code, "session_id": session, "timestamp": stamp.isoformat()}
            records.append({**base, "item_id": items[n % len(items)], "event_id": f"{session}-a"})
            records.append(
                {**base, "item_id": items[(n + 1) % len(items)], "user_id": user, "event_id": f"{session}-b"}
            )
        self.events_sent_at = stamp
        self.dead_letters_before = self._queue_depth(self.outputs.get("DeadLetterQueueUrl"))
        response = self.client("kinesis").put_records(
            StreamName=self.outputs["StreamName"],
            Records=[{"Data": json.dumps(r).encode(), "PartitionKey": r["session_id"]} for r in records],
        )
        if response.get("FailedRecordCount"):
            raise SmokeFailed(f"Kinesis refused {response['FailedRecordCount']} of {len(records)} records")
        self.seams.say(f"sent {len(records)} events to Kinesis stream {self.outputs['StreamName']}")
        return len(records)

    def start(self) -> None:
        schedule = self.client("scheduler").get_schedule(Name=schedule_name(self.config, self.options.country))
        payload = json.loads(schedule["Target"]["Input"])
        # The schedule's input with the time a scheduled start would carry now; force: today may have run already.
        payload["scheduled_time"] = self.seams.now().isoformat()
        payload["force"] = True
        name = f"smoke-{self.options.country.code}-{self.seams.now():%Y%m%dT%H%M%S}"
        self.execution_arn = self.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs["StateMachineArn"], name=name, input=json.dumps(payload)
        )["executionArn"]
        self.seams.say(f"started {self.execution_arn}")

    def wait(self) -> str:
        sfn = self.client("stepfunctions")
        started = self.seams.monotonic()
        deadline = started + self.options.timeout.total_seconds()
        last = None
        while True:
            status = sfn.describe_execution(executionArn=self.execution_arn)["status"]
            state = self._current_state(sfn)
            minutes = int((self.seams.monotonic() - started) // 60)
            if (status, state) != last:
                self.seams.say(f"[{minutes:>4} min] {status}: {state or '-'}")
                last = (status, state)
            if status != "RUNNING":
                return status
            if self.seams.monotonic() >= deadline:
                raise SmokeFailed(f"the run did not end within {self.options.timeout} (last state {state})")
            self.seams.sleep(self.options.poll_seconds)

    def _current_state(self, sfn: Any) -> str | None:
        events = sfn.get_execution_history(executionArn=self.execution_arn, reverseOrder=True, maxResults=20)
        for event in events["events"]:
            details = event.get("stateEnteredEventDetails")
            if details:
                return details["name"]
        return None

    # ---------------------------------------------------------------------------------------- checks

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.verified.append((what, ok, detail))

    def verify(self, status: str, sent: int) -> None:
        self.check("execution", status == "SUCCEEDED", f"{status}: {self.execution_arn}")
        self._verify_ledger()
        steps = (self.record or {}).get("steps") or {}
        self._verify_jobs(steps, "import", "dataset-import-job", "import")
        self._verify_jobs(steps, "train", "solution-version", "solution version")
        if self.options.country.campaign.enabled:
            self._verify_jobs(steps, "promote", "campaign", "campaign")
        else:
            self.check("campaign", True, f"not configured for {self.options.country.code} (campaign.enabled false)")
        self._verify_batch_output()
        self._verify_put_events(sent)
        self._verify_notification()

    def _verify_ledger(self) -> None:
        from pipeline.ledger import decode_item

        code, run_date = self.options.country.code, str(self.run_date)
        item = self.client("dynamodb").get_item(
            TableName=self.outputs["LedgerTableName"],
            Key={"pk": {"S": f"RUN#{code}"}, "sk": {"S": run_date}},
            ConsistentRead=True,
        )
        self.record = decode_item(item["Item"]) if "Item" in item else None
        status = (self.record or {}).get("status")
        self.check("ledger record", status == "SUCCEEDED", f"RUN#{code} {run_date}: {status or 'missing'}")

    def _verify_jobs(self, steps: dict[str, Any], step: str, kind: str, what: str) -> None:
        jobs = [job for job in _jobs(steps, step) if arn_kind(job["arn"]) == kind]
        if not jobs:
            self.check(what, False, f"no {kind} in the ledger's {step} step")
            return
        personalize = self.client("personalize")
        describe = {
            "dataset-import-job": lambda arn: personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
                "datasetImportJob"
            ],
            "solution-version": lambda arn: personalize.describe_solution_version(solutionVersionArn=arn)[
                "solutionVersion"
            ],
            "campaign": lambda arn: personalize.describe_campaign(campaignArn=arn)["campaign"],
        }[kind]
        statuses = {job["arn"]: describe(job["arn"])["status"] for job in jobs}
        ok = all(status == "ACTIVE" for status in statuses.values())
        self.check(what, ok, ", ".join(f"{arn.rsplit('/', 1)[-1]} {status}" for arn, status in statuses.items()))

    def _verify_batch_output(self) -> None:
        bucket, prefix = self.outputs["ResultsBucketName"], f"{self.options.country.code}/{self.run_date}/"
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        outputs = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".out")]
        self.check("batch output", bool(outputs), f"{len(outputs)} .out file(s) under s3://{bucket}/{prefix}")

    def _verify_put_events(self, sent: int) -> None:
        """The ingest function's own count of events Personalize accepted (its EMF metric), and no dead letter."""
        cloudwatch = self.client("cloudwatch")
        delivered = 0.0
        for _ in range(10):  # metrics appear a minute or two after the invocation
            points = cloudwatch.get_metric_statistics(
                Namespace=METRICS_NAMESPACE,
                MetricName="RecordsDelivered",
                Dimensions=[{"Name": "service", "Value": INGEST_SERVICE}],
                StartTime=self.events_sent_at - timedelta(minutes=5),
                EndTime=self.seams.now() + timedelta(minutes=5),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            delivered = sum(p["Sum"] for p in points)
            if delivered >= sent:
                break
            self.seams.sleep(30)
        dead = self._queue_depth(self.outputs.get("DeadLetterQueueUrl")) - self.dead_letters_before
        self.check(
            "PutEvents accepted",
            delivered >= sent and dead <= 0,
            f"{delivered:g} of {sent} records delivered, {max(dead, 0)} new dead letter(s)",
        )

    def _queue_depth(self, url: str | None) -> int:
        if not url:
            return 0
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _verify_notification(self) -> None:
        if not self.queue_url:
            self.check("notification", False, "no notification topic to subscribe to")
            return
        wanted = f"{self.options.country.code} {self.run_date}"
        sqs = self.client("sqs")
        for _ in range(6):
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=10).get(
                "Messages", []
            )
            for message in messages:
                body = json.loads(message["Body"])
                if wanted in (body.get("Subject") or ""):
                    self.check("notification", True, body["Subject"])
                    return
            if not messages:
                self.seams.sleep(5)
        self.check("notification", False, f"no message with subject containing {wanted!r}")

    # -------------------------------------------------------------------------------------- clean-up

    def remove(self) -> None:
        """Best effort, each part on its own: a failure is reported and the rest still runs. Removes only what
        this run made: a stack that existed before its deploy is kept, whatever happened to the deploy."""
        created: list[str] = []
        try:
            created = self._created_stacks()
        except Exception as error:  # noqa: BLE001  (then no stack counts as this run's: none is destroyed)
            self.verified.append(("remove stacks", False, f"could not tell which stacks this run created: {error}"))
        for what, action in (
            ("notification queue", self._remove_queue),
            ("Personalize campaigns and solutions", lambda: self._remove_personalize(created)),
            ("uploaded objects", self._delete_uploads),
            ("stacks", lambda: self._destroy(created)),
        ):
            try:
                action()
            except Exception as error:  # noqa: BLE001  (clean-up reports every failure and goes on)
                self.seams.say(f"could not remove {what}: {error}")
                self.verified.append((f"remove {what}", False, str(error)))
        if created and self.config.env != "dev":
            self.seams.say(
                f"env {self.config.env} keeps its buckets, key, ledger, stream and queues on stack deletion "
                "(RETAIN): delete them by hand in a sandbox"
            )

    def _created_stacks(self) -> list[str]:
        """The env's stacks that exist now and did not before this run's deploy (none if that is unknown)."""
        if self.stacks_before is None:
            return []
        names = env_stack_names(self.config)
        now = live_stacks(self.client("cloudformation"), names)
        return [name for name in names if name in now and name not in self.stacks_before]

    def _remove_queue(self) -> None:
        if self.subscription_arn and self.subscription_arn.startswith("arn:"):
            self.client("sns").unsubscribe(SubscriptionArn=self.subscription_arn)
        if self.queue_url:
            self.client("sqs").delete_queue(QueueUrl=self.queue_url)

    def _remove_personalize(self, created: list[str]) -> None:
        """Campaigns and solutions are created by the pipeline, not by the stacks: they block the dataset group.
        Only in a dataset group this run created (its country stack): in an older one the run may have updated a
        campaign or trained a solution that existed before it."""
        if country_stack_name(self.config, self.options.country) not in created:
            return
        steps = (self.record or {}).get("steps") or {}
        personalize = self.client("personalize")
        campaigns = [j["arn"] for j in _jobs(steps, "promote") if arn_kind(j["arn"]) == "campaign"]
        # A version's ARN is its solution's ARN + "/<version id>".
        solutions = sorted({solution_arn(j["arn"]) for j in _jobs(steps, "train") if j["arn"].count("/") >= 1})
        for arn in campaigns:
            personalize.delete_campaign(campaignArn=arn)
        for arn in solutions:
            personalize.delete_solution(solutionArn=arn)
        self.seams.say(f"deleted {len(campaigns)} campaign(s) and {len(solutions)} solution(s)")

    def _delete_uploads(self) -> None:
        if self.uploads:
            deleted = delete_uploads(self.client("s3"), self.uploads)
            self.seams.say(f"deleted the {deleted} object version(s) this run uploaded")

    def _destroy(self, created: list[str]) -> None:
        if not created:
            self.seams.say("this run created no stack: none destroyed")
            return
        self.seams.say(f"destroying the stacks this run created: {', '.join(created)}")
        code = self.seams.run(destroy_command(self.config.env, created))
        if code != 0:
            raise SmokeFailed(f"cdk destroy failed with exit code {code}")


def _jobs(steps: dict[str, Any], step: str) -> list[dict[str, Any]]:
    """The ledger's jobs of one step that have an ARN (a job waiting for a quota slot has none)."""
    return [job for job in ((steps.get(step) or {}).get("jobs") or {}).values() if job.get("arn")]


def arn_kind(arn: str) -> str:
    """arn:aws:personalize:<region>:<account>:<type>/<name>[/<version id>] -> type (solution-version for a version)."""
    parts = arn.split(":", 5)[-1].split("/")
    return "solution-version" if parts[0] == "solution" and len(parts) == 3 else parts[0]


def solution_arn(arn: str) -> str:
    prefix, resource = arn.rsplit(":", 1)
    return f"{prefix}:{'/'.join(resource.split('/')[:2])}"


def interactions_per_country(sample_dir: Path) -> dict[str, int]:
    """Purchases + views per country of the user's locale, as preparation assigns them (docs/data-layout.md)."""
    country_of: dict[str, str] = {}
    for path in sorted(sample_dir.glob("users/dt=*/*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                locale = (row.get("locale") or "").replace("-", "_")
                if "_" in locale:
                    country_of[row["user_id"]] = locale.split("_")[1].upper()
    counts: dict[str, int] = {}
    for table in ("purchases", "views"):
        for path in sample_dir.glob(f"{table}/dt=*/*.csv"):
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    country = country_of.get(row["user_id"])
                    if country:
                        counts[country] = counts.get(country, 0) + 1
    return counts


def sample_ids(sample_dir: Path, countries: set[str], n: int) -> tuple[list[str], list[str]]:
    """`n` user ids of the country and some item ids from the sample, for the events."""
    users: list[str] = []
    for path in sorted(sample_dir.glob("users/dt=*/*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                locale = (row.get("locale") or "").replace("-", "_")
                if "_" in locale and locale.split("_")[1].upper() in countries and row["user_id"] not in users:
                    users.append(row["user_id"])
        if len(users) >= n:
            break
    items: list[str] = []
    for path in sorted(sample_dir.glob("contents/dt=*/*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            items.extend(row["item_id"] for row in csv.DictReader(handle) if row.get("item_id"))
        if len(items) >= n:
            break
    if not users or not items:
        raise SmokeFailed("the sample has no users or items for the country")
    return users[:n], items[: max(n, 2)]


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="personalize-smoke-"))
