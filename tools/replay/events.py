"""`personalize-runs events replay`: resend the Kinesis records Lambda gave up on, through the ingest's own delivery.

The ingest's event source mapping sends a batch it gave up on (record age past the mapping's maximum, see
stacks/constructs/realtime_ingest.py) to the failure queue as a descriptor, not as data. The Lambda guide
("Retain discarded batch records for a Kinesis Data Streams event source") shows it: an invocation record with
`requestContext.condition` (e.g. RetryAttemptsExhausted, RecordAgeExceeded) and `KinesisBatchInfo` = {shardId,
startSequenceNumber, endSequenceNumber, approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord,
batchSize, streamArn}. The records stay in the stream for its retention (7 days), so a replay:

1. receives the descriptors (hidden from other readers while it works: a visibility timeout);
2. reads each range from the stream: GetShardIterator AT_SEQUENCE_NUMBER startSequenceNumber, then GetRecords
   until a sequence number past endSequenceNumber. With a parallelization factor above 1 a batch holds only
   some of the range's partition keys, so the range's other records are resent too: harmless, because
3. delivery is the ingest's (`ingest.delivery.Delivery`): same grouping per session and order, same event ids
   (the producer's `event_id`, or the content hash `InteractionEvent.default_event_id`), so a record already
   delivered is the same event again and Personalize keeps one; records that can never succeed go to the
   dead-letter queue (large ones to S3) exactly as the Lambda sends them;
4. deletes a descriptor only when every record of its range was delivered or dead-lettered, and makes the
   others visible again at once for the next attempt.

Planning (steps 1-2 and a parse of every record) changes nothing: it is what --dry-run prints.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ingest.dead_letters import S3PayloadStore, SqsDeadLetterQueue
from ingest.delivery import Delivery, DeliveryReport
from ingest.events import RecordRejected, parse_record
from ingest.inbound import InboundRecord
from ingest.retry import Clock, SystemClock
from tools.replay.aws import stack_outputs

# While a replay works on a descriptor nobody else should: long enough for planning, the confirmation and
# the delivery of a few thousand records. Descriptors not deleted are made visible again when it ends.
VISIBILITY_TIMEOUT_S = 900
MAX_DESCRIPTORS = 100
RECEIVE_WAIT_S = 1  # long polling: a short poll samples only some SQS servers and may miss messages
GET_RECORDS_LIMIT = 10_000  # the GetRecords maximum per call
# GetRecords may answer an empty page before the end of the data (Kinesis API reference, GetRecords); a few
# in a row while the iterator is not at the tip are tolerated.
MAX_EMPTY_PAGES = 5
# The live ingest uses most of PutEvents' 1,000 requests/s per dataset group: a replay takes a small share.
REPLAY_RATE_PER_S = 100.0
REPLAY_CONCURRENCY = 8


@dataclass(frozen=True)
class RealtimeResources:
    """What the Realtime stack outputs for the replay (stacks/realtime_stack.py)."""

    stack: str
    stream_arn: str
    failure_queue_url: str
    dead_letter_queue_url: str
    tracking_ids: dict[str, str]
    payload_bucket: str | None


REALTIME_OUTPUTS = ("StreamArn", "FailureQueueUrl", "DeadLetterQueueUrl")


def realtime_resources(cloudformation: Any, stack: str, country_stacks: dict[str, str]) -> RealtimeResources:
    """The Realtime stack's outputs, and each country's tracking id from its own stack (`TrackingId`)."""
    outputs = stack_outputs(cloudformation, stack, REALTIME_OUTPUTS)
    tracking_ids = {
        country: stack_outputs(cloudformation, name, ("TrackingId",))["TrackingId"]
        for country, name in country_stacks.items()
    }
    return RealtimeResources(
        stack=stack,
        stream_arn=outputs["StreamArn"],
        failure_queue_url=outputs["FailureQueueUrl"],
        dead_letter_queue_url=outputs["DeadLetterQueueUrl"],
        tracking_ids=tracking_ids,
        payload_bucket=outputs.get("DeadLetterPayloadBucketName"),
    )


@dataclass(frozen=True)
class Descriptor:
    message_id: str
    receipt_handle: str
    shard_id: str
    start: str
    end: str
    batch_size: int
    stream_arn: str
    condition: str
    first_arrival: str | None
    last_arrival: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "shard_id": self.shard_id,
            "start_sequence_number": self.start,
            "end_sequence_number": self.end,
            "batch_size": self.batch_size,
            "condition": self.condition,
            "first_arrival": self.first_arrival,
            "last_arrival": self.last_arrival,
        }


def parse_descriptor(message: dict[str, Any]) -> Descriptor:
    """A failure-queue message as the Lambda on-failure record for Kinesis, or ValueError naming what is off."""
    try:
        body = json.loads(message["Body"])
        info = body["KinesisBatchInfo"]
        return Descriptor(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            shard_id=str(info["shardId"]),
            start=str(int(info["startSequenceNumber"])),
            end=str(int(info["endSequenceNumber"])),
            batch_size=int(info["batchSize"]),
            stream_arn=str(info["streamArn"]),
            condition=str(body.get("requestContext", {}).get("condition", "")),
            first_arrival=info.get("approximateArrivalOfFirstRecord"),
            last_arrival=info.get("approximateArrivalOfLastRecord"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"message {message.get('MessageId')} is not a Kinesis on-failure record ({error})") from None


def receive_descriptors(sqs: Any, queue_url: str, limit: int) -> tuple[list[Descriptor], list[dict[str, Any]]]:
    """Up to `limit` descriptors, and the messages that are not descriptors (left alone, made visible again)."""
    descriptors: list[Descriptor] = []
    others: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(descriptors) + len(others) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(descriptors) - len(others)),
            VisibilityTimeout=VISIBILITY_TIMEOUT_S,
            WaitTimeSeconds=RECEIVE_WAIT_S,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                descriptors.append(parse_descriptor(message))
            except ValueError:
                others.append(message)
    return descriptors, others


def release(sqs: Any, queue_url: str, receipt_handles: list[str]) -> None:
    """Make messages visible again now (not after the visibility timeout): the next replay can take them."""
    for handle in receipt_handles:
        try:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
        except ClientError:
            pass  # visible again after VISIBILITY_TIMEOUT_S anyway


def release_plan(clients: Any, plan: Plan) -> None:
    """Nothing is done with the plan's descriptors (dry run, cancelled): visible again for the next replay."""
    handles = [item.descriptor.receipt_handle for item in plan.items]
    release(clients.client("sqs"), plan.resources.failure_queue_url, handles)


