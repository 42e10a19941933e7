"""Dead letters: records that can never be delivered, stored with their reason and original data.

A dead letter is an SQS message (SendMessageBatch, the entries that failed tried again within the invocation's
dead-letter reserve); one too large for a message is kept whole in S3 and the message points to it. A letter
that could not be stored is handed back to the caller, which reports its record for retry, so a failed send
loses nothing: Kinesis keeps the record meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.events import RejectReason
from ingest.inbound import InboundRecord
from ingest.retry import Clock, ErrorKind, RetryPolicy, SystemClock, classify

# SQS: "All parts of the message attribute, including Name, Type, and Value, are part of the message size
# restriction (256 KiB or 262,144 bytes)" (SQS API reference, MessageAttributeValue), and SendMessageBatch's
# total payload has the same bound. A dead letter whose body is larger than MAX_DEAD_LETTER_INLINE_BYTES is
# kept whole in S3 (`PayloadStore`) and the message points to it; without a store, base64 data above
# MAX_DEAD_LETTER_DATA_CHARS is truncated (the full record stays in the stream for its retention).
MAX_DEAD_LETTER_DATA_CHARS = 180_000
MAX_DEAD_LETTER_INLINE_BYTES = 64 * 1024
MAX_DEAD_LETTER_POINTER_DETAIL_CHARS = 2_000
MAX_SQS_BATCH_BYTES = 250_000
MAX_SQS_BATCH_ENTRIES = 10
# Where oversized dead letters go in the payload bucket (the ingest role may write only under it).
DEAD_LETTER_PAYLOAD_PREFIX = "dead-letters/ingest/"

# The retry cause of a record whose dead letter could not be stored.
DEAD_LETTER_SEND_FAILED = "dead_letter_send_failed"


@dataclass(frozen=True)
class DeadLetter:
    record: InboundRecord
    reason: RejectReason
    detail: str
    country: str | None = None


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter], deadline: float) -> list[DeadLetter]:
        """Store the letters; return those that could NOT be stored (the caller reports them for retry)."""
        ...


def dead_letter_document(letter: DeadLetter, *, truncate: bool = True) -> dict[str, Any]:
    """Everything needed to understand and replay the record; the payload is kept as Kinesis had it."""
    record = letter.record
    data = record.data
    truncated = truncate and len(data) > MAX_DEAD_LETTER_DATA_CHARS
    return {
        "reason": letter.reason.value,
        "detail": letter.detail,
        "country": letter.country,
        "sequenceNumber": record.sequence_number,
        "partitionKey": record.partition_key,
        "shardId": record.shard_id,
        "eventSourceArn": record.source_arn,
        "approximateArrivalTimestamp": record.approximate_arrival,
        # Base64 text is sliced on a 4-character boundary so the kept prefix still decodes.
        "data": data[: MAX_DEAD_LETTER_DATA_CHARS - MAX_DEAD_LETTER_DATA_CHARS % 4] if truncated else data,
        "dataTruncated": truncated,
        "dataChars": len(data),
        "dataSha256": hashlib.sha256(data.encode()).hexdigest(),
    }


def dead_letter_body(letter: DeadLetter) -> str:
    return json.dumps(dead_letter_document(letter), separators=(",", ":"))


def payload_key(letter: DeadLetter) -> str:
    """One object per record (shard + sequence number): a dead letter sent again overwrites the same object."""
    record = letter.record
    shard = record.shard_id or "unknown-shard"
    return f"{DEAD_LETTER_PAYLOAD_PREFIX}{shard}/{record.sequence_number}.json"


class PayloadStore(Protocol):
    def put(self, key: str, body: bytes) -> str:
        """Store `body` under `key`; return where it is (s3://bucket/key)."""
        ...


class S3PayloadStore:
    """Oversized dead letters as S3 objects (the bucket's default encryption applies)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self.bucket}/{key}"


def bounded_dead_letter_body(letter: DeadLetter, store: PayloadStore | None) -> str:
    """The SQS body of a dead letter, never above MAX_DEAD_LETTER_INLINE_BYTES when a store is given.

    A larger one (a 64 KiB record, or thousands of unknown fields making a long detail) is written whole to
    the store, and the message keeps the reason, the record's coordinates, a shortened detail and the
    object's location (`payloadLocation`)."""
    if store is None:
        return dead_letter_body(letter)
    document = dead_letter_document(letter, truncate=False)
    body = json.dumps(document, separators=(",", ":"))
    if len(body.encode()) <= MAX_DEAD_LETTER_INLINE_BYTES:
        return body
    location = store.put(payload_key(letter), body.encode())
    detail = document["detail"]
    if len(detail) > MAX_DEAD_LETTER_POINTER_DETAIL_CHARS:
        detail = f"{detail[:MAX_DEAD_LETTER_POINTER_DETAIL_CHARS]}... ({len(detail)} characters in the payload object)"
    pointer = {
        **document,
        "detail": detail,
        "data": None,
        "payloadLocation": location,
        "payloadBytes": len(body.encode()),
    }
    return json.dumps(pointer, separators=(",", ":"))


class SqsDeadLetterQueue:
    """DeadLetterSink on an SQS queue (SendMessageBatch, retrying the entries that failed)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        payloads: PayloadStore | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.payloads = payloads
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.jitter = jitter
        self.calls = 0

    def send(self, letters: Sequence[DeadLetter], deadline: float) -> list[DeadLetter]:
        unsent: list[DeadLetter] = []
        bodies: list[tuple[DeadLetter, str]] = []
        for letter in letters:
            try:
                bodies.append((letter, bounded_dead_letter_body(letter, self.payloads)))
            except Exception:  # the payload object could not be written: Kinesis keeps the record meanwhile
                unsent.append(letter)
        for batch in self._batches(bodies):
            unsent.extend(self._send_batch(batch, deadline))
        return unsent

    @staticmethod
    def _batches(bodies: Sequence[tuple[DeadLetter, str]]) -> list[list[tuple[DeadLetter, dict[str, Any]]]]:
        batches: list[list[tuple[DeadLetter, dict[str, Any]]]] = []
        current: list[tuple[DeadLetter, dict[str, Any]]] = []
        size = 0
        for index, (letter, body) in enumerate(bodies):
            entry = {
                "Id": f"r{index}",
                "MessageBody": body,
                # An attribute, so a redrive or a console filter can pick one kind of failure.
                "MessageAttributes": {"reason": {"DataType": "String", "StringValue": letter.reason.value}},
            }
            entry_size = len(body) + 64
            if current and (len(current) == MAX_SQS_BATCH_ENTRIES or size + entry_size > MAX_SQS_BATCH_BYTES):
                batches.append(current)
                current, size = [], 0
            current.append((letter, entry))
            size += entry_size
        if current:
            batches.append(current)
        return batches

    def _send_batch(self, batch: list[tuple[DeadLetter, dict[str, Any]]], deadline: float) -> list[DeadLetter]:
        pending = batch
        attempt = 0
        while pending and attempt < self.policy.max_attempts:
            # The first attempt is made even past the deadline: the reserve exists for exactly this send.
            if attempt and self.clock.now() >= deadline:
                break
            attempt += 1
            self.calls += 1
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=[entry for _, entry in pending])
            except Exception as error:  # classified: only transient failures are tried again
                if classify(error)[0] is not ErrorKind.TRANSIENT:
                    break
            else:
                failed = {f["Id"]: f for f in response.get("Failed", [])}
                pending = [(letter, entry) for letter, entry in pending if entry["Id"] in failed]
                # A sender fault will fail the same way again; Kinesis keeps the record meanwhile.
                if not pending or all(failed[entry["Id"]].get("SenderFault") for _, entry in pending):
                    break
            pause = self.policy.delay(attempt, self.jitter())
            if self.clock.now() + pause >= deadline:
                break
            self.clock.sleep(pause)
        return [letter for letter, _ in pending]
