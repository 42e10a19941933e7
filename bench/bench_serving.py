"""The serving API's latency: the handler's own time, and whether every answer stays within the budget.

The real handler (Powertools resolver, validation, the fallback chain, metadata decoration) runs on moto
DynamoDB and S3 with the Personalize runtime fake (testkit/serving_harness.py), requests one at a time:
- `serving_overhead_ms_p99` (goal <= 5 ms, and its median): a request's time less the time spent inside the
  DynamoDB and Personalize runtime calls, backends instant. Read model answers come from moto, each asked once and
  then replayed (testkit MemoClient), so moto's CPU time never counts as the handler's or as DynamoDB's 5 ms.
- `serving_within_budget_ratio` (goal 1.00): with GetRecommendations slow (a tail far past the budget) or failing,
  and DynamoDB calls taking 5 ms, the share of requests answered within LATENCY_BUDGET_MS (300 ms).
- `serving_latency_ms_p99`: with Personalize healthy (25-45 ms, a 1 % tail of 150 ms) and DynamoDB at 5 ms.
- `exposure_log_overhead_ms_p99` (goal <= 1 ms): during an experiment, the p99 of the handler's own time with the
  exposure log on less its p99 with it off (serving.exposures.log_exposure a no-op), the two alternating request
  by request on the same users; the log lines go to /dev/null, so each costs its real write and flush.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from common.experiments import Arm, Experiment
from common.observability import metrics
from common.recipes import Recipe
from serving import exposures
from serving import read_model as rm
from serving.settings import DEFAULT_LATENCY_BUDGET_MS, ServingSettings
from testkit.fakes.personalize_runtime import FakePersonalizeRuntime, Latency
from testkit.serving_harness import (
    CAMPAIGN_ARN,
    TRENDING_ARN,
    MemoClient,
    ReadModelWriter,
    SlowClient,
    TimedClient,
    moto_clients,
    serving_api,
)

USERS, ITEMS = 200, 300
REQUESTS = {"overhead": 1000, "degraded": 80, "healthy": 150, "exposure": 1000}
DYNAMODB_S = 0.005
HEALTHY = Latency(base_s=0.025, jitter_s=0.020, tail_share=0.01, tail_s=0.150)
DEGRADED = Latency(base_s=0.080, jitter_s=0.100, tail_share=0.3, tail_s=2.0, failure_share=0.2)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _seed(table: Any) -> None:
    with table.batch_writer() as batch:
        writer = ReadModelWriter(batch)
        writer.pointer(
            "KR", campaigns={Recipe.USER_PERSONALIZATION.value: CAMPAIGN_ARN, Recipe.TRENDING_NOW.value: TRENDING_ARN}
        )
        for n in range(ITEMS):
            writer.meta(f"i{n}", f"Title {n}", ["Drama"], 1_700_000_000 + n)
        for user in range(0, USERS, 2):  # half the users have a batch list
            writer.items_list(rm.user_pk("KR", f"u{user}"), [f"i{(user + k) % ITEMS}" for k in range(25)])
        writer.items_list(rm.country_list_pk("KR"), [f"i{k}" for k in range(25)])


def _requests(count: int) -> Iterator[str]:
    for n in range(count):
        yield f"/v1/countries/KR/users/u{n % USERS}/recommendations" if n % 10 else "/v1/countries/KR/trending"


@contextlib.contextmanager
def _api(
    latency: Latency, dynamodb_s: float, requests: int, *, experiments: str | None = None, stdout: Any = None
) -> Iterator[tuple[Any, TimedClient, TimedClient]]:
    with (
        mock_aws(),
        pytest.MonkeyPatch.context() as monkeypatch,
        contextlib.redirect_stdout(stdout or io.StringIO()),  # the handler's EMF metrics and logs
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        if experiments:
            monkeypatch.setenv("EXPERIMENTS", experiments)
        monkeypatch.setattr(metrics, "namespace", "Bench")  # made at import, before any environment is set
        dynamodb, table, s3 = moto_clients()
        _seed(table)
        runtime = FakePersonalizeRuntime(latency=latency)
        runtime.serve(CAMPAIGN_ARN, [f"i{k}" for k in range(50)])
        runtime.serve(TRENDING_ARN, [f"i{k}" for k in range(10, 40)])
        replayed = MemoClient(dynamodb)
        timed_dynamodb = TimedClient(SlowClient(replayed, dynamodb_s) if dynamodb_s else replayed)
        timed_runtime = TimedClient(runtime)
        with serving_api(monkeypatch, timed_dynamodb, timed_runtime, s3) as api:  # type: ignore[arg-type]
            runtime.latency = Latency()
            api.use(dynamodb=replayed)
            for failing in ("InvalidInputException", None):  # every read model answer asked of moto once
                runtime.fail_with(failing)
                for path in _requests(requests):
                    api.get(path)
            runtime.latency = latency
            api.use(dynamodb=timed_dynamodb)
            yield api, timed_dynamodb, timed_runtime


def overhead_ms(requests: int = REQUESTS["overhead"]) -> list[float]:
    out = []
    with _api(Latency(), 0.0, requests) as (api, timed_dynamodb, timed_runtime):
        for path in _requests(requests):
            timed_dynamodb.spent_s = timed_runtime.spent_s = 0.0
            started = time.perf_counter()
            status, _ = api.get(path)
            elapsed = time.perf_counter() - started
            assert status == 200, status
            out.append((elapsed - timed_dynamodb.spent_s - timed_runtime.spent_s) * 1000)
    return out


def exposure_log_ms(requests: int = REQUESTS["exposure"]) -> tuple[list[float], list[float]]:
    """The handler's own time per user request during an experiment: (exposure log on, off), alternating."""
    start = datetime.now(UTC).date() - timedelta(days=1)
    experiment = Experiment(
        name="bench-exposures", arms={arm: 1 / 3 for arm in Arm}, start=start, end=start + timedelta(days=28)
    )
    rendered = ServingSettings.render_experiments({"KR": (experiment,)})
    paths = [f"/v1/countries/KR/users/u{n % USERS}/recommendations" for n in range(requests)]
    timings: dict[bool, list[float]] = {True: [], False: []}
    real = exposures.log_exposure
    with (
        open(os.devnull, "w") as sink,
        _api(Latency(), 0.0, 0, experiments=rendered, stdout=sink) as (api, timed_dynamodb, timed_runtime),
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        for path in paths:
            api.get(path)  # every read model answer asked of moto once
        for n, path in enumerate(paths * 2):
            on = n % 2 == 0
            monkeypatch.setattr(exposures, "log_exposure", real if on else (lambda _exposure: None))
            timed_dynamodb.spent_s = timed_runtime.spent_s = 0.0
            started = time.perf_counter()
            status, _ = api.get(path)
            elapsed = time.perf_counter() - started
            assert status == 200, status
            timings[on].append((elapsed - timed_dynamodb.spent_s - timed_runtime.spent_s) * 1000)
    return timings[True], timings[False]


def latencies_ms(latency: Latency, requests: int) -> list[float]:
    out = []
    with _api(latency, DYNAMODB_S, requests) as (api, _, _):
        for path in _requests(requests):
            started = time.perf_counter()
            status, _ = api.get(path)
            out.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    return out


def figures():
    own = overhead_ms()
    yield "serving_overhead_ms_p99", _p99(own), "ms"
    yield "serving_overhead_ms_p50", statistics.median(own), "ms"
    degraded = latencies_ms(DEGRADED, REQUESTS["degraded"])
    within = sum(1 for ms in degraded if ms <= DEFAULT_LATENCY_BUDGET_MS) / len(degraded)
    yield "serving_within_budget_ratio", within, "ratio"
    yield "serving_degraded_latency_ms_max", max(degraded), "ms"
    yield "serving_latency_ms_p99", _p99(latencies_ms(HEALTHY, REQUESTS["healthy"])), "ms"
    logged, unlogged = exposure_log_ms()
    yield "exposure_log_overhead_ms_p99", _p99(logged) - _p99(unlogged), "ms"


if __name__ == "__main__":
    for name, value, unit in figures():
        print(f"{name}: {value:.3f} {unit}")
