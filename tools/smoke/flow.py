"""The smoke run itself: confirm the account, deploy, sample, run, events, checks, clean-up.

What it checks is in tools/smoke/checks.py. The clean-up (tools/smoke/cleanup.py) removes what this run made and
nothing else: the stacks that did not exist before its deploy, the object versions it uploaded, the queue it created
(tools/smoke/ownership.py); docs/smoke.md lists what it leaves. The cdk command lines: tools/smoke/cdk.py.

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

from common.event_kinds import EventKind
from stacks.config import Country, EnvironmentConfig
from tools.smoke.cdk import ROOT, deploy_command, destroy_command
from tools.smoke.checks import queue_depth, verify
from tools.smoke.cleanup import remove
from tools.smoke.errors import SmokeFailed
from tools.smoke.guard import confirm_account
from tools.smoke.ownership import KeyTaken, Upload, check_free, env_stack_names, live_stacks, upload

SAMPLE_COUNTRIES = ("KR", "JP", "US")  # the countries dataprep.sample_data writes users for
MIN_INTERACTIONS = 1_000  # Personalize's minimum per import and training
EVENTS_PER_SESSION = 2  # one anonymous view, then one with the user id (links the session)


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
            verify(self, status, sent)
        except (SmokeFailed, KeyTaken) as error:
            self.verified.append(("smoke run", False, str(error)))
        except (BotoCoreError, ClientError) as error:
            self.verified.append(("smoke run", False, " ".join(str(error).split())))
        finally:
            if self.options.keep:
                self.seams.say("--keep: leaving the deployment, the data and the queue in place")
            else:
                remove(self)
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
            base = {
                "event_type": EventKind.VIEW.value,
                "country": code,
                "session_id": session,
                "timestamp": stamp.isoformat(),
            }
            records.append({**base, "item_id": items[n % len(items)], "event_id": f"{session}-a"})
            records.append(
                {**base, "item_id": items[(n + 1) % len(items)], "user_id": user, "event_id": f"{session}-b"}
            )
        self.events_sent_at = stamp
        self.dead_letters_before = queue_depth(self, self.outputs.get("DeadLetterQueueUrl"))
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

    def check(self, what: str, ok: bool, detail: str) -> None:
        self.verified.append((what, ok, detail))


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
