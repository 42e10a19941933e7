"""FakePersonalizeRuntime: GetRecommendations as boto3's personalize-runtime client answers it, with injectable
latency, a slow tail and failures (the serving API's tests and bench).

Requests are checked against botocore's model (testkit/fakes/request_checks.py): what boto3 would refuse raises
ParamValidationError, what the service would refuse (lengths, patterns, numResults above its maximum) raises
InvalidInputException; every answer is checked against the output shape. Errors are botocore `ClientError`s of
the service's own exception classes. A delayed call waits on an event, so `release()` ends the calls a test or the
bench left behind at once.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ClientError

from testkit.fakes import request_checks

SERVICE = "personalize-runtime"
_SERVICE_MODEL = request_checks.service_model(SERVICE)  # loaded once, at import: never inside a timed call
_EXCEPTIONS = ClientExceptionsFactory().create_client_exceptions(_SERVICE_MODEL)
DEFAULT_NUM_RESULTS = 25  # GetRecommendations' default numResults (API reference)


@dataclass(frozen=True)
class Latency:
    """Seconds a call takes: `base_s` plus up to `jitter_s`; a `tail_share` of calls take `tail_s` instead, and
    a `failure_share` of calls fail with `failure_code` after the delay."""

    base_s: float = 0.0
    jitter_s: float = 0.0
    tail_share: float = 0.0
    tail_s: float = 0.0
    failure_share: float = 0.0
    failure_code: str = "InvalidInputException"


@dataclass
class RuntimeCall:
    operation: str
    params: dict[str, Any]
    outcome: str  # "ok" or the error code


class FakePersonalizeRuntime:
    def __init__(self, latency: Latency | None = None, seed: int = 7, region: str = "us-east-1") -> None:
        self.latency = latency or Latency()
        self.exceptions = _EXCEPTIONS
        self.meta = SimpleNamespace(region_name=region, service_model=_SERVICE_MODEL, partition="aws")
        self.calls: list[RuntimeCall] = []
        self._lists: dict[str, list[str]] = {}  # campaign ARN -> items, best first
        self._filters: dict[str, set[str]] = {}  # filter ARN -> items it removes
        self._fail_with: str | None = None
        self._random = random.Random(seed)
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._seq = 0

    # ---------------------------------------------------------------------------------------- scripting

    def serve(self, campaign_arn: str, items: list[str]) -> None:
        self._lists[campaign_arn] = list(items)

    def publish_filter(self, filter_arn: str, removes: set[str]) -> None:
        self._filters[filter_arn] = set(removes)

    def fail_with(self, code: str | None) -> None:
        """Every call fails with `code` (a personalize-runtime error code) until `fail_with(None)`."""
        self._fail_with = code

    def release(self) -> None:
        """End every delayed call now (and make later ones instant)."""
        self._released.set()

    # ------------------------------------------------------------------------------------------- the API

    def get_recommendations(self, **kwargs: Any) -> dict[str, Any]:
        return self._invoke("GetRecommendations", self._get_recommendations, kwargs)

    def _get_recommendations(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("campaignArn") or params.get("recommenderArn")
        if arn is None:
            raise self._error("GetRecommendations", "InvalidInputException", "campaignArn or recommenderArn required")
        if arn not in self._lists:
            raise self._error("GetRecommendations", "ResourceNotFoundException", f"{arn} does not exist.")
        removed: set[str] = set()
        if "filterArn" in params:
            if params["filterArn"] not in self._filters:
                raise self._error("GetRecommendations", "ResourceNotFoundException", f"{params['filterArn']} not found")
            removed = self._filters[params["filterArn"]]
        items = [i for i in self._lists[arn] if i not in removed][: params.get("numResults", DEFAULT_NUM_RESULTS)]
        with self._lock:
            self._seq += 1
            seq = self._seq
        return {"itemList": [{"itemId": i} for i in items], "recommendationId": f"RID-fake-{seq:08d}"}

    # ------------------------------------------------------------------------------------------ plumbing

    def _error(self, operation: str, code: str, message: str) -> ClientError:
        response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
        }
        return getattr(_EXCEPTIONS, code, ClientError)(response, operation)

    def _delay_and_fault(self) -> tuple[float, bool]:
        with self._lock:
            spec, draw = self.latency, self._random.random
            delay = spec.tail_s if draw() < spec.tail_share else spec.base_s + spec.jitter_s * draw()
            return delay, draw() < spec.failure_share

    def _invoke(self, operation: str, impl: Callable[[dict[str, Any]], dict[str, Any]], kwargs: dict[str, Any]):
        logged = copy.deepcopy(kwargs)
        request_checks.check_request(SERVICE, operation, kwargs)
        delay, faulty = self._delay_and_fault()
        if delay > 0:
            self._released.wait(delay)
        try:
            request_checks.check_service_constraints(SERVICE, operation, kwargs, self._error)
            if self._fail_with or faulty:
                code = self._fail_with or self.latency.failure_code
                raise self._error(operation, code, "injected failure")
            response = impl(kwargs)
        except ClientError as error:
            self.calls.append(RuntimeCall(operation, logged, error.response["Error"]["Code"]))
            raise
        request_checks.check_response(SERVICE, operation, response)
        self.calls.append(RuntimeCall(operation, logged, "ok"))
        return {**response, "ResponseMetadata": {"HTTPStatusCode": 200, "RetryAttempts": 0}}
