"""RealtimeIngest template: stream, event source mapping, queues, least-privilege role, alarms, cdk-nag."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_personalize as personalize
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from stacks.constructs.realtime_ingest import RealtimeIngest
from stacks.nag import enable_checks
from tests.conftest import cfn_lint

TRACKER_ARNS = [
    "arn:aws:personalize:us-east-1:123456789012:event-tracker/kr-tracker",
    "arn:aws:personalize:us-east-1:123456789012:event-tracker/jp-tracker",
]
ENV = cdk.Environment(account="123456789012", region="us-east-1")


def _stack(app: cdk.App, name: str, *, shard_count: int | None, with_topic: bool) -> cdk.Stack:
    stack = cdk.Stack(app, name, env=ENV)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    topic = sns.Topic(stack, "Alarms", master_key=key) if with_topic else None
    # A real token, as the country stacks pass, to prove it is resolved inside the JSON at deploy time.
    jp_tracker = personalize.CfnEventTracker(
        stack,
        "JpTracker",
        name="jp",
        dataset_group_arn="arn:aws:personalize:us-east-1:123456789012:dataset-group/jp",
    )
    jp_tracking = jp_tracker.attr_tracking_id
    ingest = RealtimeIngest(
        stack,
        "Ingest",
        env_name="dev",
        encryption_key=key,
        tracking_ids={"KR": "trk-kr", "JP": jp_tracking},
        tracker_arns=TRACKER_ARNS,
        shard_count=shard_count,
        alarm_topic=topic,
    )
    stack.ingest = ingest  # type: ignore[attr-defined]
    return stack


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory):
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("ingest.cdk.out")))
    on_demand = _stack(app, "OnDemand", shard_count=None, with_topic=True)
    provisioned = _stack(app, "Provisioned", shard_count=3, with_topic=False)
    assembly = app.synth()
    return {
        "on_demand": Template.from_json(assembly.get_stack_by_name("OnDemand").template),
        "provisioned": Template.from_json(assembly.get_stack_by_name("Provisioned").template),
        "outdir": Path(assembly.directory),
        "stacks": (on_demand, provisioned),
    }


def test_stream_is_encrypted_with_the_key_on_demand_or_provisioned(synthesised):
    on_demand, provisioned = synthesised["on_demand"], synthesised["provisioned"]
    key_arn = {"Fn::GetAtt": [Match.string_like_regexp("^Key"), "Arn"]}
    on_demand.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": key_arn},
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": 168,
            "ShardCount": Match.absent(),
        },
    )
    provisioned.has_resource_properties(
        "AWS::Kinesis::Stream", {"StreamModeDetails": {"StreamMode": "PROVISIONED"}, "ShardCount": 3}
    )


def test_event_source_mapping_reports_partial_failures_bisects_and_bounds_retries(synthesised):
    template = synthesised["on_demand"]
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [Match.string_like_regexp("^IngestStream"), "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            # The retry budget is time (retries until the record is an hour old), not a count.
            "MaximumRetryAttempts": -1,
            "MaximumRecordAgeInSeconds": 3600,
            # Chosen by measurement (bench/bench_ingest.py): see test_event_source_settings_...
            "ParallelizationFactor": 4,
            "BatchSize": 500,
            "MaximumBatchingWindowInSeconds": 1,
            "StartingPosition": "TRIM_HORIZON",
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": {"Fn::GetAtt": [Match.string_like_regexp("^IngestFailureQueue"), "Arn"]}
                }
            },
        },
    )


def _ingest_environment(template: Template) -> dict:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "ingest.handler.handler"}}
    )
    (function,) = functions.values()
    return function["Properties"]["Environment"]["Variables"]


def test_event_source_settings_and_delivery_pool_are_the_measured_ones_and_split_the_putevents_quota(
    synthesised,
):
    """A shard drains >= 1,000 records/s with 20 ms PutEvents calls only if parallelization x pool
    keeps enough calls in flight (each invocation's batches run one after another); and every invocation
    that can run at once shares PutEvents' 1,000 requests/s per dataset group."""
    from ingest.settings import IngestSettings

    mapping = next(iter(synthesised["on_demand"].find_resources("AWS::Lambda::EventSourceMapping").values()))
    props = mapping["Properties"]
    factor, batch = props["ParallelizationFactor"], props["BatchSize"]
    assert (factor, batch, props["MaximumBatchingWindowInSeconds"]) == (4, 500, 1)
    # Lambda's bounds for a Kinesis mapping (CreateEventSourceMapping): factor 1-10, batch 1-10,000.
    assert 1 <= factor <= 10 and 1 <= batch <= 10_000
    for key, shards in (("on_demand", 4), ("provisioned", 3)):  # on-demand: the 4 shards a new stream starts with
        env = _ingest_environment(synthesised[key])
        settings = IngestSettings.from_env(
            {"TRACKING_IDS": '{"KR": "t"}', "DLQ_URL": "https://sqs/q", **{k: env[k] for k in env if "PUT" in k}}
            | {"DELIVERY_CONCURRENCY": env["DELIVERY_CONCURRENCY"]}
        )
        assert settings.delivery_concurrency == 16
        assert settings.put_events_rate_per_s == 1000 // (shards * factor)
        # Calls in flight per shard: enough for 1,000 calls/s at 20 ms each (1,000 x 0.02 = 20), with headroom.
        assert factor * settings.delivery_concurrency >= 2 * 1000 * 0.020
        assert shards * factor * settings.put_events_rate_per_s <= 1000


def test_both_queues_are_encrypted_keep_14_days_and_refuse_plain_http(synthesised):
    template = synthesised["on_demand"]
    queues = template.find_resources("AWS::SQS::Queue")
    assert sorted(k.split("Queue")[0] for k in queues) == ["IngestDeadLetter", "IngestFailure"]
    for queue in queues.values():
        props = queue["Properties"]
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert props["KmsMasterKeyId"] == {"Fn::GetAtt": [Match.any_value(), "Arn"]} or "Key" in json.dumps(
            props["KmsMasterKeyId"]
        )
    policies = template.find_resources("AWS::SQS::QueuePolicy")
    assert len(policies) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_function_runs_the_ingest_handler_with_tracking_ids_and_dlq_url(synthesised):
    template = synthesised["on_demand"]
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "ingest.handler.handler"}}
    )
    (function,) = functions.values()
    env = function["Properties"]["Environment"]["Variables"]
    assert env["DLQ_URL"] == {"Ref": Match.any_value()} or "DeadLetterQueue" in json.dumps(env["DLQ_URL"])
    # The token-valued tracking id is spliced into the JSON at deploy time (Fn::Join), not stringified.
    tracking = json.dumps(env["TRACKING_IDS"])
    assert "Fn::Join" in tracking and "trk-kr" in tracking and "TrackingId" in tracking
    assert "${Token" not in tracking


