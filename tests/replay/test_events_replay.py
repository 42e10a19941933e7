"""`personalize-runs events replay` (issue 13) on moto's Kinesis, SQS, S3 and CloudFormation: descriptors in the
failure queue are read, their ranges fetched from the stream by sequence number, resent through the ingest's
delivery (fake personalize-events, moto has none), and deleted only when every record was delivered or
dead-lettered."""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters
from moto import mock_aws

from tests.ingest.ingest_fakes import FakeClock, FakePersonalizeEvents, client_error, event
from tools.replay import cli
from tools.replay.aws import AwsClients
from tools.replay.events import parse_descriptor

REGION = "us-east-1"
STACK = "Personalize-dev-Realtime"
TRACKERS = {"KR": "trk-kr", "JP": "trk-jp"}
BUCKET = "personalize-dev-results-test"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeCloudFormation:
    """DescribeStacks of the deployed Realtime stack (moto's CloudFormation needs extras this venv lacks);
    requests are validated against botocore's model and answers have its shape."""

    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.deployed = True
        self._model = botocore.session.get_session().get_service_model("cloudformation")

    def describe_stacks(self, **params: Any) -> dict[str, Any]:
        validate_parameters(params, self._model.operation_model("DescribeStacks").input_shape)
        if not self.deployed or params["StackName"] != STACK:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {params['StackName']} does not exist",
                    }
                },
                "DescribeStacks",
            )
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in self.outputs.items()]
        return {"Stacks": [{"StackName": STACK, "StackStatus": "UPDATE_COMPLETE", "Outputs": outputs}]}


class EventsClients(AwsClients):
    """moto for Kinesis, SQS and S3; fakes for personalize-events (moto has none) and CloudFormation."""

    def __init__(self, profile: str | None, region: str | None, *, fakes: dict[str, Any]) -> None:
        super().__init__(profile, region)
        self._fakes = fakes

    def client(self, service: str) -> Any:
        return self._fakes[service] if service in self._fakes else super().client(service)


