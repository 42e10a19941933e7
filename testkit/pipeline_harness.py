"""Run the synthesised pipeline state machine locally: moto's Step Functions engine executes the definition
from the synthesised template, our real handlers run in-process for its Lambda tasks, Personalize and
Athena are fakes on a simulated clock, DynamoDB/SNS/SQS/EventBridge/S3 are moto.

What is taken from the synthesis (not rebuilt by hand): the definition (with its substituted ARNs), each
function's handler and environment variables, the ledger table's keys, the schedule's input for a country.
Only the ARNs of resources that live in AWS (Lambda, SNS, cross-stack exports) are mapped to moto/fake ones.

Time: Wait states and retry back-off advance the SimClock instead of sleeping, so 26 simulated hours of
training take well under a second; the fakes read the same clock. That and the patches that make moto's engine
fast are testkit/moto_patches.py: this module creates the app's resources, runs executions and observes them.

Strictness: the engine enforces the rules of AWS's that moto's lacks (testkit/strict_engine.py), so an execution
that would fail on AWS fails here too.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
from moto.core.config import DefaultConfig

from common import clients
from common import clock as clock_module
from pipeline import step_names
from testkit.fakes.athena import FakeAthena
from testkit.fakes.clock import SimClock
from testkit.fakes.personalize import FakePersonalize
from testkit.moto_patches import install_speedups, run_lambdas_in_process, run_on_clock
from testkit.strict_engine import enforce_aws_rules

REGION, ACCOUNT = "us-east-1", "123456789012"
PIPELINE_STACK = "Personalize-dev-Pipeline"
SERVING_STACK = "Personalize-dev-Serving"  # its read model is the table the publish step loads
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def resources_of(template: dict, type_name: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def resolve(node: Any, refs: dict[str, Any]) -> Any:
    """Resolve the intrinsics CDK emits here (Fn::Join, Ref, Fn::GetAtt, Fn::ImportValue) with `refs`."""
    if isinstance(node, list):
        return [resolve(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return separator.join(str(resolve(part, refs)) for part in parts)
    if "Ref" in node:
        return refs[node["Ref"]]
    if "Fn::GetAtt" in node:
        return refs[".".join(node["Fn::GetAtt"])]
    if "Fn::ImportValue" in node:
        return refs[f"import:{node['Fn::ImportValue']}"]
    return {key: resolve(value, refs) for key, value in node.items()}


# (service, region) -> a harness's own client; (service, default region from the environment) -> a handler's
_HARNESS_CLIENTS: dict[tuple[str, str], Any] = {}
_HANDLER_CLIENTS: dict[tuple[str, str | None, str | None], Any] = {}
_new_handler_client = clients.client.__wrapped__


def _harness_client(service: str) -> Any:
    """boto3.client for the harness, made once per test run: mock_aws gives each test a fresh default session,
    so every new client reloads botocore's service model (~30 ms), and the clients hold no per-test state."""
    if (service, REGION) not in _HARNESS_CLIENTS:
        _HARNESS_CLIENTS[service, REGION] = boto3.client(service, region_name=REGION)
    return _HARNESS_CLIENTS[service, REGION]


def _handler_client(service: str) -> Any:
    """common.clients.client made once per test run for the environment's region (what boto3 resolves it from)."""
    key = (service, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION"))
    if key not in _HANDLER_CLIENTS:
        _HANDLER_CLIENTS[key] = _new_handler_client(service)
    return _HANDLER_CLIENTS[key]


def synthesised_definition(outdir, machine: dict, refs: dict[str, Any]) -> str:
    """The definition CloudFormation would create: the staged ASL asset with DefinitionSubstitutions applied."""
    key = machine["Properties"]["DefinitionS3Location"]["Key"]
    text = (outdir / f"asset.{key}").read_text()
    for name, value in machine["Properties"].get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + name + "}", str(resolve(value, refs)))
    return text


@dataclass
class Execution:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    history: list[dict[str, Any]] = field(default_factory=list)

    def states_entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"] for e in self.history if e["type"].endswith("StateEntered")
        ]

    @property
    def transitions(self) -> int:
        return len(self.states_entered())

    @property
    def lambda_invocations(self) -> int:
        return sum(1 for e in self.history if e["type"] == "TaskScheduled")

    @property
    def cause_detail(self) -> dict[str, Any]:
        outer = json.loads(self.cause or "{}")
        return json.loads(outer.get("errorMessage", "{}"))


