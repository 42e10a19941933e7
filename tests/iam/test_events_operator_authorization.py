"""Every AWS call `personalize-runs events replay` makes is allowed by the managed policy
`personalize-dev-events-operator` alone (the Realtime stack's), and the ingest function's write of an
oversized dead letter to S3 by its role: the calls are recorded on moto with the synthesised dev env's names
and evaluated against the templates as in tests/iam/test_call_authorization.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from moto import mock_aws

from testkit.fakes.ingest import client_error, event
from tests.iam.calls import Call, Caller, CallMap, CallRecorder, check, function_by_handler
from tests.iam.policy import Assembly
from tools.replay import events

REALTIME_STACK = "Personalize-dev-Realtime"
EVENTS_OPERATOR_POLICY = "personalize-dev-events-operator"


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


def _outputs(assembly: Assembly, stack: str = REALTIME_STACK) -> dict[str, str]:
    outputs = assembly.templates[stack]["Outputs"]
    return {key: assembly.resolve(stack, value["Value"]) for key, value in outputs.items()}


def _tracking_ids(assembly: Assembly) -> dict[str, str]:
    """Each country stack's `TrackingId` output, as the replay reads it."""
    return {
        stack.rsplit("-", 1)[1]: _outputs(assembly, stack)["TrackingId"]
        for stack in assembly.templates
        if "TrackingId" in assembly.templates[stack].get("Outputs", {})
    }


@pytest.fixture(scope="module")
def replay_calls(assembly) -> tuple[CallMap, list[Call]]:
    from tests.replay.events_world import Realtime

    outputs = _outputs(assembly)
    recorder = CallRecorder()
    operator = Caller(f"personalize-runs ({EVENTS_OPERATOR_POLICY})", assembly.managed_policy(EVENTS_OPERATOR_POLICY))
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        monkeypatch.setattr(events, "RECEIVE_WAIT_S", 0)
        recorder.install(monkeypatch)
        with recorder.suspended():
            world = Realtime(
                stream=outputs["StreamArn"].split(":stream/", 1)[1],
                failure_queue=outputs["FailureQueueUrl"].rsplit("/", 1)[1],
                dlq=outputs["DeadLetterQueueUrl"].rsplit("/", 1)[1],
                bucket=outputs["DeadLetterPayloadBucketName"],
                trackers=_tracking_ids(assembly),
                personalize=lambda fake: recorder.proxy(fake, "personalize-events"),
                cloudformation=lambda fake: recorder.proxy(fake, "cloudformation"),
            )
            countries = sorted(_tracking_ids(assembly))
            huge = {**event(99, country=countries[0]), **{f"unknown_{i}": "x" * 20 for i in range(1200)}}
            batch = [event(n, country=c, session_id=f"s-{c}") for n, c in enumerate(countries)]
            world.fail_batch(world.put([*batch, b"junk", huge]))
            world.fail_batch(world.put([event(50, country=countries[0], session_id="s-later")]))
        # First a dry run, then a replay where one tracker still fails (descriptor kept), then the rest.
        tracker = _tracking_ids(assembly)[countries[0]]
        with recorder.acting_as(operator):
            assert world.cli("--dry-run")[0] == 0
            world.fake_personalize.script = lambda params, number: (
                client_error("ServiceUnavailableException", 503) if params["trackingId"] == tracker else None
            )
            assert world.cli("--yes", "--time-budget", "5")[0] == 1
            world.fake_personalize.script = lambda params, number: None
            code, out, err = world.cli("--yes")
        assert code == 0, err
        assert world.visible_descriptors() == 0
    return CallMap(assembly), recorder.calls


def test_every_call_of_events_replay_is_allowed_by_the_events_operator_policy(assembly, replay_calls):
    call_map, calls = replay_calls
    operations = {(c.service, c.operation) for c in calls}
    assert operations >= {
        ("cloudformation", "DescribeStacks"),
        ("sqs", "ReceiveMessage"),
        ("sqs", "DeleteMessage"),
        ("sqs", "ChangeMessageVisibility"),
        ("sqs", "SendMessageBatch"),
        ("kinesis", "GetShardIterator"),
        ("kinesis", "GetRecords"),
        ("personalize-events", "PutEvents"),
        ("s3", "PutObject"),
    }, operations
    refused, checked = check(assembly, call_map, calls)
    assert checked > 0
    assert refused == [], "\n".join(r.line() for r in refused)
    # The check has teeth: the pipeline's run-operator policy alone allows none of it.
    pipeline_operator = Caller("run-operator", assembly.managed_policy("personalize-dev-run-operator"))
    elsewhere, _ = check(assembly, call_map, [replace(c, caller=pipeline_operator) for c in calls])
    assert {r.call for r in elsewhere} >= {"sqs:ReceiveMessage", "kinesis:GetRecords", "personalize-events:PutEvents"}


