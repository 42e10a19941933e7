"""Run the synthesised pipeline state machine locally: moto's Step Functions engine executes the definition
from the synthesised template, our real handlers run in-process for its Lambda tasks, Personalize and
Athena are fakes on a simulated clock, DynamoDB/SNS/SQS/EventBridge/S3 are moto.

What is taken from the synthesis (not rebuilt by hand): the definition (with its substituted ARNs), each
function's handler and environment variables, the ledger table's keys, the schedule's input for a country.
Only the ARNs of resources that live in AWS (Lambda, SNS, cross-stack exports) are mapped to moto/fake ones.

Time: Wait states and retry back-off advance the SimClock instead of sleeping, so 26 simulated hours of
training take well under a second; the fakes read the same clock.

Strictness: the engine enforces the rules of AWS's that moto's lacks (testkit/strict_engine.py), so an execution
that would fail on AWS fails here too.
"""

from __future__ import annotations

import copy
import functools
import importlib
import io
import json
import marshal
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.parsers
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core import serialize as moto_serialize
from moto.core.config import DefaultConfig
from moto.s3.models import S3Backend
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program import program as program_module
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval import states as eval_states
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as engine_boto_client
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

from common import clients
from common import clock as clock_module
from testkit.fakes.athena import FakeAthena
from testkit.fakes.clock import SimClock
from testkit.fakes.personalize import FakePersonalize
from testkit.strict_engine import enforce_aws_rules

REGION, ACCOUNT = "us-east-1", "123456789012"
PIPELINE_STACK = "Personalize-dev-Pipeline"
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


_PARSE = AmazonStateLanguageParser.parse


@functools.lru_cache(maxsize=32)
def _cached_parse(definition: str):
    return _PARSE(definition)


_JSON_SCALARS = (str, int, float, bool, type(None))


