"""Every AWS call the tests see a function make is one its synthesised role allows.

The executed pipeline (a FULL run, then an UPDATE day that fails at Batch and is redriven), the ingest
handler, the replay CLI (under the operator managed policy) and the callers AWS runs for us (Scheduler's
StartExecution under the scheduler role, the state machine role's tasks from the execution history,
Personalize reading and writing S3 through its role and as its service principal, Lambda writing logs and
reading the stream, each service assuming its role under the role's trust policy) are recorded, turned
into IAM requests (tests/iam/calls.py) and evaluated against the templates' policies (tests/iam/policy.py).
A refusal fails with one line: caller, call, request (action, ARNs, context) and the grant that is missing.
The scenarios run once per module (three fixtures); the tests read what they recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import boto3
import pytest
from moto import mock_aws

from common.experiments import Arm, Experiment
from evaluation.online_sql import OUTPUT as ONLINE_OUTPUT
from testkit.pipeline_harness import ACCOUNT, MOTO_CONFIG, PIPELINE_STACK, REGION, PipelineHarness, resources_of
from tests.iam.calls import (
    Call,
    Caller,
    CallMap,
    CallRecorder,
    check,
    function_by_handler,
    lambda_runtime_calls,
    state_machine_calls,
)
from tests.iam.policy import Assembly, Request

REALTIME_STACK = "Personalize-dev-Realtime"
OPERATOR_POLICY = "personalize-dev-run-operator"
SUNDAY, MONDAY = "2026-11-15", "2026-11-16"


@dataclass
class Recorded:
    assembly: Assembly
    call_map: CallMap
    calls: list[Call]

    def refusals(self, calls: list[Call] | None = None) -> list[str]:
        refused, checked = check(self.assembly, self.call_map, self.calls if calls is None else calls)
        assert checked > 0, "no request was checked"
        return [r.line() for r in refused]

    def by(self, label_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.caller.label.startswith(label_prefix)]


def assert_all_allowed(recorded: Recorded, calls: list[Call] | None = None) -> None:
    refused = recorded.refusals(calls)
    assert not refused, f"{len(refused)} requests refused:\n" + "\n".join(refused)


def attribute_invocations(monkeypatch, recorder: CallRecorder, assembly: Assembly) -> None:
    """The harness runs each Lambda task in-process by logical id: its calls are made with that function's role."""
    original = PipelineHarness._invoke
    callers: dict[str, Caller] = {}

    def invoke(harness, logical_id, body, response_headers):
        if logical_id not in callers:
            callers[logical_id] = Caller(logical_id, assembly.role_of_function(PIPELINE_STACK, logical_id))
            recorder.calls += lambda_runtime_calls(assembly, PIPELINE_STACK, logical_id, callers[logical_id])
        with recorder.acting_as(callers[logical_id]):
            return original(harness, logical_id, body, response_headers)

    monkeypatch.setattr(PipelineHarness, "_invoke", invoke)


def state_machine_caller(assembly: Assembly) -> Caller:
    (machine,) = assembly.resources(PIPELINE_STACK, "AWS::StepFunctions::StateMachine").values()
    role = assembly.role(assembly.resolve(PIPELINE_STACK, machine["Properties"]["RoleArn"]))
    return Caller("state machine", role)


def scheduler_caller(assembly: Assembly, country: str) -> tuple[Caller, str]:
    for schedule in assembly.resources(PIPELINE_STACK, "AWS::Scheduler::Schedule").values():
        name = schedule["Properties"]["Name"]
        if name.endswith(f"-{country.lower()}-daily"):
            role = assembly.role(assembly.resolve(PIPELINE_STACK, schedule["Properties"]["Target"]["RoleArn"]))
            return Caller(f"scheduler ({name})", role), name
    raise KeyError(country)


def run_as_scheduled(harness, recorder: CallRecorder, assembly: Assembly, country: str, run_date: str):
    """What the country's schedule does: Scheduler decrypts the target input and starts the execution with
    the schedule's role; the execution then runs (its Lambda tasks attributed by `attribute_invocations`)."""
    scheduler, schedule_name = scheduler_caller(assembly, country)
    arn = harness.start(country, run_date=run_date)
    target = {"Name": schedule_name, "RoleArn": scheduler.principal.arn}
    recorder.record("scheduler", "_InvokeTarget", target, caller=scheduler)
    recorder.record("stepfunctions", "StartExecution", {"stateMachineArn": harness.state_machine_arn}, caller=scheduler)
    execution = harness.wait(arn)
    if execution.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        harness.deliver_status_change(execution)
    return execution


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


