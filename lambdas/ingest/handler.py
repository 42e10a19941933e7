"""Kinesis -> Personalize PutEvents: thin powertools handler over `ingest.delivery`.

The work is batch-wide (PutEvents takes up to 10 events of one session per call), so this uses powertools'
documented extension point, a BatchProcessor subclass passed to `process_partial_response`: the record
handler still runs once per record (turning it into an `InboundRecord`), then the whole batch is delivered
once, and each record is marked success or failure so powertools builds `batchItemFailures` as usual.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from common.observability import logger, metrics, tracer
from ingest.dead_letters import S3PayloadStore, SqsDeadLetterQueue
from ingest.delivery import Delivery, DeliveryReport
from ingest.inbound import InboundRecord
from ingest.retry import Clock
from ingest.settings import IngestSettings

# Used only when there is no Lambda context (local runs): a conservative invocation budget.
_DEFAULT_TIME_LEFT_S = 30.0


class Clients(NamedTuple):
    personalize_events: Any
    sqs: Any
    s3: Any = None


@functools.cache
def settings() -> IngestSettings:
    return IngestSettings.from_env()


@functools.cache
def clients() -> Clients:
    """Created on first use (nothing talks to AWS at import); tests replace this function."""
    # One SDK attempt per call: delivery's own retry loop knows the invocation's deadline, the SDK's doesn't.
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
    # One pooled connection per delivery thread (urllib3 keeps 10 by default and would open, and TLS-handshake,
    # a new connection for every call beyond that).
    events_config = config.merge(Config(max_pool_connections=settings().delivery_concurrency))
    return Clients(
        boto3.client("personalize-events", config=events_config),
        boto3.client("sqs", config=config),
        boto3.client("s3", config=config),
    )


class DeliveryDeferred(Exception):
    """Not delivered in this invocation; Kinesis redelivers it (the cause says why)."""


def to_inbound(record: KinesisStreamRecord) -> InboundRecord:
    kinesis = record.kinesis
    return InboundRecord(
        sequence_number=kinesis.sequence_number,
        data=kinesis.data,
        partition_key=kinesis.partition_key,
        shard_id=record.event_id.split(":", 1)[0],
        source_arn=record.event_source_arn,
        approximate_arrival=kinesis.approximate_arrival_timestamp,
    )


class PutEventsBatchProcessor(BatchProcessor):
    """Kinesis BatchProcessor that delivers the batch as a whole (see the module docstring)."""

    def __init__(self, delivery: Delivery) -> None:
        # Never raise when every record failed: for Kinesis that would count as a function error and make
        # Lambda bisect the batch, which under throttling only multiplies the calls. Reporting every
        # record has the same effect (retry from the first one) without the split.
        super().__init__(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
        self.delivery = delivery
        self.report = DeliveryReport()

    def process(self) -> list[tuple]:
        batch = [self._to_batch_type(record=record, event_type=self.event_type) for record in self.records]
        inbound = [self.handler(record=record) for record in batch]
        context = getattr(self, "lambda_context", None)
        time_left = context.get_remaining_time_in_millis() / 1000 if context else _DEFAULT_TIME_LEFT_S
        self.report = self.delivery.deliver(inbound, time_left_s=time_left)
        results = []
        for record, item in zip(batch, inbound, strict=True):
            cause = self.report.retry.get(item.sequence_number)
            if cause is None:
                results.append(self.success_handler(record=record, result=item.sequence_number))
            else:
                error = DeliveryDeferred(cause)
                results.append(self.failure_handler(record=record, exception=(DeliveryDeferred, error, None)))
        return results


def process_batch(
    event: dict[str, Any],
    context: LambdaContext | None,
    *,
    config: IngestSettings,
    personalize_events: Any,
    sqs: Any,
    s3: Any = None,
    clock: Clock | None = None,
) -> PartialItemFailureResponse:
    payloads = S3PayloadStore(s3, config.dead_letter_bucket) if s3 is not None and config.dead_letter_bucket else None
    delivery = Delivery(
        personalize=personalize_events,
        dead_letters=SqsDeadLetterQueue(sqs, config.dlq_url, clock=clock, payloads=payloads),
        tracking_ids=config.tracking_ids,
        clock=clock,
        max_concurrency=config.delivery_concurrency,
        rate_per_s=config.put_events_rate_per_s,
    )
    processor = PutEventsBatchProcessor(delivery)
    response = process_partial_response(
        event=event, record_handler=to_inbound, processor=processor, context=context
    )
    _observe(processor.report, received=len(processor.records))
    return response


def _observe(report: DeliveryReport, received: int) -> None:
    count = MetricUnit.Count
    metrics.add_metric(name="RecordsReceived", unit=count, value=received)
    metrics.add_metric(name="RecordsDelivered", unit=count, value=len(report.delivered))
    metrics.add_metric(name="RecordsRetried", unit=count, value=len(report.retry))
    metrics.add_metric(name="RecordsDeadLettered", unit=count, value=len(report.dead_lettered))
    metrics.add_metric(name="PutEventsCalls", unit=count, value=report.put_events_calls)
    metrics.add_metric(name="PutEventsTransientErrors", unit=count, value=report.transient_errors)
    for reason, value in report.dead_letter_reasons().items():
        metrics.add_metric(name=f"DeadLettered_{reason}", unit=count, value=value)
    if report.dead_lettered:
        # Sequence numbers and reasons only: the payloads (user ids) stay in the encrypted queue.
        logger.warning(
            "records sent to the dead-letter queue",
            extra={
                "dead_lettered": [
                    {
                        "sequence_number": d.record.sequence_number,
                        "reason": d.reason.value,
                        "detail": d.detail,
                    }
                    for d in report.dead_lettered
                ]
            },
        )
    if report.retry:
        logger.warning("records left for Kinesis to retry", extra={"retry": report.retry})
    logger.info(
        "batch delivered",
        extra={
            "received": received,
            "delivered": len(report.delivered),
            "retried": len(report.retry),
            "dead_lettered": len(report.dead_lettered),
            "put_events_calls": report.put_events_calls,
        },
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    config = settings()
    aws = clients()
    return process_batch(
        event, context, config=config, personalize_events=aws.personalize_events, sqs=aws.sqs, s3=aws.s3
    )