class Realtime:
    """The Realtime stack's resources in moto, its outputs as the stack declares them, and the CLI."""

    def __init__(self) -> None:
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.kinesis.create_stream(StreamName="events", ShardCount=1)
        summary = self.kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]
        self.stream_arn = summary["StreamARN"]
        self.shard = self.kinesis.list_shards(StreamName="events")["Shards"][0]["ShardId"]
        self.failure_queue = self.sqs.create_queue(QueueName="failure")["QueueUrl"]
        self.dlq = self.sqs.create_queue(QueueName="dlq")["QueueUrl"]
        self.s3.create_bucket(Bucket=BUCKET)
        outputs = {
            "StreamArn": self.stream_arn,
            "FailureQueueUrl": self.failure_queue,
            "DeadLetterQueueUrl": self.dlq,
            "TrackingIds": json.dumps(TRACKERS),
            "DeadLetterPayloadBucketName": BUCKET,
        }
        self.cloudformation = FakeCloudFormation(outputs)
        self.personalize = FakePersonalizeEvents()
        self.clock = FakeClock()

    def put(self, payloads: list[dict[str, Any] | bytes]) -> list[str]:
        """Records in the stream (partition key = session); their sequence numbers, in order."""
        sequence_numbers = []
        for payload in payloads:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            key = payload.get("session_id", "raw") if isinstance(payload, dict) else "raw"
            sequence_numbers.append(
                self.kinesis.put_record(StreamName="events", Data=data, PartitionKey=str(key))["SequenceNumber"]
            )
        return sequence_numbers

    def fail_batch(self, sequence_numbers: list[str], condition: str = "RecordAgeExceeded") -> None:
        """What Lambda's event source mapping sends to the on-failure destination for a batch it gave up on."""
        record = {
            "requestContext": {
                "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
                "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:ingest",
                "condition": condition,
                "approximateInvokeCount": 12,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None},
            "version": "1.0",
            "timestamp": "2026-11-20T10:20:00.021Z",
            "KinesisBatchInfo": {
                "shardId": self.shard,
                "startSequenceNumber": sequence_numbers[0],
                "endSequenceNumber": sequence_numbers[-1],
                "approximateArrivalOfFirstRecord": "2026-11-20T09:20:00.835Z",
                "approximateArrivalOfLastRecord": "2026-11-20T09:20:05.580Z",
                "batchSize": len(sequence_numbers),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue, MessageBody=json.dumps(record))

    def cli(self, *args: str, answer: str | None = None, tty: bool = True) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        runtime = cli.Runtime(
            clients=lambda profile, region: EventsClients(
                profile,
                region,
                fakes={"personalize-events": self.personalize, "cloudformation": self.cloudformation},
            ),
            stdin=FakeTerminal(answer or "") if tty else io.StringIO(answer or ""),
            stdout=out,
            stderr=err,
            delivery_clock=self.clock,
        )
        code = cli.main(["events", "replay", "--env", "dev", "--region", REGION, *args], runtime=runtime)
        return code, out.getvalue(), err.getvalue()

    def visible_descriptors(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.failure_queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def dead_letters(self) -> list[dict[str, Any]]:
        found = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.dlq, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.dlq, ReceiptHandle=message["ReceiptHandle"])

    def sent_by_session(self) -> dict[str, list[str]]:
        sent: dict[str, list[str]] = defaultdict(list)
        for call in self.personalize.accepted:
            sent[call["sessionId"]].extend(e["eventId"] for e in call["eventList"])
        return dict(sent)


@pytest.fixture
def realtime():
    with mock_aws():
        yield Realtime()


def _sessions(first: int, count: int) -> list[dict[str, Any]]:
    """Events of two sessions (KR and JP) interleaved; event ids ev-<n>."""
    return [
        event(n, session_id=("s-kr", "s-jp")[n % 2], country=("KR", "JP")[n % 2]) for n in range(first, first + count)
    ]


def test_replay_resends_each_range_in_session_order_and_deletes_its_descriptor(realtime):
    first = _sessions(0, 12)
    second = _sessions(12, 8)
    junk = b"not json at all"
    # Thousands of unknown fields: a dead letter far above SQS's bound once its detail lists them all.
    huge = {**event(99, session_id="s-kr"), **{f"unknown_field_{i}": "x" * 20 for i in range(1200)}}
    numbers_first = realtime.put([*first, junk])
    numbers_second = realtime.put([*second, huge])
    realtime.fail_batch(numbers_first)
    realtime.fail_batch(numbers_second)

    code, out, err = realtime.cli("--yes")

    assert code == 0, err
    expected = {
        "s-kr": [e["event_id"] for e in first + second if e["session_id"] == "s-kr"],
        "s-jp": [e["event_id"] for e in first + second if e["session_id"] == "s-jp"],
    }
    assert realtime.sent_by_session() == expected
    letters = {letter["sequenceNumber"]: letter for letter in realtime.dead_letters()}
    assert set(letters) == {numbers_first[-1], numbers_second[-1]}
    assert letters[numbers_first[-1]]["reason"] == "malformed_json"
    # The oversized one points to S3, where the whole dead letter (data included) is kept.
    pointer = letters[numbers_second[-1]]
    assert pointer["reason"] == "invalid_field" and pointer["data"] is None
    bucket, key = pointer["payloadLocation"].removeprefix("s3://").split("/", 1)
    assert bucket == BUCKET and key.startswith("dead-letters/ingest/")
    stored = json.loads(realtime.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert json.loads(base64.b64decode(stored["data"])) == huge
    assert len(json.dumps(pointer)) < 64 * 1024 < pointer["payloadBytes"]
    assert realtime.visible_descriptors() == 0
    assert "2 deleted, 0 kept" in out
    assert "[1/2]" in err and "[2/2]" in err  # progress


def test_dry_run_reads_and_plans_but_sends_nothing_and_leaves_the_descriptors_visible(realtime):
    realtime.fail_batch(realtime.put(_sessions(0, 5)))
    code, out, err = realtime.cli("--dry-run", "--output", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["descriptors"] == 1 and plan["records"] == 5
    assert realtime.personalize.calls == []
    assert realtime.visible_descriptors() == 1  # visible again at once, not after the visibility timeout


def test_a_descriptor_is_kept_while_a_tracker_still_fails_then_a_later_replay_finishes_it(realtime):
    batch = _sessions(0, 10)
    realtime.fail_batch(realtime.put(batch))
    realtime.personalize.script = lambda params, number: (
        client_error("ServiceUnavailable", 503) if params["trackingId"] == "trk-kr" else None
    )
    code, out, err = realtime.cli("--yes", "--time-budget", "30")
    assert code == 1
    assert "0 deleted, 1 kept" in out and "again" in out
    assert realtime.visible_descriptors() == 1
    jp = [e["event_id"] for e in batch if e["country"] == "JP"]
    assert realtime.sent_by_session() == {"s-jp": jp}
    # The outage patience probed KR a few times within the budget, on the simulated clock.
    assert 0 < realtime.clock.t - 1000.0 <= 30

    realtime.personalize.script = lambda params, number: None
    code, out, err = realtime.cli("--yes")
    assert code == 0, err
    # JP's events were sent again with the same event ids (idempotent); KR's arrive in order.
    assert realtime.sent_by_session() == {
        "s-jp": jp + jp,
        "s-kr": [e["event_id"] for e in batch if e["country"] == "KR"],
    }
    assert realtime.visible_descriptors() == 0


def test_without_a_terminal_it_asks_for_yes_and_a_no_changes_nothing(realtime):
    realtime.fail_batch(realtime.put(_sessions(0, 3)))
    code, _, err = realtime.cli(tty=False)
    assert code == 2 and "--yes" in err
    code, _, err = realtime.cli(answer="n\n")
    assert code == 3 and "cancelled" in err
    assert realtime.personalize.calls == []
    assert realtime.visible_descriptors() == 1


def test_an_empty_queue_is_nothing_to_do_and_an_undeployed_env_is_not_found(realtime):
    code, out, _ = realtime.cli("--yes")
    assert code == 0 and "no descriptors" in out
    realtime.cloudformation.deployed = False
    code, _, err = realtime.cli("--yes")
    assert code == 3 and "is the env deployed" in err


def test_a_message_that_is_not_a_descriptor_is_left_in_the_queue(realtime):
    realtime.sqs.send_message(QueueUrl=realtime.failure_queue, MessageBody='{"hello": "world"}')
    code, out, err = realtime.cli("--yes")
    assert code == 0 and "not Kinesis descriptors" in err
    assert realtime.visible_descriptors() == 1


def test_the_descriptor_is_read_as_the_lambda_guide_shows_it():
    body = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000001",
            "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
            "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
            "batchSize": 500,
            "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
        },
    }
    descriptor = parse_descriptor({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps(body)})
    assert (descriptor.shard_id, descriptor.batch_size, descriptor.condition) == (
        "shardId-000000000001",
        500,
        "RetryAttemptsExhausted",
    )
    with pytest.raises(ValueError, match="not a Kinesis on-failure record"):
        parse_descriptor({"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps({"KinesisBatchInfo": {}})})
