"""The Lambda entry point: settings from the environment, lazy clients, metrics, partial batch response."""

from __future__ import annotations

import importlib
import json

import boto3
import pytest
from pydantic import ValidationError

from common.observability import metrics
from ingest import handler as ingest_handler
from testkit.fakes.ingest import (
    FakeClock,
    FakeContext,
    FakePersonalizeEvents,
    client_error,
    event,
    kinesis_event,
    record,
)

TRACKING_IDS = json.dumps({"KR": "trk-kr"})
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ingest-dlq"


def test_settings_come_from_the_environment():
    settings = ingest_handler.IngestSettings.from_env({"TRACKING_IDS": TRACKING_IDS, "DLQ_URL": DLQ_URL})
    assert settings.tracking_ids == {"KR": "trk-kr"}
    assert settings.dlq_url == DLQ_URL


@pytest.mark.parametrize(
    "environ, complaint",
    [
        ({"DLQ_URL": DLQ_URL}, "TRACKING_IDS"),
        ({"TRACKING_IDS": TRACKING_IDS}, "DLQ_URL"),
        ({"TRACKING_IDS": "{KR: x}", "DLQ_URL": DLQ_URL}, "TRACKING_IDS"),
        ({"TRACKING_IDS": json.dumps({"kr": "t"}), "DLQ_URL": DLQ_URL}, "TRACKING_IDS"),
        ({"TRACKING_IDS": TRACKING_IDS, "DLQ_URL": "ingest-dlq"}, "DLQ_URL"),
    ],
)
def test_bad_settings_fail_with_the_variable_named(environ, complaint):
    with pytest.raises(ValidationError) as caught:
        ingest_handler.IngestSettings.from_env(environ)
    assert complaint in str(caught.value)


def test_delivery_pool_and_rate_share_come_from_the_environment_with_safe_bounds():
    base = {"TRACKING_IDS": TRACKING_IDS, "DLQ_URL": DLQ_URL}
    defaults = ingest_handler.IngestSettings.from_env(base)
    assert (defaults.delivery_concurrency, defaults.put_events_rate_per_s) == (16, 1000)
    settings = ingest_handler.IngestSettings.from_env(
        {**base, "DELIVERY_CONCURRENCY": "8", "PUT_EVENTS_RATE_PER_S": "62"}
    )
    assert (settings.delivery_concurrency, settings.put_events_rate_per_s) == (8, 62)
    for name, value in (("DELIVERY_CONCURRENCY", "0"), ("PUT_EVENTS_RATE_PER_S", "1001")):
        with pytest.raises(ValidationError) as caught:
            ingest_handler.IngestSettings.from_env({**base, name: value})
        assert name in str(caught.value)


def test_the_events_client_pools_one_connection_per_delivery_thread(monkeypatch):
    monkeypatch.setenv("TRACKING_IDS", TRACKING_IDS)
    monkeypatch.setenv("DLQ_URL", DLQ_URL)
    monkeypatch.setenv("DELIVERY_CONCURRENCY", "24")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ingest_handler.settings.cache_clear()
    ingest_handler.clients.cache_clear()
    try:
        aws = ingest_handler.clients()  # creating a client sends nothing
        assert aws.personalize_events.meta.config.max_pool_connections == 24
        assert aws.personalize_events.meta.config.retries["total_max_attempts"] == 1
    finally:
        ingest_handler.settings.cache_clear()
        ingest_handler.clients.cache_clear()


def test_empty_tracker_map_is_refused():
    with pytest.raises(ValueError, match="no country"):
        ingest_handler.IngestSettings.from_env({"TRACKING_IDS": "{}", "DLQ_URL": DLQ_URL})


def test_importing_the_handler_creates_no_client(monkeypatch):
    def no_clients(*args, **kwargs):
        raise AssertionError("a client was created at import time")

    monkeypatch.setattr(boto3, "client", no_clients)
    importlib.reload(ingest_handler)


def test_handler_returns_partial_failures_and_emits_metrics(monkeypatch, sqs, capsys):
    sqs_client, url = sqs
    metrics.clear_metrics()
    throttle_s2 = FakePersonalizeEvents(
        lambda params, number: client_error("ThrottlingException") if params["sessionId"] == "s2" else None
    )
    monkeypatch.setattr(
        ingest_handler,
        "settings",
        lambda: ingest_handler.IngestSettings.from_env({"TRACKING_IDS": TRACKING_IDS, "DLQ_URL": url}),
    )
    monkeypatch.setattr(ingest_handler, "clients", lambda: ingest_handler.Clients(throttle_s2, sqs_client))
    # Real sleeps would slow the test: backoff waits are recorded instead.
    clock = FakeClock()
    monkeypatch.setattr(ingest_handler, "process_batch", _with_clock(ingest_handler.process_batch, clock))

    delivered = [record(event(1, session_id="s1")), record(event(2, session_id="s1"))]
    throttled = [record(event(3, session_id="s2"))]
    junk = [record("%%%"), record(event(4, country="ZZ"))]
    batch = delivered + throttled + junk
    response = ingest_handler.handler(kinesis_event(batch), FakeContext(clock, 60))

    assert response == {"batchItemFailures": [{"itemIdentifier": throttled[0].sequence_number}]}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    # EMF carries each metric as a list of values (one per add_metric call).
    figures = {
        name: sum(value) if isinstance(value, list) else value
        for name, value in emf[0].items()
        if name != "_aws"
    }
    assert figures["RecordsReceived"] == 5
    assert figures["RecordsDelivered"] == 2
    assert figures["RecordsRetried"] == 1
    assert figures["RecordsDeadLettered"] == 2
    assert figures["DeadLettered_malformed_base64"] == 1
    assert figures["DeadLettered_unknown_country"] == 1
    # One call for s1, six throttled attempts for s2, then the outage probes (one call every 1-15 s until the
    # deadline: about 8 in a 55 s budget).
    s2_calls = sum(1 for call in throttle_s2.calls if call["sessionId"] == "s2")
    assert figures["PutEventsCalls"] == len(throttle_s2.calls) == 1 + s2_calls
    assert 6 + 3 <= s2_calls <= 6 + 12


def _with_clock(process_batch, clock):
    def wrapped(*args, **kwargs):
        return process_batch(*args, clock=clock, **kwargs)

    return wrapped