@dataclass
class Fetched:
    records: list[InboundRecord]
    # The range's first record was no longer in the stream (past retention): those records are gone.
    start_missing: bool


def fetch_range(kinesis: Any, descriptor: Descriptor) -> Fetched:
    iterator = kinesis.get_shard_iterator(
        # The name, which every SDK and emulator accepts; same account and region as the ARN (the tool's).
        StreamName=descriptor.stream_arn.split(":stream/", 1)[-1],
        ShardId=descriptor.shard_id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=descriptor.start,
    )["ShardIterator"]
    end = int(descriptor.end)
    records: list[InboundRecord] = []
    empty_pages = 0
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        past_end = False
        for item in page.get("Records", []):
            if int(item["SequenceNumber"]) > end:
                past_end = True
                break
            arrival = item.get("ApproximateArrivalTimestamp")
            records.append(
                InboundRecord(
                    sequence_number=item["SequenceNumber"],
                    data=base64.b64encode(item["Data"]).decode(),
                    partition_key=item.get("PartitionKey", ""),
                    shard_id=descriptor.shard_id,
                    source_arn=descriptor.stream_arn,
                    approximate_arrival=arrival.timestamp() if hasattr(arrival, "timestamp") else arrival,
                )
            )
        if past_end:
            break
        if not page.get("Records"):
            empty_pages += 1
            if page.get("MillisBehindLatest", 0) == 0 or empty_pages >= MAX_EMPTY_PAGES:
                break
        else:
            empty_pages = 0
        iterator = page.get("NextShardIterator")
    start_missing = not records or records[0].sequence_number != descriptor.start
    return Fetched(records, start_missing)