class PipelineHarness:
    def __init__(self, synthesised, monkeypatch, *, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock(
            datetime(2026, 11, 14, 18, 0, tzinfo=UTC)
        )  # a Saturday, 03:00 in Seoul
        self.monkeypatch = monkeypatch
        self.synthesised = synthesised
        self.template = synthesised.template_json(PIPELINE_STACK)
        self.invocations: list[tuple[str, str]] = []  # (handler, outcome)
        # handler name -> error types its next invocations report instead of running (a crashed runtime,
        # a Lambda service error): e.g. {"train": ["Runtime.ExitError"]}
        self.crash_next: dict[str, list[str]] = {}
        # A config change as the schedules render it: these fields of every country's settings replaced.
        self.settings_changes: dict[str, Any] = {}
        self._setup_aws()
        self.personalize = FakePersonalize(self.clock, region=REGION, account=ACCOUNT)
        self.athena = FakeAthena(self.clock, self.s3)
        self.groups = {
            code: self.personalize.seed_dataset_group(f"personalize-dev-{code.lower()}")
            for code in synthesised.application.countries
        }
        self._patch()
        self._create_state_machine()

    # ------------------------------------------------------------------------------------ set-up

    def _setup_aws(self) -> None:
        clients.client.cache_clear()
        self.monkeypatch.setattr(clients, "client", _handler_client)
        self.sfn = _harness_client("stepfunctions")
        self.s3 = _harness_client("s3")
        self.ddb = _harness_client("dynamodb")
        self.sqs = _harness_client("sqs")
        sns = _harness_client("sns")
        events = _harness_client("events")
        lambda_client = _harness_client("lambda")
        iam = _harness_client("iam")
        role_arn = iam.create_role(RoleName="harness", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.role_arn = role_arn
        refs: dict[str, Any] = dict(PSEUDO)

        for logical_id, table in resources_of(self.template, "AWS::DynamoDB::Table").items():
            props = table["Properties"]
            self.ddb.create_table(
                TableName=props["TableName"],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            refs[logical_id] = props["TableName"]
            self.ledger_table = props["TableName"]

        # The serving stack's read model as deployed (the pipeline names it; the serving stack owns it).
        for table in resources_of(self.synthesised.template_json(SERVING_STACK), "AWS::DynamoDB::Table").values():
            props = table["Properties"]
            self.ddb.create_table(
                TableName=props["TableName"],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            self.read_model_table = props["TableName"]

        self.notifications_queue = self.sqs.create_queue(QueueName="notifications")["QueueUrl"]
        notifications_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.notifications_queue, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for logical_id in resources_of(self.template, "AWS::SNS::Topic"):
            topic_arn = sns.create_topic(Name=logical_id)["TopicArn"]
            refs[logical_id] = topic_arn
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notifications_arn)
        self.events_queue = self.sqs.create_queue(QueueName="events")["QueueUrl"]
        events_arn = self.sqs.get_queue_attributes(QueueUrl=self.events_queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name="capture", EventPattern=json.dumps({"source": ["personalize.pipeline"]}))
        events.put_targets(Rule="capture", Targets=[{"Id": "q", "Arn": events_arn}])

        for bucket in ("prepared", "results", "raw"):
            name = f"personalize-dev-{bucket}-{ACCOUNT}-{REGION}"
            self.s3.create_bucket(Bucket=name)
        # The catalogue as deployed: the prepare step reads and writes the columnar days' partitions.
        self.glue = _harness_client("glue")
        for database in resources_of(self.template, "AWS::Glue::Database").values():
            self.glue.create_database(DatabaseInput=resolve(database["Properties"]["DatabaseInput"], refs))
        for table in resources_of(self.template, "AWS::Glue::Table").values():
            props = resolve(table["Properties"], refs)
            self.glue.create_table(DatabaseName=props["DatabaseName"], TableInput=props["TableInput"])

        self.handlers: dict[str, str] = {}
        self.environments: dict[str, dict[str, str]] = {}
        for logical_id, function in resources_of(self.template, "AWS::Lambda::Function").items():
            props = function["Properties"]
            # zip functions name their handler; container functions (the report step) carry it as CMD
            handler = props.get("Handler") or props["ImageConfig"]["Command"][0]
            arn = lambda_client.create_function(
                FunctionName=logical_id,
                Runtime="python3.12",
                Role=role_arn,
                Handler=handler,
                Code={"ZipFile": b"not used: the harness runs the handler in-process"},
            )["FunctionArn"]
            refs[f"{logical_id}.Arn"] = arn
            self.handlers[logical_id] = handler
        for logical_id, function in resources_of(self.template, "AWS::Lambda::Function").items():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            self.environments[logical_id] = {k: str(resolve(v, refs)) for k, v in variables.items()}
        self.refs = refs

    def _create_state_machine(self) -> None:
        (machine,) = resources_of(self.template, "AWS::StepFunctions::StateMachine").values()
        self.definition = synthesised_definition(self.synthesised.outdir, machine, self.refs)
        self.state_machine_arn = self.sfn.create_state_machine(
            name=machine["Properties"]["StateMachineName"], definition=self.definition, roleArn=self.role_arn
        )["stateMachineArn"]

    def _patch(self) -> None:
        harness = self
        enforce_aws_rules(self.monkeypatch)
        install_speedups(self.monkeypatch)
        run_on_clock(self.monkeypatch, self.clock.advance)
        run_lambdas_in_process(self.monkeypatch, self._invoke)
        self.monkeypatch.setattr(clients, "personalize", lambda: harness.personalize)
        self.monkeypatch.setattr(clients, "athena", lambda: harness.athena)
        self.monkeypatch.setattr(clock_module, "now", self.clock.now)

    def _invoke(self, logical_id: str, body: Any, response_headers: dict) -> bytes:
        handler_path = self.handlers[logical_id]
        module_name, function_name = handler_path.rsplit(".", 1)
        event = json.loads(body) if body else {}
        context = SimpleNamespace(
            function_name=logical_id,
            memory_limit_in_mb=512,
            aws_request_id=f"req-{len(self.invocations)}",
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}",
            get_remaining_time_in_millis=lambda: 300_000,
        )
        # What the Lambda runtime sets for every function, then the function's own variables.
        runtime = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_LAMBDA_FUNCTION_NAME": logical_id}
        for name, value in {**runtime, **self.environments[logical_id]}.items():
            self.monkeypatch.setenv(name, value)
        try:
            scripted = self.crash_next.get(function_name)
            if scripted:
                error_type = scripted.pop(0)
                self.invocations.append((function_name, error_type))
                response_headers["X-Amz-Function-Error"] = "Unhandled"
                return json.dumps(
                    {"errorType": error_type, "errorMessage": f"simulated {error_type}"}
                ).encode()
            handler = getattr(importlib.import_module(module_name), function_name)
            result = handler(event, context)
        except Exception as error:  # what the Lambda runtime reports for an unhandled exception
            self.invocations.append((function_name, type(error).__name__))
            response_headers["X-Amz-Function-Error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        self.invocations.append((function_name, "ok"))
        return json.dumps(result, default=str).encode()

    # ------------------------------------------------------------------------------------- running

    def schedule_input(self, country: str) -> dict[str, Any]:
        """The input the country's schedule sends, from the synthesised schedule (cross-stack ARNs mapped)."""
        for schedule in resources_of(self.template, "AWS::Scheduler::Schedule").values():
            if schedule["Properties"]["Name"].endswith(f"-{country.lower()}-daily"):
                raw = schedule["Properties"]["Target"]["Input"]
                payload = json.loads(resolve(raw, {**self.refs, **self._imports(country)}))
                payload["settings"].update(self.settings_changes)
                return payload
        raise KeyError(country)

    def _imports(self, country: str) -> dict[str, str]:
        """Cross-stack exports -> the seeded fake's ARNs (dataset group, datasets) or stand-ins."""
        group = self.groups[country]
        imports: dict[str, str] = {}
        for export in self.synthesised.exports():
            props, key = export.properties, f"import:{export.name}"
            if export.resource_type == "AWS::Personalize::DatasetGroup" and props.get("Name") == group.name:
                imports[key] = group.dataset_group_arn
            elif export.resource_type == "AWS::Personalize::Dataset" and props.get("Name", "").startswith(
                group.name + "-"
            ):
                imports[key] = group.dataset_arns[props["DatasetType"].upper()]
            elif export.resource_type == "AWS::IAM::Role":
                imports[key] = f"arn:aws:iam::{ACCOUNT}:role/{export.logical_id}"
            else:
                imports[key] = f"arn:aws:fake:{REGION}:{ACCOUNT}:{export.logical_id}/{export.attribute}"
        return imports

    def start(
        self,
        country: str = "KR",
        *,
        run_date: str | None = None,
        force: bool = False,
        name: str | None = None,
    ) -> str:
        payload = self.schedule_input(country)
        payload["scheduled_time"] = self.clock.now().isoformat()
        if run_date:
            payload["run_date"] = run_date
        if force:
            payload["force"] = True
        self._started = getattr(self, "_started", 0) + 1
        # moto does not generate names (Scheduler does, in AWS): give each execution a unique one.
        kwargs = {
            "stateMachineArn": self.state_machine_arn,
            "input": json.dumps(payload),
            "name": name or f"{country}-{run_date or 'scheduled'}-{self._started}",
        }
        return self.sfn.start_execution(**kwargs)["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60) -> Execution:
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still running after {timeout}s: {execution_arn}")
            time.sleep(0.02)  # a tight loop starves the execution thread
        history = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return Execution(
            arn=execution_arn,
            status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=described.get("error"),
            cause=described.get("cause"),
            history=history,
        )

    def run(self, country: str = "KR", **kwargs: Any) -> Execution:
        execution = self.wait(self.start(country, **kwargs))
        if execution.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            self.deliver_status_change(execution)
        return execution

    def deliver_status_change(self, execution: Execution) -> dict[str, Any]:
        """What the EventBridge rule does for a failed execution: invoke the failure recorder with the event."""
        target_id, event = self.status_change(execution)
        body = self._invoke(target_id, json.dumps(event), {})
        return json.loads(body)

    def status_change(self, execution: Execution) -> tuple[str, dict[str, Any]]:
        """(logical id of the rule's target function, the status-change event EventBridge sends it).

        Described through the pipeline's own client: behind the redrive fake that is the current attempt."""
        described = clients.stepfunctions().describe_execution(executionArn=execution.arn)
        rule = next(iter(resources_of(self.template, "AWS::Events::Rule").values()))
        pattern = rule["Properties"]["EventPattern"]
        assert execution.status in pattern["detail"]["status"], "the rule would not fire for this status"
        attempt = described.get("redriveCount", 0)
        ended = described.get("stopDate") or datetime.now(UTC)
        event = {
            # one id per event (an attempt's end), the same in every delivery of it
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{execution.arn}/{attempt}/{execution.status}")),
            "time": ended.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {
                "executionArn": execution.arn,
                "stateMachineArn": self.state_machine_arn,
                "name": execution.arn.rsplit(":", 1)[-1],
                "status": execution.status,
                "redriveCount": attempt,
                "input": described["input"],
            },
        }
        target_id = resolve(rule["Properties"]["Targets"][0]["Arn"], self.refs).rsplit(":", 1)[-1]
        return target_id, event

    def fail_at(self, step: str, reason: str | None = None) -> str:
        """Script the next run to fail once at `step`; returns the failure reason the run should report."""
        reason = reason or f"scripted failure in {step}"
        jobs = {
            "import": ("dataset-import-job", "import-items"),
            "train": ("solution-version", "simitems"),
            "promote": ("campaign", "userpers-campaign"),
            "batch": ("batch-inference-job", "batch-simitems"),
        }
        if step == "prepare":
            self.athena.fail_next("/interactions/", reason)
        elif step in jobs:
            self.personalize.fail_job(*jobs[step], reason)
        else:  # steps that start no job fail by their function crashing
            handler = step_names.BY_KEY[step].handler.rsplit(".", 1)[1]  # crash_next is keyed by function name
            self.crash_next[handler] = ["Runtime.ExitError"]
            reason = "simulated Runtime.ExitError"
        return reason

    def failed_state(self, execution: Execution) -> tuple[str, str]:
        """(state name, its input) of the state an unsuccessful execution stopped in."""
        for event in reversed(execution.history):
            if event["type"].endswith("StateEntered"):
                details = event["stateEnteredEventDetails"]
                return details["name"], details["input"]
        raise ValueError("no state was entered")

    def redrive(self, execution: Execution) -> Execution:
        """Step Functions redrive as documented: resume at the unsuccessful state with the input it had.

        moto has no RedriveExecution, so the resumed part runs as a fresh moto execution of the same
        definition whose StartAt is that state; the run state it carries still names the original
        execution (the ledger lock holder), as a real redrive keeps the execution ARN.
        """
        state, state_input = self.failed_state(execution)
        definition = json.loads(self.definition)
        definition["StartAt"] = state
        self._redrives = getattr(self, "_redrives", 0) + 1
        machine_arn = self.sfn.create_state_machine(
            name=f"redrive-{self._redrives}", definition=json.dumps(definition), roleArn=self.role_arn
        )["stateMachineArn"]
        arn = self.sfn.start_execution(stateMachineArn=machine_arn, input=state_input)["executionArn"]
        resumed = self.wait(arn)
        if resumed.status in ("FAILED", "TIMED_OUT", "ABORTED"):
            self.deliver_status_change(resumed)
        return resumed

    # ------------------------------------------------------------------------------------ reading

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                messages.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:  # subject: None when the message had none
        return [
            {"subject": m.get("Subject"), "message": m["Message"]}
            for m in self._drain(self.notifications_queue)
        ]

    def events(self) -> list[dict[str, Any]]:
        return self._drain(self.events_queue)

    def ledger_run(self, country: str, run_date: str) -> dict[str, Any] | None:
        from pipeline import ledger

        self.monkeypatch.setenv("LEDGER_TABLE", self.ledger_table)
        self.monkeypatch.setenv("ENV_NAME", "dev")
        return ledger.get_run(country, run_date)

    def creates(self) -> dict[str, int]:
        """Successful create/update calls per operation (what costs money or changes serving)."""
        counted: dict[str, int] = {}
        for call in self.personalize.calls:
            operation, outcome = call[0], call[2]
            if (operation.startswith("create_") or operation.startswith("update_")) and outcome == "ok":
                counted[operation] = counted.get(operation, 0) + 1
        return counted
