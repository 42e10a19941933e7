"""Fixtures for the ingest tests: moto SQS as the dead-letter queue and a `run` helper that sends a batch
through the real handler path (powertools processor -> delivery) and asserts the no-loss invariant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from invariant import Outcome, assert_nothing_lost
from moto import mock_aws

from common.observability import metrics
from ingest import handler as ingest_handler
from testkit.fakes.ingest import FakeClock, FakeContext, FakePersonalizeEvents, Record
from testkit.fakes.ingest import kinesis_event as build_event

TRACKERS = {"KR": "trk-kr", "JP": "trk-jp", "US": "trk-us"}


@pytest.fixture
def sqs():
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="ingest-dlq")["QueueUrl"]
        yield client, url


def read_dead_letters(client: Any, url: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while True:
        messages = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            body = json.loads(message["Body"])
            assert message["MessageAttributes"]["reason"]["StringValue"] == body["reason"]
            assert body["sequenceNumber"] not in found, "the same record dead-lettered twice"
            found[body["sequenceNumber"]] = body


@pytest.fixture
def run(sqs) -> Callable[..., Outcome]:
    sqs_client, url = sqs

    def _run(
        records: list[Record],
        client: FakePersonalizeEvents | None = None,
        *,
        clock: FakeClock | None = None,
        budget_s: float = 60.0,
        dlq_client: Any = None,
        trackers: dict[str, str] = TRACKERS,
        concurrency: int | None = None,
        rate_per_s: float | None = None,
    ) -> Outcome:
        client = client or FakePersonalizeEvents()
        clock = clock or FakeClock()
        environment = {"TRACKING_IDS": json.dumps(trackers), "DLQ_URL": url}
        if concurrency is not None:
            environment["DELIVERY_CONCURRENCY"] = str(concurrency)
        if rate_per_s is not None:
            environment["PUT_EVENTS_RATE_PER_S"] = str(rate_per_s)
        config = ingest_handler.IngestSettings.model_validate(environment)
        response = ingest_handler.process_batch(
            build_event(records),
            FakeContext(clock, budget_s),  # type: ignore[arg-type]
            config=config,
            personalize_events=client,
            sqs=dlq_client or sqs_client,
            clock=clock,
        )
        # process_batch adds metrics that only the decorated handler flushes: drop them between tests.
        metrics.clear_metrics()
        parts = {"client": client, "response": response, "dead_letters": read_dead_letters(sqs_client, url)}
        return assert_nothing_lost(records, parts)

    return _run
