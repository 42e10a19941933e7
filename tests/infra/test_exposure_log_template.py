"""The exposure log's infrastructure in the dev templates: the subscription on the serving function's log group,
the Firehose stream's processors, prefixes, buffering and encryption, the least-privilege roles, the delivery
alarm, and the `exposures` Glue table the report reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.experiments import EXPOSURE_DAY, EXPOSURES_PREFIX, EXPOSURES_TABLE
from dataprep.queries import LINE_COLUMN
from stacks.constructs.exposure_log import BUFFER_INTERVAL_S, ERROR_FOLDER
from stacks.constructs.glue_table import LINES_SERDE

SERVING, PIPELINE = "Personalize-dev-Serving", "Personalize-dev-Pipeline"


def of_type(template: dict, type_name: str) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == type_name}


def only(template: dict, type_name: str) -> dict:
    (props,) = of_type(template, type_name).values()
    return props


def policy_of(template: dict, role_id: str) -> list[dict]:
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Roles"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def rendered(value) -> str:
    """An ARN built with Fn::Join, as text (tokens as ${Name})."""
    if isinstance(value, str):
        return value
    parts = value["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "${" + (p.get("Ref") or "?") + "}" for p in parts)


@pytest.fixture(scope="module")
def serving(dev_app) -> dict:
    return dev_app.template_json(SERVING)


@pytest.fixture(scope="module")
def stream(serving) -> dict:
    return only(serving, "AWS::KinesisFirehose::DeliveryStream")


def test_the_subscription_sends_only_exposure_lines_of_the_serving_function_to_the_stream(serving):
    subscription = only(serving, "AWS::Logs::SubscriptionFilter")
    (function,) = of_type(serving, "AWS::Lambda::Function").values()
    assert subscription["FilterPattern"] == '{ $.exposure.experiment = "*" }'
    assert subscription["LogGroupName"] == function["LoggingConfig"]["LogGroup"]
    (stream_id,) = of_type(serving, "AWS::KinesisFirehose::DeliveryStream")
    assert subscription["DestinationArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    role_id = subscription["RoleArn"]["Fn::GetAtt"][0]
    (statement,) = policy_of(serving, role_id)
    assert statement["Action"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert rendered(statement["Resource"]).endswith(":deliverystream/personalize-dev-exposures")
    trust = serving["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "logs.amazonaws.com"}]
    assert "aws:SourceArn" in trust[0]["Condition"]["StringLike"]


def test_the_stream_decompresses_extracts_messages_and_writes_day_partitions(stream):
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {
                "Type": "CloudWatchLogProcessing",
                "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}],
            },
            {"Type": "AppendDelimiterToRecord"},
        ],
    }
    assert s3["Prefix"] == f"{EXPOSURES_PREFIX}{EXPOSURE_DAY}=!{{timestamp:yyyy-MM-dd}}/"
    # Errors land apart from the table's location, by error type.
    assert s3["ErrorOutputPrefix"].startswith(ERROR_FOLDER) and not ERROR_FOLDER.startswith(EXPOSURES_PREFIX)
    assert "!{firehose:error-output-type}" in s3["ErrorOutputPrefix"]
    assert s3["BufferingHints"] == {"IntervalInSeconds": BUFFER_INTERVAL_S, "SizeInMBs": 128}
    assert rendered(s3["BucketARN"]).endswith(":s3:::personalize-dev-results-${AWS::AccountId}-${AWS::Region}")


def test_exposures_are_encrypted_with_the_env_key_in_s3_and_in_the_stream(stream):
    s3 = stream["ExtendedS3DestinationConfiguration"]
    key = s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    assert "DataKey" in key["Fn::ImportValue"]
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] in ("AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK")


def test_firehose_may_write_only_the_exposure_and_error_prefixes(serving, stream):
    role_id = stream["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    statements = {s["Sid"]: s for s in policy_of(serving, role_id)}
    assert set(statements) == {"WriteExposures", "FindResultsBucket", "EncryptExposures"}
    objects = sorted(rendered(r).rsplit("/", 2)[-2] + "/" for r in statements["WriteExposures"]["Resource"])
    assert objects == sorted([EXPOSURES_PREFIX, ERROR_FOLDER])
    assert sorted(statements["WriteExposures"]["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert "s3:DeleteObject" not in str(statements)
    assert statements["EncryptExposures"]["Condition"]["StringEquals"]["kms:ViaService"]


def test_a_failed_delivery_alarms_at_once(serving):
    from tests.infra.alarm_evaluation import fires_on_one_datapoint

    alarm = only(serving, "AWS::CloudWatch::Alarm")
    (success,) = [m for m in alarm["Metrics"] if "MetricStat" in m]
    (failed,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True) and "Expression" in m]
    metric = success["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.Success")
    assert success["MetricStat"]["Period"] == 900 and success["MetricStat"]["Stat"] == "Minimum"
    assert metric["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": "personalize-dev-exposures"}]
    assert failed["Expression"] == f"1 - {success['Id']}"
    # One period in which half the puts failed (the expression is 0.5), the periods around it empty.
    assert fires_on_one_datapoint(alarm, value=0.5)
    assert not fires_on_one_datapoint(alarm, value=0)
    # It notifies the env's run-notification topic, the pipeline's, as the pipeline's and ingest's alarms do.
    (action,) = alarm["AlarmActions"]
    assert "Personalize-dev-Pipeline:ExportsOutputRefRunNotifications" in json.dumps(action)


def test_the_exposures_table_reads_the_delivered_lines_as_text_with_a_projected_day(dev_app):
    tables = of_type(dev_app.template_json(PIPELINE), "AWS::Glue::Table")
    (table,) = [t["TableInput"] for t in tables.values() if t["TableInput"]["Name"] == EXPOSURES_TABLE]
    storage = table["StorageDescriptor"]
    assert storage["Columns"] == [{"Name": LINE_COLUMN, "Type": "string"}]
    assert storage["SerdeInfo"]["Parameters"] == LINES_SERDE.parameters
    assert table["PartitionKeys"] == [{"Name": EXPOSURE_DAY, "Type": "string"}]
    assert rendered(storage["Location"]).endswith(f"-${{AWS::Region}}/{EXPOSURES_PREFIX}")
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters[f"projection.{EXPOSURE_DAY}.type"] == "date"
    assert parameters[f"projection.{EXPOSURE_DAY}.format"] == "yyyy-MM-dd"
    assert rendered(parameters["storage.location.template"]).endswith(
        f"{EXPOSURES_PREFIX}{EXPOSURE_DAY}=${{{EXPOSURE_DAY}}}/"
    )


def test_exposures_outlive_the_run_outputs_for_the_longest_experiment(dev_app):
    """The results bucket expires each country's run outputs after data.retention_days, and the exposure log only
    after the longest configured experiment plus a margin: an experiment's report reads its whole log."""
    from stacks.config import load_config
    from stacks.data_stack import EXPOSURE_MARGIN_DAYS, exposure_retention_days

    config = load_config("dev")
    template = json.loads((Path(dev_app.outdir) / "Personalize-dev-Data.template.json").read_text())
    buckets = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    (bucket,) = [b for b in buckets if "results" in json.dumps(b["Properties"].get("BucketName", ""))]
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-exposures"]["Prefix"] == "exposures/"
    assert rules["expire-exposures"]["ExpirationInDays"] == exposure_retention_days(config)
    others = [r for i, r in rules.items() if i != "expire-exposures"]
    assert all(r["ExpirationInDays"] == config.data.retention_days for r in others)
    assert {r.get("Prefix") for r in others} == {f"{c.code}/" for c in config.countries} | {"exposures-errors/"}
    longest = max((e.end - e.start).days for c in config.countries for e in c.experiments)
    assert longest + EXPOSURE_MARGIN_DAYS > config.data.retention_days  # dev's experiment outlasts its retention
    assert exposure_retention_days(config) == longest + EXPOSURE_MARGIN_DAYS
