"""The Realtime stack's resources for `personalize-runs events replay` tests: moto Kinesis, SQS and S3, fakes for
personalize-events (moto has none) and CloudFormation's DescribeStacks (moto's needs extras this venv lacks),
and the CLI run in-process on a simulated delivery clock."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from testkit.fakes.ingest import FakeClock, FakePersonalizeEvents
from testkit.shared_clients import SharedClients
from tools.replay import cli

REGION = "us-east-1"
STACK = "Personalize-dev-Realtime"
TRACKERS = {"KR": "trk-kr", "JP": "trk-jp", "US": "trk-us"}  # config/dev.yaml's countries
BUCKET = "personalize-dev-results-test"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeCloudFormation:
    """DescribeStacks of the deployed Realtime and country stacks (moto's CloudFormation needs extras this venv
    lacks); requests are validated against botocore's model and answers have its shape."""

    def __init__(self, stacks: dict[str, dict[str, str]]) -> None:
        self.stacks = stacks
        self.deployed = True
        self._model = botocore.session.get_session().get_service_model("cloudformation")

    def describe_stacks(self, **params: Any) -> dict[str, Any]:
        validate_parameters(params, self._model.operation_model("DescribeStacks").input_shape)
        name = params["StackName"]
        if not self.deployed or name not in self.stacks:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": f"Stack with id {name} does not exist"}},
                "DescribeStacks",
            )
        outputs = [{"OutputKey": key, "OutputValue": value} for key, value in self.stacks[name].items()]
        return {"Stacks": [{"StackName": name, "StackStatus": "UPDATE_COMPLETE", "Outputs": outputs}]}


class EventsClients(SharedClients):
    """moto for Kinesis, SQS and S3; fakes for personalize-events (moto has none) and CloudFormation."""

    def __init__(self, profile: str | None, region: str | None, *, fakes: dict[str, Any]) -> None:
        super().__init__(profile, region)
        self._fakes = fakes

    def client(self, service: str) -> Any:
        return self._fakes[service] if service in self._fakes else super().client(service)


class Realtime:
    """The Realtime stack's resources in moto, its outputs as the stack declares them, and the CLI."""

    def __init__(
        self,
        *,
        stream: str = "events",
        failure_queue: str = "failure",
        dlq: str = "dlq",
        bucket: str = BUCKET,
        trackers: dict[str, str] = TRACKERS,
        personalize: Any = None,
        cloudformation: Any = None,
    ) -> None:
        """Names default to test ones; the IAM test passes the synthesised stack's (tests/iam)."""
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.stream = stream
        self.kinesis.create_stream(StreamName=stream, ShardCount=1)
        summary = self.kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        self.stream_arn = summary["StreamARN"]
        self.shard = self.kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        self.failure_queue = self.sqs.create_queue(QueueName=failure_queue)["QueueUrl"]
        self.dlq = self.sqs.create_queue(QueueName=dlq)["QueueUrl"]
        self.s3.create_bucket(Bucket=bucket)
        outputs = {
            "StreamArn": self.stream_arn,
            "FailureQueueUrl": self.failure_queue,
            "DeadLetterQueueUrl": self.dlq,
            "DeadLetterPayloadBucketName": bucket,
        }
        stacks = {STACK: outputs} | {f"Personalize-dev-{cc}": {"TrackingId": t} for cc, t in trackers.items()}
        self.fake_cloudformation = FakeCloudFormation(stacks)
        self.cloudformation = cloudformation(self.fake_cloudformation) if cloudformation else self.fake_cloudformation
        self.fake_personalize = FakePersonalizeEvents()
        self.personalize = personalize(self.fake_personalize) if personalize else self.fake_personalize
        self.clock = FakeClock()

    def put(self, payloads: list[dict[str, Any] | bytes]) -> list[str]:
        """Records in the stream (partition key = session); their sequence numbers, in order."""
        sequence_numbers = []
        for payload in payloads:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            key = payload.get("session_id", "raw") if isinstance(payload, dict) else "raw"
            sequence_numbers.append(
                self.kinesis.put_record(StreamName=self.stream, Data=data, PartitionKey=str(key))["SequenceNumber"]
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
        for call in self.fake_personalize.accepted:
            sent[call["sessionId"]].extend(e["eventId"] for e in call["eventList"])
        return dict(sent)
