"""The serving API run locally: a read model table on moto DynamoDB laid out as the Publish step writes it, the
Personalize runtime fake, and API Gateway HTTP API (payload 2.0) events into the real handler. Shared by
tests/serving and bench/bench_serving.py.

`SlowClient` adds a latency to every call of a client and `TimedClient` sums the time spent in a client's calls
(the bench subtracts it to get the handler's own time).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from urllib.parse import urlencode

import boto3

from serving import clients, handler
from serving import read_model as rm
from testkit.fakes.personalize_runtime import FakePersonalizeRuntime

TABLE, RESULTS_BUCKET = "personalize-test-serving", "personalize-test-results"
RUN_DATE = date(2026, 11, 16)
CAMPAIGN_ARN = "arn:aws:personalize:us-east-1:123456789012:campaign/personalize-dev-kr-user-personalization"
TRENDING_ARN = "arn:aws:personalize:us-east-1:123456789012:campaign/personalize-dev-kr-trending-now"
FILTER_ARN = "arn:aws:personalize:us-east-1:123456789012:filter/personalize-dev-kr-unwatched"


def http_event(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) GET event for `path`; `query` as API Gateway delivers it
    (decoded values in queryStringParameters)."""
    query = query or {}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query),
        "headers": {"host": "api.example.com"},
        "queryStringParameters": query or None,
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "t"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    """The read model's table as the serving stack declares it: string partition and sort keys."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": rm.PK, "KeyType": "HASH"}, {"AttributeName": rm.SK, "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": rm.PK, "AttributeType": "S"},
            {"AttributeName": rm.SK, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


class ReadModelWriter:
    """Writes read model items as the Publish step does (serving.read_model's keys), for tests and the bench."""

    def __init__(self, table: Any) -> None:
        self.table = table  # a boto3 DynamoDB Table resource, or its batch_writer()

    def pointer(self, country: str, run_date: date = RUN_DATE, **attributes: Any) -> None:
        self.table.put_item(Item={**rm.country_key(country), "run_date": run_date.isoformat(), **attributes})

    def items_list(self, pk: str, items: list[str], run_date: date = RUN_DATE) -> None:
        self.table.put_item(
            Item={
                rm.PK: pk,
                rm.SK: rm.list_sk(run_date),
                "items": items,
                rm.EXPIRES_AT: rm.expires_at(run_date, rm.DEFAULT_TTL_DAYS),
            }
        )

    def profile(self, country: str, user_id: str, locale: str, age_group: str, gender: str) -> None:
        self.table.put_item(
            Item={
                rm.PK: rm.user_pk(country, user_id),
                rm.SK: rm.PROFILE,
                "locale": locale,
                "age_group": age_group,
                "gender": gender,
                "run_date": RUN_DATE.isoformat(),
            }
        )

    def meta(self, item_id: str, title: str, genres: list[str], created: int) -> None:
        self.table.put_item(Item={**rm.item_key(item_id), "title": title, "genres": genres, "created": created})


class SlowClient:
    """`client` with `delay_s` added to every API call (a realistic network and service time)."""

    def __init__(self, client: Any, delay_s: float) -> None:
        self._client, self._delay_s = client, delay_s

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_") or name in ("meta", "exceptions"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._delay_s)
            return target(*args, **kwargs)

        return call


class MemoClient:
    """`client`'s answers, each asked once and then replayed (for the read-only API's bench): moto's CPU time per
    call, which on a loaded machine exceeds the 5 ms DynamoDB takes, stays out of the latencies measured."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._answers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_") or name in ("meta", "exceptions"):
            return target

        def call(**kwargs: Any) -> Any:
            key = json.dumps([name, kwargs], sort_keys=True)
            if key not in self._answers:
                self._answers[key] = target(**kwargs)
            return copy.deepcopy(self._answers[key])

        return call


class TimedClient:
    """`client` whose API calls add their duration to `spent_s` (requests one at a time: the bench subtracts it
    from a request's time to get the handler's own)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.spent_s = 0.0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target) or name.startswith("_") or name in ("meta", "exceptions"):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.spent_s += time.perf_counter() - started

        return call


class ServingApi:
    """The Lambda handler (with its Logger, Metrics and Tracer decorators) wired to the given clients; `get`
    returns (status, body as JSON or text)."""

    def __init__(self, dynamodb: Any, runtime: Any, s3: Any) -> None:
        self.clients = clients.Clients(dynamodb=dynamodb, personalize_runtime=runtime, s3=s3)

    def use(self, **replaced: Any) -> None:
        """Serve with these clients from the next request on (e.g. `use(dynamodb=...)`)."""
        self.clients = self.clients._replace(**replaced)
        handler.service.cache_clear()

    def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        response = handler.handler(http_event(path, query), _CONTEXT)
        body = response.get("body") or ""
        content_type = response.get("headers", {}).get("Content-Type", "")
        return response["statusCode"], json.loads(body) if "json" in content_type else body


class _Context:
    function_name = "serving"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:serving"
    aws_request_id = "req-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


_CONTEXT = _Context()


@contextmanager
def serving_api(
    monkeypatch: Any, dynamodb: Any, runtime: FakePersonalizeRuntime, s3: Any, **settings: str
) -> Iterator[ServingApi]:
    """The handler configured by environment (TABLE_NAME, RESULTS_BUCKET, `settings`) and using these clients."""
    env = {"TABLE_NAME": TABLE, "RESULTS_BUCKET": RESULTS_BUCKET, **settings}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api = ServingApi(dynamodb, runtime, s3)
    monkeypatch.setattr(clients, "make", lambda _settings: api.clients)
    handler.service.cache_clear()
    try:
        yield api
    finally:
        runtime.release()
        handler.service.cache_clear()


def moto_clients() -> tuple[Any, Any, Any]:
    """(dynamodb client, dynamodb Table resource, s3 client) inside an active mock_aws, with the table and bucket."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_table(dynamodb)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=RESULTS_BUCKET)
    return dynamodb, boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE), s3