@dataclass
class Item:
    """One descriptor: its plan (what was read) and, once replayed, what happened."""

    descriptor: Descriptor
    fetched: Fetched
    parse_failures: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    dead_lettered: int = 0
    not_delivered: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    action: str = "planned"

    @property
    def records(self) -> int:
        return len(self.fetched.records)

    def summary(self) -> dict[str, Any]:
        return {
            **self.descriptor.summary(),
            "records": self.records,
            "start_missing": self.fetched.start_missing,
            "invalid_records": dict(self.parse_failures),
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
            "not_delivered": self.not_delivered,
            "causes": dict(self.causes),
            "action": self.action,
        }


@dataclass
class Plan:
    resources: RealtimeResources
    items: list[Item]
    ignored: list[dict[str, Any]]  # failure-queue messages that are not descriptors

    @property
    def records(self) -> int:
        return sum(item.records for item in self.items)

    def summary(self) -> dict[str, Any]:
        actions = Counter(item.action for item in self.items)
        return {
            "stack": self.resources.stack,
            "descriptors": len(self.items),
            "records": self.records,
            "delivered": sum(i.delivered for i in self.items),
            "dead_lettered": sum(i.dead_lettered for i in self.items),
            "not_delivered": sum(i.not_delivered for i in self.items),
            "descriptors_deleted": actions.get("deleted", 0),
            "descriptors_kept": actions.get("kept", 0),
            "ignored_messages": len(self.ignored),
        }


def plan_replay(clients: Any, resources: RealtimeResources, limit: int = MAX_DESCRIPTORS) -> Plan:
    sqs = clients.client("sqs")
    descriptors, others = receive_descriptors(sqs, resources.failure_queue_url, limit)
    release(sqs, resources.failure_queue_url, [m["ReceiptHandle"] for m in others])
    items = []
    try:
        kinesis = clients.client("kinesis")
        for descriptor in descriptors:
            item = Item(descriptor, fetch_range(kinesis, descriptor))
            for record in item.fetched.records:
                try:
                    parse_record(record.data)
                except RecordRejected as error:
                    item.parse_failures[error.reason.value] += 1
            items.append(item)
    except BaseException:
        release(sqs, resources.failure_queue_url, [d.receipt_handle for d in descriptors])
        raise
    return Plan(resources, items, others)


def replay(
    clients: Any,
    plan: Plan,
    *,
    time_budget_s: float,
    progress: Callable[[str], None],
    clock: Clock | None = None,
) -> None:
    """Deliver each descriptor's records; delete the descriptor only when none is left undelivered."""
    resources = plan.resources
    sqs = clients.client("sqs")
    payloads = S3PayloadStore(clients.client("s3"), resources.payload_bucket) if resources.payload_bucket else None
    clock = clock or SystemClock()
    delivery = Delivery(
        personalize=clients.client("personalize-events"),
        dead_letters=SqsDeadLetterQueue(sqs, resources.dead_letter_queue_url, clock=clock, payloads=payloads),
        tracking_ids=resources.tracking_ids,
        clock=clock,
        max_concurrency=REPLAY_CONCURRENCY,
        rate_per_s=REPLAY_RATE_PER_S,
    )
    pending = [item.descriptor.receipt_handle for item in plan.items]
    try:
        for number, item in enumerate(plan.items, 1):
            report = delivery.deliver(item.fetched.records, time_left_s=time_budget_s) if item.records else None
            _account(item, report)
            if item.not_delivered == 0 and not item.fetched.start_missing:
                sqs.delete_message(QueueUrl=resources.failure_queue_url, ReceiptHandle=item.descriptor.receipt_handle)
                pending.remove(item.descriptor.receipt_handle)
                item.action = "deleted"
            else:
                item.action = "kept"
            progress(
                f"[{number}/{len(plan.items)}] {item.descriptor.shard_id} {item.descriptor.start}..: "
                f"{item.records} records, {item.delivered} delivered, {item.dead_lettered} dead-lettered, "
                f"{item.not_delivered} not delivered -> descriptor {item.action}"
                + (" (its first records are past the stream's retention)" if item.fetched.start_missing else "")
            )
    finally:
        release(sqs, resources.failure_queue_url, pending)


def _account(item: Item, report: DeliveryReport | None) -> None:
    if report is None:
        return
    item.delivered = len(report.delivered)
    item.dead_lettered = len(report.dead_lettered)
    item.not_delivered = len(report.retry)
    item.causes = Counter(report.retry.values())