def copy_json_tree(value: Any) -> Any:
    """copy.deepcopy for the JSON documents Step Functions passes between states, several times faster.

    moto's engine deep-copies a state's whole input several times per state (path evaluation, ResultPath,
    the task frame): ~400 copies of the run state per execution. A state's data is JSON (in AWS it is text
    between states), so dicts, lists and scalars are copied directly; anything else goes to copy.deepcopy.
    """
    kind = type(value)
    if kind is dict:
        return {key: copy_json_tree(item) for key, item in value.items()}
    if kind is list:
        return [copy_json_tree(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


def copy_state_data(value: Any) -> Any:
    """copy_json_tree at C speed: marshal round-trips exactly the JSON types (dict key order included) and
    refuses anything else, even a subclass of str or int, which then goes to copy_json_tree."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:
        return copy_json_tree(value)


_ENGINE_COPY = SimpleNamespace(deepcopy=copy_state_data)


class InlineThread:
    """A Thread that runs its target inside start(), for moto's engine under the harness.

    moto runs the whole program in one thread (to enforce the definition's TimeoutSeconds) and every Task
    state in another (for the task's TimeoutSeconds), each joined with a wall-clock timeout. Under the
    harness time is the SimClock's, so those wall-clock timeouts can never fire: running the target in the
    caller's thread is the same behaviour without two thread start-ups per state, and lets a profiler see it.
    """

    def __init__(self, target, args=(), kwargs=None, daemon=None) -> None:
        self._run: Callable[[], Any] | None = functools.partial(target, *args, **(kwargs or {}))

    def start(self) -> None:
        run, self._run = self._run, None  # moto keeps every thread it made (TMP_THREADS): drop the frames
        if run is not None:
            run()

    def join(self, timeout: float | None = None) -> None:
        return None

    def is_alive(self) -> bool:
        return False

# moto parses (ply yacc) each InputPath/OutputPath/ResultPath expression at every use; a parsed expression
# holds no state, so each is parsed once.
_parse_json_path = functools.lru_cache(maxsize=None)(json_path.parse)
_parse_result_path = functools.lru_cache(maxsize=None)(result_path.parse)


_new_signing_key = Subscription.private_key


@functools.cache
def _signing_key():
    """The key moto's SNS signs each message delivered to SQS with (it generated a new RSA-2048 key per message)."""
    return _new_signing_key(None)


_new_engine_client = engine_boto_client.boto_client_for
# (region, service) -> the engine's client, shared by every harness of the test run
_ENGINE_CLIENTS: dict[tuple[str, str], Any] = {}


def _engine_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's engine builds a new boto3 client for every task (~15 ms each); its arguments ignore the state's
    credentials, so one client per (region, service) makes the same calls. A client created under an earlier
    mock_aws still reaches moto: moto's stubber is one of botocore's built-in handlers of every client."""
    if (region, service) not in _ENGINE_CLIENTS:
        _ENGINE_CLIENTS[region, service] = _new_engine_client(region, service, state_credentials)
    return _ENGINE_CLIENTS[region, service]


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


_possible_keys = moto_serialize.XFormedAttributePicker.get_possible_keys
_POSSIBLE_KEYS: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _cached_possible_keys(picker, context) -> Any:
    """The attribute names moto's response serialiser tries for a shape member, computed once per member.

    moto recomputes them (six alias providers) for every member of every object it serialises: 50,000 times
    for one execution's history. With the default providers they depend only on the object's class (unless
    it has a Meta class of explicit aliases), the key, the member's shape and its parent shape; botocore's
    shapes are cached per service model, so the same shape objects come back for every response.
    """
    obj, shape = context.obj, context.shape
    if picker.alias_providers is not moto_serialize.DEFAULT_ALIAS_PROVIDERS or hasattr(obj, "Meta"):
        return _possible_keys(picker, context)
    key = (type(obj), context.key, shape, getattr(shape, "parent", None))
    keys = _POSSIBLE_KEYS.get(key)
    if keys is None:
        keys = _POSSIBLE_KEYS[key] = tuple(_possible_keys(picker, context))
    return iter(keys)


MOTO_INVOKE_LAMBDA_FUNCTION = lambda_eval_utils._invoke_lambda_function  # the engine's Lambda call, through moto
# moto's Invoke: a payload above this (sys.getsizeof) becomes a Function.ResponseSizeTooLarge error
_MOTO_RESPONSE_LIMIT = 6_000_000
MOTO_EXECUTION_HISTORY = StepFunctionResponse.get_execution_history  # moto's own, for the comparison test
_parse_timestamp = functools.lru_cache(maxsize=1 << 16)(botocore.parsers.DEFAULT_TIMESTAMP_PARSER)
_epoch_seconds = moto_serialize.TimestampSerializer._timestamp_unixtimestamp


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _epoch_seconds(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def history_as_json(response: StepFunctionResponse) -> str:
    """GetExecutionHistory's body as moto answers it, written with json.dumps instead of moto's serialiser.

    moto's serialiser walks the botocore output shape member by member (~40 ms for one execution's history)
    and the tests read histories ~300 times (the harness, the failure recorder, the redrive fake, the replay
    CLI). The events moto keeps are already in the API's shape, so the same body (timestamps as moto's
    epoch seconds) comes out of json.dumps; tests/testkit/test_pipeline_harness.py compares the two.
    """
    output = response.stepfunction_backend.get_execution_history(response._get_param("executionArn"))
    return json.dumps(output, default=_json_default)


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
        self.monkeypatch.setattr(clients, "personalize", lambda: harness.personalize)
        self.monkeypatch.setattr(clients, "athena", lambda: harness.athena)
        self.monkeypatch.setattr(clock_module, "now", self.clock.now)

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            logical_id = function_name.rsplit(":", 1)[-1]
            return harness._invoke(logical_id, body, response_headers)

        def wait(wait_function, env, wait_seconds):
            harness.clock.advance(wait_seconds)

        self.monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)

        def invoke_task(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
            """The engine's lambda:invoke task without the request round trip through boto3 and moto (~4 ms a
            task): the handler's result as moto's Invoke would return it to the engine (status 200, the
            X-Amz-Function-Error header as FunctionError, the payload parsed). tests/testkit/test_pipeline_harness.py
            runs the same executions both ways and compares their histories."""
            headers: dict[str, str] = {}
            logical_id = parameters["FunctionName"].rsplit(":", 1)[-1]
            body = harness._invoke(logical_id, parameters.get("Payload"), headers)
            if sys.getsizeof(body) > _MOTO_RESPONSE_LIMIT:
                headers = {"X-Amz-Function-Error": "Unhandled"}
                body = json.dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode()
            response: dict[str, Any] = {"StatusCode": 200, "Payload": lambda_eval_utils._from_payload(io.BytesIO(body))}
            if "X-Amz-Function-Error" in headers:
                response["FunctionError"] = headers["X-Amz-Function-Error"]
            return response

        self.monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", invoke_task)
        # Run each execution to its end inside StartExecution (moto's own SyncExecutionWorker does the same):
        # no worker thread to poll, and the handlers run in the test's thread.
        self.monkeypatch.setattr(ExecutionWorker, "start", lambda worker: worker._execution_logic())
        self.monkeypatch.setattr(program_module, "threading", SimpleNamespace(Thread=InlineThread))
        self.monkeypatch.setattr(execute_state, "Thread", InlineThread)
        # The definition is parsed (antlr) once per test run instead of at every create and execution.
        self.monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(_cached_parse))
        self.monkeypatch.setattr(WaitFunction, "_wait_interval", wait)
        self.monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=self.clock.advance))
        copying = (eval_states, string_expression, result_path, execute_state, state_task_service, event_manager)
        for engine_module in copying:
            self.monkeypatch.setattr(engine_module, "copy", _ENGINE_COPY)
        self.monkeypatch.setattr(json_path, "parse", _parse_json_path)
        self.monkeypatch.setattr(result_path, "parse", _parse_result_path)
        for name, module in list(sys.modules.items()):
            if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
                self.monkeypatch.setattr(module, "boto_client_for", _engine_client_for)
        self.monkeypatch.setattr(moto_serialize.XFormedAttributePicker, "get_possible_keys", _cached_possible_keys)
        self.monkeypatch.setattr(StepFunctionResponse, "get_execution_history", history_as_json)
        # botocore turns every timestamp of every response into a datetime with a new dateutil tzlocal(); the
        # same timestamps come back many times (a history is read again at each poll), and a datetime is immutable.
        self.monkeypatch.setattr(botocore.parsers, "DEFAULT_TIMESTAMP_PARSER", _parse_timestamp)
        self.monkeypatch.setattr(Subscription, "private_key", lambda subscription: _signing_key())
        # moto reloads its S3 URL module on every S3 request, in case its settings changed; no test changes
        # them while a harness exists, so the module is loaded once.
        s3_urls = S3Backend.__dict__["_url_module"].fget(None)  # the property object (its getter ignores self)
        self.monkeypatch.setattr(S3Backend, "_url_module", property(lambda backend: s3_urls))

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
            handler = {"begin": "begin_run", "gate": "gate", "report": "report_page", "finish": "finish_run"}[step]
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
