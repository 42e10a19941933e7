"""Stand-ins for the real-time ingest, shared by its tests and benches: personalize-events clients (moto has no
backend for it), the dead-letter queue, a clock, a Lambda context, and Kinesis records as Lambda delivers them.

Clients, from strictest to cheapest: `FakePersonalizeEvents` checks every request against the botocore model and
the limits the service enforces and plays a script; `RealRequestBuilding` puts a real botocore client in front
of it; `FaultyPersonalizeEvents` answers with random throttling, 5xx, timeouts and one tracker's outage on the
simulated clock; `CountingPersonalizeEvents` only counts (and optionally waits a real round trip).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

from common.event_kinds import EventKind
from ingest.request_building import build_put_events
from testkit.fakes import request_checks

SERVICE = "personalize-events"
OPERATION = "PutEvents"
PUT_EVENTS_INPUT = request_checks.service_model(SERVICE).operation_model(OPERATION).input_shape
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"
SHARD = "shardId-000000000000"
APPROXIMATE_ARRIVAL = 1795000000.123  # epoch seconds of a record whose arrival time does not matter
# What `ingest.handler` gives botocore as its read_timeout: a timed-out call takes this long.
READ_TIMEOUT_S = 5.0


def client_error(code: str, status: int = 400, message: str = "", operation: str = "PutEvents") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def _refusal(operation: str, code: str, message: str) -> Exception:
    return client_error(code, message=message, operation=operation)


class FakePersonalizeEvents:
    """put_events validated against the botocore model (wrong shapes are recorded and fail the invariant),
    plus the limits the real service enforces (`request_checks`, as every fake does); `script(params,
    call_number)` may return an exception. Thread-safe like a boto3 client: delivery calls it from its pool
    (the script runs under the lock).
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
                request_checks.check_request(SERVICE, OPERATION, params)
            except Exception as error:
                self.shape_errors.append(str(error))
                raise
            self.calls.append(params)
            scripted = self.script(params, len(self.calls))
            if scripted is not None:
                raise scripted
            # What botocore sends but the service refuses (e.g. 11 events): an InvalidInputException.
            request_checks.check_service_constraints(SERVICE, OPERATION, params, _refusal)
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


@dataclass(frozen=True)
class PutEventsFaults:
    """How often PutEvents fails and how (random draws per call), plus one tracker's outage window."""

    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    timeout_rate: float = 0.0
    call_latency_s: float = 0.0
    outage_tracker: str = ""
    outage_start_s: float = 0.0
    outage_s: float = 0.0
    # Build every call into a request with botocore's own validator and serialiser first (~80 us of CPU per
    # call), raising what a boto3 client raises before it sends.
    build_requests: bool = False


class FaultyPersonalizeEvents:
    """put_events with faults drawn from `rng`, every call's latency on the simulated clock; remembers each
    event id's first delivery (time and session order) and counts events delivered again. `healthy = True`
    turns the faults off (a replay after the outage)."""

    def __init__(self, faults: PutEventsFaults, clock: FakeClock, rng: random.Random) -> None:
        self.faults = faults
        self.clock = clock
        self.rng = rng
        self.healthy = False
        self.calls = 0
        self.first_delivery: dict[str, float] = {}
        self.first_order: dict[str, list[str]] = defaultdict(list)
        self.duplicates = 0

    def put_events(self, **params: Any) -> dict[str, Any]:
        f = self.faults
        self.calls += 1
        if f.build_requests:
            build_put_events(params)  # raises before anything is sent, as the client does
        self.clock.sleep(f.call_latency_s)
        if not self.healthy:
            now = self.clock.t
            if params["trackingId"] == f.outage_tracker and f.outage_start_s <= now < f.outage_start_s + f.outage_s:
                raise client_error("ServiceUnavailableException", 503)
            roll = self.rng.random()
            if roll < f.throttle_rate:
                raise client_error("ThrottlingException", 400)
            roll -= f.throttle_rate
            if roll < f.server_error_rate:
                raise client_error("InternalFailure", 500)
            roll -= f.server_error_rate
            if roll < f.timeout_rate:
                self.clock.sleep(READ_TIMEOUT_S)
                raise ReadTimeoutError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com")
        for event in params["eventList"]:
            event_id = event["eventId"]
            if event_id in self.first_delivery:
                self.duplicates += 1
                continue
            self.first_delivery[event_id] = self.clock.t
            self.first_order[params["sessionId"]].append(event_id)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}


class CountingPersonalizeEvents:
    """Accepts every call and counts it; with `latency_s`, each call takes that long in real time, like a
    round trip (thread-safe like a boto3 client; the wait is outside the lock so calls overlap)."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls = 0
        self._lock = threading.Lock()

    def put_events(self, **params: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        return {}


class RecordingSqs:
    """The dead-letter queue: accepts every entry and keeps each letter's reason by sequence number."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        for entry in Entries:
            body = json.loads(entry["MessageBody"])
            self.letters[body["sequenceNumber"]] = body["reason"]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


class FakeClock:
    """Monotonic seconds that only move when code sleeps: backoff is instant and observable.

    With several threads, sleeps add up as if they ran one after another: simulated time runs out sooner
    than real time would, never later, so deadline tests stay on the safe side.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
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
    """The LambdaContext attributes the handler and powertools read; the remaining time is on `clock`."""

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
        "event_type": EventKind.VIEW,
        "country": "KR",
        "session_id": "s-1",
        "item_id": f"item-{n}",
        "timestamp": "2026-11-20T10:00:00Z",
        "event_id": f"ev-{n}",
    }
    record.update(fields)
    return {key: value for key, value in record.items() if value is not None}


def kinesis_record(
    sequence_number: str, data: str, partition_key: str, approximate_arrival: float = APPROXIMATE_ARRIVAL
) -> dict[str, Any]:
    """One record of a Lambda event from a Kinesis stream, as the event source mapping delivers it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": data,
            "approximateArrivalTimestamp": approximate_arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/ingest",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


@dataclass
class Record:
    sequence_number: str
    data: str  # base64
    partition_key: str
    event_id: str | None  # the contract event_id if the payload has one (None for junk)

    def lambda_record(self) -> dict[str, Any]:
        return kinesis_record(self.sequence_number, self.data, self.partition_key)


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