@pytest.fixture(scope="module")
def pipeline(dev_app, assembly) -> Recorded:
    """A FULL Sunday run, then Monday (UPDATE) failing at Batch and redriven."""
    recorder = CallRecorder()
    machine = state_machine_caller(assembly)
    call_map = CallMap(assembly)
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws(config=MOTO_CONFIG):
        recorder.install(monkeypatch)
        attribute_invocations(monkeypatch, recorder, assembly)
        harness = PipelineHarness(dev_app, monkeypatch)
        # Batch output where the fake jobs write none: the publish step reads it (the report too).
        line = {"input": {"userId": "u1"}, "output": {"recommendedItems": ["i1", "i2"]}}
        results = f"personalize-dev-results-{ACCOUNT}-{REGION}"
        harness.s3.put_object(
            Bucket=results, Key=f"KR/{SUNDAY}/user-personalization/all_users.jsonl.out", Body=json.dumps(line).encode()
        )

        # An experiment running both days: the report's online query (exposures, views and purchases) is checked too.
        running = Experiment(name="kr-iam", arms={Arm.PERSONALIZE: 0.5, Arm.CURATION: 0.5}, start=date(2026, 11, 1),
                             end=date(2026, 12, 1))  # fmt: skip
        harness.settings_changes["experiments"] = [running.model_dump(mode="json")]

        sunday = run_as_scheduled(harness, recorder, assembly, "KR", SUNDAY)
        assert sunday.status == "SUCCEEDED", (sunday.error, sunday.cause)
        started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
        assert any(f"/{ONLINE_OUTPUT}/'" in sql for sql in started), "the online query did not run"
        harness.fail_at("batch")  # a step that runs every day (Monday trains only what supports UPDATE)
        monday = run_as_scheduled(harness, recorder, assembly, "KR", MONDAY)
        assert monday.status == "FAILED"
        resumed = harness.redrive(monday)
        assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)

        for execution in (sunday, monday, resumed):
            recorder.calls += state_machine_calls(execution.history, machine, call_map.machine_arn)
    return Recorded(assembly, call_map, recorder.calls)


# ---------------------------------------------------------------------------------------------- pipeline


def test_every_call_of_the_executed_pipeline_is_allowed(pipeline):
    callers = {c.caller.label for c in pipeline.calls}
    functions = {f for f in resources_of(pipeline.assembly.templates[PIPELINE_STACK], "AWS::Lambda::Function")}
    assert functions <= callers, f"functions that made no call: {sorted(functions - callers)}"
    assert_all_allowed(pipeline)


def test_the_schedule_starts_its_execution_with_the_scheduler_role(pipeline):
    started = [c for c in pipeline.by("scheduler") if c.operation == "StartExecution"]
    assert len(started) == 2
    assert_all_allowed(pipeline, pipeline.by("scheduler"))


def test_the_state_machine_role_makes_its_task_calls(pipeline):
    calls = pipeline.by("state machine")
    assert {(c.service, c.operation) for c in calls} >= {
        ("lambda", "Invoke"),
        ("sns", "Publish"),
        ("events", "PutEvents"),
    }
    assert_all_allowed(pipeline, calls)


def test_the_publish_step_reads_the_run_s_outputs_and_loads_the_read_model_through_its_role(pipeline):
    calls = pipeline.by("Publish")
    operations = {(c.service, c.operation) for c in calls}
    assert operations >= {("dynamodb", "BatchWriteItem"), ("dynamodb", "PutItem"), ("s3", "GetObject")}
    read = {c.params["Key"].rsplit("/", 1)[-1] for c in calls if c.operation == "GetObject"}
    assert {"all_users.jsonl.out", "segments.jsonl", "users.csv", "items.csv"} <= read, read
    assert_all_allowed(pipeline, calls)