def _statements(template: Template) -> list[dict]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_role_is_least_privilege(synthesised):
    statements = _statements(synthesised["on_demand"])
    actions = {}
    for statement in statements:
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            actions.setdefault(action, []).append(statement["Resource"])
    # PutEvents has no resource-level permissions (Service Authorization Reference): "*" is the only grant
    # AWS accepts; tests/infra/test_iam_oracle.py checks every action this way.
    assert actions["personalize:PutEvents"] == ["*"]
    assert not any("*" in a for a in actions if a.startswith(("kms:", "sqs:", "personalize:")))
    assert set(a for a in actions if a.startswith("sqs:")) == {"sqs:SendMessage"}
    assert set(a for a in actions if a.startswith("kms:")) == {"kms:Decrypt", "kms:GenerateDataKey"}
    kms = [s for s in statements if any(a.startswith("kms:") for a in _as_actions(s))]
    assert kms and all("kms:ViaService" in json.dumps(s["Condition"]) for s in kms)
    # the stream is read with exactly what the event source mapping needs (no enhanced fan-out, no ListStreams)
    assert {a for a in actions if a.startswith("kinesis:")} == {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
    }
    wildcard = {a for s in statements if s["Resource"] == "*" for a in _as_actions(s)}
    assert wildcard == {"xray:PutTelemetryRecords", "xray:PutTraceSegments", "personalize:PutEvents"}


def _as_actions(statement) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_alarms_cover_iterator_age_both_queues_and_errors_and_notify_the_topic(synthesised):
    template = synthesised["on_demand"]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in alarms.values()
        if "MetricName" in a["Properties"]
    }
    assert by_metric["IteratorAge"]["Threshold"] == 5 * 60 * 1000
    assert by_metric["IteratorAge"]["Statistic"] == "Maximum"
    assert by_metric["Errors"]["Namespace"] == "AWS/Lambda"
    depth = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    queues = sorted(json.dumps(a["Dimensions"]) for a in depth)
    assert (
        len(queues) == 2
        and "DeadLetterQueue" in queues[0] + queues[1]
        and "FailureQueue" in queues[0] + queues[1]
    )
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": Match.any_value()}] or "Alarms" in json.dumps(
            alarm["Properties"]["AlarmActions"]
        )
    assert len(alarms) == 4
    # Without a topic the alarms still exist, with no actions.
    quiet = synthesised["provisioned"].find_resources("AWS::CloudWatch::Alarm")
    assert len(quiet) == 4 and all("AlarmActions" not in a["Properties"] for a in quiet.values())


def test_bad_arguments_are_refused():
    app = cdk.App()
    stack = cdk.Stack(app, "Bad", env=ENV)
    key = kms.Key(stack, "Key")
    base = dict(env_name="dev", encryption_key=key, tracking_ids={"KR": "t"}, tracker_arns=TRACKER_ARNS)
    with pytest.raises(ValueError, match="tracker ARNs"):
        RealtimeIngest(stack, "A", **{**base, "tracker_arns": []})
    with pytest.raises(ValueError, match="at least one country"):
        RealtimeIngest(stack, "B", **{**base, "tracking_ids": {}})
    with pytest.raises(ValueError, match="shard_count"):
        RealtimeIngest(stack, "C", **base, shard_count=0)
    with pytest.raises(ValueError, match="retention"):
        RealtimeIngest(stack, "D", **base, max_record_age=cdk.Duration.days(8))


def test_cdk_nag_leaves_only_the_shared_runtime_finding(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    _stack(app, "Nag", shard_count=None, with_topic=True)
    enable_checks(app)
    try:
        app.synth()
    except Exception as error:  # ValidationFailed while any finding is open
        assert "ValidationFailed" in str(error)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    open_findings = {
        (violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
        if construct["constructPath"].startswith("Nag/Ingest/")
    }
    # AwsSolutions-L1 concerns the runtime chosen by the shared PythonFunction, not this construct.
    assert open_findings <= {("AwsSolutions-L1", "Nag/Ingest/Ingest/Function/Resource")}


def test_cfn_lint_accepts_the_template(synthesised):
    result = cfn_lint(synthesised["outdir"])
    assert result.returncode == 0, result.stdout + result.stderr