def test_the_policy_grants_nothing_beyond_this_env_s_realtime_resources(assembly):
    outputs = _outputs(assembly)
    principal = assembly.managed_policy(EVENTS_OPERATOR_POLICY)
    resources = {r for statement in principal.statements for r in statement.resources}
    queue_arns = {
        f"arn:aws:sqs:{url.split('.')[1]}:{url.split('/')[3]}:{url.split('/')[4]}"
        for url in (outputs["FailureQueueUrl"], outputs["DeadLetterQueueUrl"])
    }
    assert queue_arns <= resources
    assert outputs["StreamArn"] in resources
    assert any(r.endswith(f"{outputs['DeadLetterPayloadBucketName']}/dead-letters/ingest/*") for r in resources)
    stacks = {r.split(":stack/", 1)[1] for r in resources if ":stack/" in r}
    assert stacks == {
        f"{name}/*" for name in [REALTIME_STACK, *(f"Personalize-dev-{cc}" for cc in _tracking_ids(assembly))]
    }


def test_the_ingest_function_may_write_an_oversized_dead_letter_to_its_prefix_only(assembly):
    import boto3

    from common.observability import metrics
    from ingest import handler as ingest_handler
    from testkit.fakes.ingest import FakeClock, FakeContext, FakePersonalizeEvents, kinesis_event, record

    function_id, environment, caller = function_by_handler(assembly, REALTIME_STACK, "ingest.")
    recorder = CallRecorder()
    country = sorted(json.loads(environment["TRACKING_IDS"]))[0]
    huge = record({**event(1, country=country), **{f"unknown_{i}": "x" * 20 for i in range(1200)}})
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs.create_queue(QueueName=environment["DLQ_URL"].rsplit("/", 1)[-1])
        s3.create_bucket(Bucket=environment["DEAD_LETTER_BUCKET"])
        recorder.install(monkeypatch)
        settings = ingest_handler.IngestSettings.from_env(environment)
        monkeypatch.setattr(ingest_handler, "settings", lambda: settings)
        monkeypatch.setattr(ingest_handler, "clients", lambda: ingest_handler.Clients(FakePersonalizeEvents(), sqs, s3))
        with recorder.acting_as(caller):
            response = ingest_handler.handler(kinesis_event([huge]), FakeContext(FakeClock(), 60))
        metrics.clear_metrics()
        (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=environment["DEAD_LETTER_BUCKET"])["Contents"]]
    assert response == {"batchItemFailures": []}
    assert key.startswith("dead-letters/ingest/")
    calls = recorder.calls
    assert {(c.service, c.operation) for c in calls} >= {("s3", "PutObject"), ("sqs", "SendMessageBatch")}
    refused, _ = check(assembly, CallMap(assembly), calls)
    assert refused == [], "\n".join(r.line() for r in refused)
    # The same write one prefix off is refused.
    elsewhere = [replace(c, params={**c.params, "Key": "reports/x.json"}) for c in calls if c.operation == "PutObject"]
    refused, _ = check(assembly, CallMap(assembly), elsewhere)
    assert refused


def test_the_run_operator_may_find_the_serving_api_and_nothing_else_of_the_stacks(assembly):
    """`personalize-runs recommend` reads the serving stack's outputs (DescribeStacks) under the run-operator
    policy; the other stacks' outputs stay the events operator's."""
    operator = Caller("run-operator", assembly.managed_policy("personalize-dev-run-operator"))
    call_map = CallMap(assembly)

    def describe(stack: str) -> Call:
        return Call(operator, "cloudformation", "DescribeStacks", {"StackName": stack})

    refused, checked = check(assembly, call_map, [describe("Personalize-dev-Serving")])
    assert checked == 1 and refused == [], "\n".join(r.line() for r in refused)
    refused, _ = check(assembly, call_map, [describe(REALTIME_STACK)])
    assert [r.call for r in refused] == ["cloudformation:DescribeStacks"]
