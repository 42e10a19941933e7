"""Stand-ins for the ingest tests: a personalize-events client (moto has no backend for it), a clock, a
Lambda context, Kinesis event builders, and the invariant every test checks.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

_MODEL = botocore.session.get_session().get_service_model("personalize-events")
PUT_EVENTS_INPUT = _MODEL.operation_model("PutEvents").input_shape
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
SHARD = "shardId-000000000000"


def client_error(code: str, status: int = 400, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutEvents",
    )


def _max_violations(value: Any, shape: Any, path: str) -> list[str]:
    """What the service would refuse that botocore's client-side validator lets through (it skips `max`)."""
    problems = []
    limit = shape.metadata.get("max")
    if shape.type_name in ("string", "list") and limit is not None and len(value) > limit:
        problems.append(f"{path}: length {len(value)} > {limit}")
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                problems += _max_violations(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            problems += _max_violations(item, shape.member, f"{path}[{index}]")
    return problems


class FakePersonalizeEvents:
    """put_events validated against the botocore model (wrong shapes are recorded and fail the invariant),
    plus the limits the real service enforces; `script(params, call_number)` may return an exception.
    Thread-safe like a boto3 client: delivery calls it from its pool (the script runs under the lock).
    """

    def __init__(self, script: Callable[[dict[str, Any], int], Exception | None] | None = None) -> None:
        self.script = script or (lambda params, number: None)
        self.calls: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.shape_errors: list[str] = []
        self.lock = threading.RLock()

    def put_events(self, **params: Any) -> dict[str, Any]:
        with self.lock:
            try:
                validate_parameters(params, PUT_EVENTS_INPUT)
            except Exception as error:
                self.shape_errors.append(str(error))
                raise
            self.calls.append(params)
            error = self.script(params, len(self.calls))
            if error is not None:
                raise error
            too_long = _max_violations(params, PUT_EVENTS_INPUT, "PutEventsRequest")
            if too_long:
                raise client_error("InvalidInputException", message="; ".join(too_long))
            self.accepted.append(params)
            return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def accepted_event_ids(self) -> list[str]:
        return [event["eventId"] for call in self.accepted for event in call["eventList"]]


class RealRequestBuilding:
    """Wraps a fake's put_events in a real botocore personalize-events client first: its own parameter validation,
    rest-json serialisation and request signing run, and only the HTTP send is replaced (a `before-send` hook
    answers 200). What botocore cannot build raises here exactly as in the Lambda; what it builds goes on to the
    wrapped fake, which records it and plays its script. Every other attribute is the fake's.
    """

    def __init__(self, inner: FakePersonalizeEvents) -> None:
        self.inner = inner
        self.client = botocore.session.get_session().create_client(
            "personalize-events",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.client.meta.events.register("before-send.personalize-events.PutEvents", self._answer)
        self.built = 0

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.built += 1
        response = AWSResponse(request.url, 200, {}, None)
        response._content = b"{}"  # read by botocore's parser instead of a socket
        return response

    def put_events(self, **params: Any) -> dict[str, Any]:
        self.client.put_events(**params)
        return self.inner.put_events(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FakeClock:
    """Monotonic seconds that only move when code sleeps: backoff is instant and observable.

    With several threads, sleeps add up as if they ran one after another: simulated time runs out sooner
    than real time would, never later, so deadline tests stay on the safe side.
    """

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.sleeps.append(seconds)
            self.t += seconds


@dataclass
class FakeContext:
    clock: FakeClock
    budget_s: float = 60.0
    function_name: str = "ingest"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    aws_request_id: str = "req-1"
    _start: float = field(init=False)

    def __post_init__(self) -> None:
        self._start = self.clock.now()

    def get_remaining_time_in_millis(self) -> int:
        return int((self.budget_s - (self.clock.now() - self._start)) * 1000)


_sequence = itertools.count(49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000)


def event(n: int | None = None, **fields: Any) -> dict[str, Any]:
    """A valid contract record; fields override (None removes a field). event_id ties it to the invariant."""
    record = {
        "event_type": "view",
        "country": "KR",
        "session_id": "s-1",
        "item_id": f"item-{n}",
        "timestamp": "2026-11-20T10:00:00Z",
        "event_id": f"ev-{n}",
    }
    record.update(fields)
    return {key: value for key, value in record.items() if value is not None}


@dataclass
class Record:
    sequence_number: str
    data: str  # base64
    partition_key: str
    event_id: str | None  # the contract event_id if the payload has one (None for junk)

    def lambda_record(self) -> dict[str, Any]:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": self.partition_key,
                "sequenceNumber": self.sequence_number,
                "data": self.data,
                "approximateArrivalTimestamp": 1795000000.123,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{SHARD}:{self.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/ingest",
            "awsRegion": "us-east-1",
            "eventSourceARN": STREAM_ARN,
        }


def record(payload: dict[str, Any] | bytes | str, partition_key: str | None = None) -> Record:
    """A Kinesis record from a dict (JSON), raw bytes, or a str taken as the base64 text (maybe junk)."""
    if isinstance(payload, dict):
        data = base64.b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode()
        key = partition_key or str(payload.get("session_id", "none"))
        event_id = payload.get("event_id")
    elif isinstance(payload, bytes):
        data, key, event_id = base64.b64encode(payload).decode(), partition_key or "raw", None
    else:
        data, key, event_id = payload, partition_key or "raw", None
    return Record(str(next(_sequence)), data, key, event_id)


def kinesis_event(records: Iterable[Record]) -> dict[str, Any]:
    return {"Records": [r.lambda_record() for r in records]}


@dataclass
class Outcome:
    response: dict[str, Any]
    delivered: list[str]  # sequence numbers, in the order PutEvents accepted them
    retried: list[str]
    dead_letters: dict[str, dict[str, Any]]  # sequence number -> DLQ message body
    client: FakePersonalizeEvents

    def events_by_call(self) -> list[list[str]]:
        return [[e["eventId"] for e in call["eventList"]] for call in self.client.accepted]


def assert_nothing_lost(records: list[Record], outcome_parts: dict[str, Any]) -> Outcome:
    """THE invariant: every record is delivered exactly once, or reported for retry, or dead-lettered."""
    client: FakePersonalizeEvents = outcome_parts["client"]
    response = outcome_parts["response"]
    assert client.shape_errors == [], f"PutEvents called with a shape botocore rejects: {client.shape_errors}"
    for call in client.calls:
        assert 1 <= len(call["eventList"]) <= 10, "PutEvents takes 1-10 events per call"

    by_event_id = {r.event_id: r.sequence_number for r in records if r.event_id is not None}
    accepted_ids = client.accepted_event_ids()
    duplicates = [i for i, n in Counter(accepted_ids).items() if n > 1]
    assert not duplicates, f"delivered twice in one invocation: {duplicates}"
    unknown = [i for i in accepted_ids if i not in by_event_id]
    assert not unknown, f"PutEvents got events that match no input record: {unknown}"
    delivered = [by_event_id[i] for i in accepted_ids]

    retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert len(set(retried)) == len(retried), "a record reported twice"
    dead = outcome_parts["dead_letters"]

    everything = [r.sequence_number for r in records]
    places = Counter(delivered) + Counter(retried) + Counter(dead.keys())
    lost = [s for s in everything if places[s] == 0]
    doubled = [s for s in everything if places[s] > 1]
    assert not lost, f"records neither delivered, retried nor dead-lettered: {lost}"
    assert not doubled, f"records in more than one place (delivered/retry/DLQ): {doubled}"
    assert set(places) == set(everything), "outcomes for records that were not in the batch"
    return Outcome(response, delivered, retried, dead, client)