def test_personalize_reads_the_prepared_files_and_writes_batch_output_through_its_role(pipeline):
    jobs = [c for c in pipeline.calls if c.operation in ("CreateDatasetImportJob", "CreateBatchInferenceJob")]
    assert jobs
    on_behalf = [r for c in jobs for _, r in pipeline.call_map.requests(c).on_behalf]
    service = [r for c in jobs for _, r in pipeline.call_map.requests(c).services]
    assert {r.action for r in on_behalf} >= {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    by_action = {(r.action, r.resources[0].split("/")[0].split("-")[2]) for r in service}  # (action, bucket purpose)
    assert by_action >= {("s3:GetObject", "prepared"), ("s3:PutObject", "results")}, by_action
    assert_all_allowed(pipeline, jobs)


@pytest.fixture(scope="module")
def filter_retirement(dev_app, assembly) -> Recorded:
    """Three KR days, the genre filter changed on the second: the third run deletes the filters it replaced."""
    from datetime import UTC, datetime

    recorder = CallRecorder()
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws(config=MOTO_CONFIG):
        recorder.install(monkeypatch)
        attribute_invocations(monkeypatch, recorder, assembly)
        harness = PipelineHarness(dev_app, monkeypatch)
        for day, genres in ((15, ["Horror"]), (16, ["Horror", "Adult"]), (17, ["Horror", "Adult"])):
            harness.settings_changes["filters"] = {"exclude_purchased": True, "exclude_genres": genres}
            harness.clock.advance_to(datetime(2026, 11, day - 1, 18, 0, tzinfo=UTC))
            execution = run_as_scheduled(harness, recorder, assembly, "KR", f"2026-11-{day}")
            assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return Recorded(assembly, CallMap(assembly), recorder.calls)


def test_the_promote_step_may_list_and_delete_the_filters_it_replaced(filter_retirement):
    deleting = {c.caller.label for c in filter_retirement.calls if c.operation == "DeleteFilter"}
    assert len(deleting) == 1, deleting  # one function: the promote step's
    calls = filter_retirement.by(deleting.pop())
    assert {c.operation for c in calls} >= {"ListFilters", "DeleteFilter", "GetParameter", "PutParameter"}
    assert_all_allowed(filter_retirement, calls)


# ------------------------------------------------------------------------------------------------ ingest


@pytest.fixture(scope="module")
def ingest(assembly) -> Recorded:
    import json

    from common.observability import metrics
    from ingest import handler as ingest_handler
    from testkit.fakes.ingest import FakeClock, FakeContext, FakePersonalizeEvents, event, kinesis_event, record
    from tests.iam.calls import event_source_calls

    function_id, environment, caller = function_by_handler(assembly, REALTIME_STACK, "ingest.")
    recorder = CallRecorder()
    fake = FakePersonalizeEvents()
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        sqs.create_queue(QueueName=environment["DLQ_URL"].rsplit("/", 1)[-1])
        recorder.install(monkeypatch)
        settings = ingest_handler.IngestSettings.from_env(environment)
        monkeypatch.setattr(ingest_handler, "settings", lambda: settings)
        monkeypatch.setattr(
            ingest_handler, "clients", lambda: ingest_handler.Clients(recorder.proxy(fake, "personalize-events"), sqs)
        )
        countries = sorted(json.loads(environment["TRACKING_IDS"]))
        records = [record(event(n, country=c, session_id=f"s-{c}")) for n, c in enumerate(countries)] + [record("%%%")]
        with recorder.acting_as(caller):
            recorder.calls += event_source_calls(assembly, REALTIME_STACK, function_id, caller)
            recorder.calls += lambda_runtime_calls(assembly, REALTIME_STACK, function_id, caller)
            response = ingest_handler.handler(kinesis_event(records), FakeContext(FakeClock(), 60))
        metrics.clear_metrics()
    assert response == {"batchItemFailures": []}
    assert len(fake.accepted) == len(countries)
    return Recorded(assembly, CallMap(assembly), recorder.calls)


def test_every_call_of_the_ingest_function_is_allowed(ingest):
    operations = {(c.service, c.operation) for c in ingest.calls}
    assert operations >= {("personalize-events", "PutEvents"), ("sqs", "SendMessageBatch"), ("kinesis", "GetRecords")}
    assert_all_allowed(ingest)


# ------------------------------------------------------------------------------------------------ replay


@pytest.fixture(scope="module")
def replay(dev_app, assembly) -> Recorded:
    from tests.replay.replay_fakes import ReplayWorld

    recorder = CallRecorder()
    operator = Caller(f"personalize-runs ({OPERATOR_POLICY})", assembly.managed_policy(OPERATOR_POLICY))
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws(config=MOTO_CONFIG):
        recorder.install(monkeypatch)
        attribute_invocations(monkeypatch, recorder, assembly)
        world = ReplayWorld(PipelineHarness(dev_app, monkeypatch), monkeypatch)
        world.sfn = recorder.proxy(world.sfn, "stepfunctions")  # the CLI's and the Lambdas' Step Functions client

        world.fail_at("train")
        failed = world.run("KR", SUNDAY)["executionArn"]
        with recorder.acting_as(operator):
            results = [
                world.cli("list", "--env", "dev", "--status", "FAILED"),
                world.cli("show", f"KR:{SUNDAY}", "--env", "dev"),
                world.cli("redrive", failed, "--env", "dev", "--yes", "--wait"),
            ]
        world.fail_at("batch")
        world.run("KR", MONDAY)
        with recorder.acting_as(operator):
            results.append(world.cli("rerun", "--country", "KR", "--date", MONDAY, "--env", "dev", "--yes", "--wait"))
        for result in results:
            assert result.code == 0, result.err
        assert world.ledger("KR", SUNDAY)["status"] == "SUCCEEDED"
        assert world.ledger("KR", MONDAY)["status"] == "SUCCEEDED"
    return Recorded(assembly, CallMap(assembly), recorder.calls)


def test_every_call_of_the_replay_cli_is_allowed_by_the_operator_policy(replay):
    cli = replay.by("personalize-runs")
    operations = {c.operation for c in cli}
    assert operations >= {"RedriveExecution", "StartExecution", "GetSchedule", "DescribeExecution"}, operations
    assert_all_allowed(replay, cli)


def test_the_pipeline_calls_during_redrive_and_rerun_are_allowed(replay):
    assert_all_allowed(replay, [c for c in replay.calls if not c.caller.label.startswith("personalize-runs")])


# ----------------------------------------------------------------------------------- the check can fail


def _without(recorded: Recorded, label_prefix: str, action: str) -> list[Call]:
    """The calls of one caller, its principal missing every Allow statement that grants `action`."""
    calls = recorded.by(label_prefix)
    assert calls, label_prefix
    principal = calls[0].caller.principal.without(lambda s: s.effect == "Allow" and s.matches_action(action))
    caller = Caller(calls[0].caller.label, principal)
    return [Call(caller, c.service, c.operation, c.params) for c in calls]


def test_without_the_ledger_write_grant_the_finish_step_is_refused(pipeline):
    (finish,) = {
        c.caller.label for c in pipeline.calls if c.operation == "UpdateItem" and c.caller.label.startswith("Finish")
    }
    refused = pipeline.refusals(_without(pipeline, finish, "dynamodb:UpdateItem"))
    updates = [line for line in refused if ": dynamodb:UpdateItem on " in line]
    assert updates, refused
    assert "no statement of the identity policies grants dynamodb:UpdateItem" in updates[0]


def test_the_failure_recorder_reads_the_execution_it_records_and_is_refused_without_the_grant(pipeline):
    calls = pipeline.by("RecordFailure")
    assert {c.operation for c in calls} >= {"DescribeExecution", "GetExecutionHistory"}
    assert_all_allowed(pipeline, calls)
    refused = pipeline.refusals(_without(pipeline, "RecordFailure", "states:DescribeExecution"))
    assert [line for line in refused if ": states:DescribeExecution on " in line], refused


def test_without_the_put_events_grant_the_ingest_function_is_refused(ingest):
    function = next(c.caller.label for c in ingest.calls if c.operation == "PutEvents")
    refused = ingest.refusals(_without(ingest, function, "personalize:PutEvents"))
    assert len(refused) == 1 and "personalize:PutEvents on *" in refused[0], refused


def _function(assembly: Assembly, prefix: str):
    logical_id = next(k for k in assembly.resources(PIPELINE_STACK, "AWS::Lambda::Function") if k.startswith(prefix))
    return assembly.role_of_function(PIPELINE_STACK, logical_id)


LEDGER = "arn:aws:dynamodb:us-east-1:123456789012:table/personalize-dev-runs"


def test_a_request_outside_the_granted_arns_or_actions_is_refused(assembly):
    finish = _function(assembly, "FinishLambda")
    assert assembly.evaluate(finish, Request.of("dynamodb:UpdateItem", [LEDGER])).allowed
    assert assembly.evaluate(finish, Request.of("DynamoDB:updateitem", [LEDGER])).allowed  # actions: any case
    other_env = LEDGER.replace("personalize-dev-runs", "personalize-prod-runs")
    assert not assembly.evaluate(finish, Request.of("dynamodb:UpdateItem", [other_env])).allowed
    refused = assembly.evaluate(finish, Request.of("dynamodb:DeleteTable", [LEDGER]))
    assert not refused.allowed and refused.why == "no statement of the identity policies grants dynamodb:DeleteTable"


def test_kms_conditions_are_evaluated_as_iam_does(assembly):
    finish = _function(assembly, "FinishLambda")
    (key,) = {
        assembly.arn(stack, k) for stack in assembly.templates for k in assembly.resources(stack, "AWS::KMS::Key")
    }
    through_dynamodb = {
        "kms:ViaService": "dynamodb.us-east-1.amazonaws.com",
        "kms:EncryptionContext:aws:dynamodb:tableName": "personalize-dev-runs",
        "kms:EncryptionContext:aws:dynamodb:subscriberId": "123456789012",
    }
    assert assembly.evaluate(finish, Request.of("kms:Decrypt", [key], through_dynamodb)).allowed
    # the same Decrypt called directly (no kms:ViaService in the request) or for another table is refused
    direct = {k: v for k, v in through_dynamodb.items() if k != "kms:ViaService"}
    refused = assembly.evaluate(finish, Request.of("kms:Decrypt", [key], direct))
    assert not refused.allowed and "kms:ViaService" in refused.why and "(request: absent)" in refused.why
    other_table = {**through_dynamodb, "kms:EncryptionContext:aws:dynamodb:tableName": "personalize-prod-runs"}
    assert not assembly.evaluate(finish, Request.of("kms:Decrypt", [key], other_table)).allowed


def test_an_explicit_deny_in_a_bucket_policy_wins(assembly):
    personalize = assembly.service("personalize.amazonaws.com")
    prepared = next(
        assembly.physical_name(stack, k)
        for stack in assembly.templates
        for k in assembly.resources(stack, "AWS::S3::Bucket")
        if "prepared" in k.lower()
    )
    job = "arn:aws:personalize:us-east-1:123456789012:dataset-import-job/personalize-dev-kr-x"
    read = f"arn:aws:s3:::{prepared}/athena/runs/KR/2026-11-15/x/a1/users.csv"
    context = {"aws:SourceAccount": "123456789012", "aws:SourceArn": job, "aws:SecureTransport": True}
    assert assembly.evaluate(personalize, Request.of("s3:GetObject", [read], context)).allowed
    plain_http = assembly.evaluate(
        personalize, Request.of("s3:GetObject", [read], {**context, "aws:SecureTransport": False})
    )
    assert not plain_http.allowed and plain_http.why.startswith("explicit Deny in ")
    other_account = {**context, "aws:SourceAccount": "210987654321"}
    assert not assembly.evaluate(personalize, Request.of("s3:GetObject", [read], other_account)).allowed


def test_an_action_without_resource_level_permissions_is_requested_on_star(assembly):
    from tests.iam.calls import Requests

    requests = Requests()
    requests.add("personalize:ListSolutionVersions", ["arn:aws:personalize:us-east-1:123456789012:solution/x"])
    requests.add("personalize:DescribeSolution", ["arn:aws:personalize:us-east-1:123456789012:solution/x"])
    assert [r.resources for r in requests.caller] == [
        ("*",),
        ("arn:aws:personalize:us-east-1:123456789012:solution/x",),
    ]


def test_a_service_assumes_a_role_only_for_the_resource_its_trust_policy_names(assembly):
    role = state_machine_caller(assembly).principal.arn
    machine = CallMap(assembly).machine_arn
    context = {"aws:SourceAccount": "123456789012", "aws:SourceArn": machine}
    assert assembly.evaluate_assume(role, "states.amazonaws.com", Request.of("sts:AssumeRole", [role], context)).allowed
    other_machine = {**context, "aws:SourceArn": machine.replace("personalize-dev-", "personalize-other-")}
    refused = assembly.evaluate_assume(
        role, "states.amazonaws.com", Request.of("sts:AssumeRole", [role], other_machine)
    )
    assert not refused.allowed and "aws:SourceArn" in refused.why
    by_lambda = assembly.evaluate_assume(role, "lambda.amazonaws.com", Request.of("sts:AssumeRole", [role], context))
    assert not by_lambda.allowed


def test_without_the_delete_filter_grant_the_promote_step_is_refused(filter_retirement):
    (promote,) = {c.caller.label for c in filter_retirement.calls if c.operation == "DeleteFilter"}
    refused = filter_retirement.refusals(_without(filter_retirement, promote, "personalize:DeleteFilter"))
    # the statement that grants it grants Create/DescribeFilter too: those go with it
    assert [line for line in refused if ": personalize:DeleteFilter on " in line], refused
