"""The replay tool's test world: the pipeline harness (moto Step Functions executing the synthesised
definition, fake Personalize on a simulated clock), the env's schedules in moto's Scheduler, the redrive fake
in front of moto's Step Functions, and a way to call the CLI in-process and read what it printed.

Every Step Functions call, the CLI's and the pipeline Lambdas' alike, goes through the redrive fake, so a
redriven execution looks the same to both (same ARN, RUNNING again, redriveCount 1). The fake also plays
the EventBridge rule: an unsuccessful end reaches the failure recorder (ledger + notification).
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from common import clients
from testkit.fakes.redrive import RedrivableStepFunctions
from testkit.pipeline_harness import REGION, PipelineHarness, resources_of
from testkit.shared_clients import SharedClients
from tools.replay import cli
from tools.replay.aws import AwsClients

SUNDAY = "2026-11-15"  # a full-training day for every country of the dev config
UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Hold:
    reached: threading.Event  # the execution is inside the held handler now
    released: threading.Event  # set it to let the handler run

    def wait_reached(self) -> None:
        assert self.reached.wait(20), "the held handler was never invoked"

    thread: threading.Thread | None = None

    def release(self) -> None:
        self.released.set()
        if self.thread:
            self.thread.join(30)


class FakeTerminal(io.StringIO):
    """stdin of an engineer at a terminal who answers the confirmation prompt."""

    def isatty(self) -> bool:
        return True


def invoke(argv: list[str], *, clients: Any = AwsClients, stdin: io.StringIO | None = None, now: Any = None) -> Result:
    """Run the CLI in-process with the given client factory; returns its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    runtime = cli.Runtime(
        clients=clients,
        stdin=stdin or io.StringIO(""),
        stdout=out,
        stderr=err,
        poll_seconds=0.02,
        **({"now": now} if now else {}),
    )
    code = cli.main(argv, runtime=runtime)
    return Result(code, out.getvalue(), err.getvalue())


class ReplayClients(SharedClients):
    """The CLI's client factory with Step Functions replaced by the redrive fake (moto underneath)."""

    def __init__(self, profile: str | None, region: str | None, *, sfn: RedrivableStepFunctions) -> None:
        super().__init__(profile, region)
        self._sfn = sfn

    def stepfunctions(self) -> Any:
        return self._sfn


class ReplayWorld:
    def __init__(self, harness: PipelineHarness, monkeypatch) -> None:
        self.harness = harness
        self.monkeypatch = monkeypatch
        self.now = datetime.now(UTC)  # what the CLI takes for "now" (tests move it to check the 14-day rule)
        self.sfn = RedrivableStepFunctions(harness.sfn, now=lambda: self.now, on_status_change=self._deliver)
        monkeypatch.setattr(clients, "stepfunctions", lambda: self.sfn)
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.delivered: list[tuple[str, str]] = []
        self._create_schedules()

    # ------------------------------------------------------------------------------------ set-up

    def _create_schedules(self) -> None:
        """The synthesised AWS::Scheduler::Schedule resources, as CloudFormation would create them."""
        machines = resources_of(self.harness.template, "AWS::StepFunctions::StateMachine")
        for schedule in resources_of(self.harness.template, "AWS::Scheduler::Schedule").values():
            props = schedule["Properties"]
            target = props["Target"]
            assert target["Arn"]["Ref"] in machines, "a schedule must start this stack's state machine"
            country = props["Name"].split("-")[-2].upper()
            raw_input = self.harness.schedule_input(country)  # Input with every intrinsic resolved
            self.scheduler.create_schedule(
                Name=props["Name"],
                Description=props["Description"],
                ScheduleExpression=props["ScheduleExpression"],
                ScheduleExpressionTimezone=props["ScheduleExpressionTimezone"],
                FlexibleTimeWindow=props["FlexibleTimeWindow"],
                State=props["State"],
                Target={
                    "Arn": self.harness.state_machine_arn,
                    "RoleArn": self.harness.role_arn,
                    "Input": json.dumps(raw_input),
                    "RetryPolicy": target["RetryPolicy"],
                },
            )

    def _deliver(self, execution_arn: str, status: str) -> None:
        self.delivered.append((execution_arn, status))
        self.harness.deliver_status_change(SimpleNamespace(arn=execution_arn, status=status))

    # ------------------------------------------------------------------------------------ running

    def cli(self, *args: str, answer: str | None = None, tty: bool = True) -> Result:
        """Run `personalize-runs <args>` in-process (region given, as dev's config names none)."""
        stdin = FakeTerminal(answer or "") if tty else io.StringIO(answer or "")
        argv = list(args)
        if "--region" not in argv:
            argv += ["--region", REGION]
        return invoke(
            argv,
            clients=lambda profile, region: ReplayClients(profile, region, sfn=self.sfn),
            stdin=stdin,
            now=lambda: self.now,
        )

    def start(self, country: str = "KR", run_date: str = SUNDAY, **kwargs: Any) -> str:
        return self.harness.start(country, run_date=run_date, **kwargs)

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        """Poll through the fake (which delivers failures to the recorder) until the execution ends."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(execution_arn)
            time.sleep(0.02)

    def run(self, country: str = "KR", run_date: str = SUNDAY, **kwargs: Any) -> dict[str, Any]:
        return self.wait(self.start(country, run_date, **kwargs))

    def fail_at(self, step: str, reason: str | None = None) -> str:
        """Script the next run to fail at `step` (once); returns the failure reason to expect."""
        return self.harness.fail_at(step, reason)

    def held(self, call: Any, **kwargs: Any) -> Hold:
        """Run `call(**kwargs)` in a thread and keep its execution in the next Wait state until released.

        The harness runs executions inside StartExecution (and the redrive fake inside RedriveExecution),
        so a RUNNING execution needs a thread of its own; it is held in a Wait state, not in a Lambda task,
        because moto answers other calls meanwhile only then.
        """
        hold = Hold(threading.Event(), threading.Event())
        original = WaitFunction._wait_interval  # the harness's simulated-clock wait

        def wait(wait_function, env, wait_seconds):
            if not hold.reached.is_set():
                hold.reached.set()
                hold.released.wait(30)
            return original(wait_function, env, wait_seconds)

        self.monkeypatch.setattr(WaitFunction, "_wait_interval", wait)
        hold.thread = threading.Thread(target=call, kwargs=kwargs, daemon=True)
        hold.thread.start()
        hold.wait_reached()
        return hold

    def start_held(self, country: str = "KR", run_date: str = SUNDAY) -> tuple[str, Hold]:
        """Start a run that stays RUNNING (in its first Wait state) until released; returns (ARN, hold)."""
        name = f"{country}-{run_date}-held"
        payload = {**self.harness.schedule_input(country), "run_date": run_date}
        payload.pop("scheduled_time", None)
        hold = self.held(
            self.harness.sfn.start_execution,
            stateMachineArn=self.harness.state_machine_arn,
            name=name,
            input=json.dumps(payload),
        )
        return self.harness.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name, hold

    # ------------------------------------------------------------------------------------ reading

    def ledger(self, country: str = "KR", run_date: str = SUNDAY) -> dict[str, Any] | None:
        return self.harness.ledger_run(country, run_date)

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.harness.state_machine_arn)["executions"]

    def creates(self) -> dict[str, int]:
        return self.harness.creates()
