"""The serving API on moto DynamoDB and S3 with the Personalize runtime fake, every AWS call it makes recorded.

`api` seeds KR's read model as the Publish step writes it (serving.read_model) and runs the real handler; the
calls the handler makes (botocore clients and the runtime fake) are filed under `SERVING` in `api.recorder`, in
the shape tests/iam/calls.py maps to IAM requests (the call oracle checks them against the function's role).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from moto import mock_aws

from common.recipes import Recipe
from common.schemas import UNKNOWN
from serving import read_model as rm
from testkit.fakes.personalize_runtime import FakePersonalizeRuntime
from testkit.serving_harness import (
    CAMPAIGN_ARN,
    FILTER_ARN,
    RESULTS_BUCKET,
    TRENDING_ARN,
    ReadModelWriter,
    ServingApi,
    moto_clients,
    serving_api,
)
from tests.iam.calls import Caller, CallRecorder

SERVING = Caller("ServingFunction", principal=None)  # type: ignore[arg-type]  # the oracle test binds the role
REPORT_KEY = "KR/2026-11-16/report/index.html"
ITEMS = [f"i{n}" for n in range(1, 41)]
CAMPAIGN_ITEMS = ITEMS[:30]
BATCH_ITEMS = ["i11", "i12", "i13"]
PROFILE_SEGMENT = ("ko", "25-34", "F")
HINTS_SEGMENT = ("en", "18-24", "M")
PARTIAL_HINTS_SEGMENT = ("en", UNKNOWN, UNKNOWN)
SEGMENT_ITEMS = {PROFILE_SEGMENT: ["i21", "i22"], HINTS_SEGMENT: ["i23", "i24"], PARTIAL_HINTS_SEGMENT: ["i25"]}
COUNTRY_ITEMS = ["i31", "i32", "i33", "i34"]
TRENDING_ITEMS = ["i5", "i6", "i7"]
SIMILAR_ITEMS = ["i2", "i3"]


@dataclass
class Api:
    api: ServingApi
    runtime: FakePersonalizeRuntime
    writer: ReadModelWriter
    recorder: CallRecorder
    s3: Any

    def get(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        with self.recorder.acting_as(SERVING):
            return self.api.get(path, query)


def seed_kr(writer: ReadModelWriter, s3: Any) -> None:
    writer.pointer(
        "KR",
        campaigns={Recipe.USER_PERSONALIZATION.value: CAMPAIGN_ARN, Recipe.TRENDING_NOW.value: TRENDING_ARN},
        filters={"unwatched": FILTER_ARN},
        report_key=REPORT_KEY,
    )
    for n, item in enumerate(ITEMS):
        writer.meta(item, f"Title {item}", ["Drama", "Comedy"] if n % 2 else ["Action"], 1_700_000_000 + n)
    # u-batch: a list from the day before the pointer's run, and one from a run still loading (never served)
    writer.items_list(rm.user_pk("KR", "u-batch"), BATCH_ITEMS, run_date=date(2026, 11, 15))
    writer.items_list(rm.user_pk("KR", "u-batch"), ["i40"], run_date=date(2026, 11, 17))
    writer.profile("KR", "u-profile", *PROFILE_SEGMENT)
    for segment, items in SEGMENT_ITEMS.items():
        writer.items_list(rm.segment_pk("KR", *segment), items)
    writer.items_list(rm.country_list_pk("KR"), COUNTRY_ITEMS)
    writer.items_list(rm.similar_pk("KR", "i1"), SIMILAR_ITEMS)
    s3.put_object(Bucket=RESULTS_BUCKET, Key=REPORT_KEY, Body=b"<html><body>comparison</body></html>")


def serve_campaigns(runtime: FakePersonalizeRuntime) -> None:
    runtime.serve(CAMPAIGN_ARN, CAMPAIGN_ITEMS)
    runtime.serve(TRENDING_ARN, TRENDING_ITEMS)
    runtime.publish_filter(FILTER_ARN, removes={"i1", "i2"})


@pytest.fixture(scope="module")
def read_model() -> Iterator[tuple[Any, Any, Any]]:
    """KR's read model and report page, seeded once per module (tests that change them put them back)."""
    with mock_aws():
        dynamodb, table, s3 = moto_clients()
        with table.batch_writer() as batch:
            seed_kr(ReadModelWriter(batch), s3)
        yield dynamodb, table, s3


@pytest.fixture
def api(monkeypatch, read_model) -> Iterator[Api]:
    dynamodb, table, s3 = read_model
    runtime = FakePersonalizeRuntime()
    serve_campaigns(runtime)
    recorder = CallRecorder()
    recorder.install(monkeypatch)
    recorded_runtime = recorder.proxy(runtime, "personalize-runtime")
    # a small budget keeps the slow-campaign tests fast; the reserve leaves the campaign 60 ms
    with serving_api(
        monkeypatch, dynamodb, recorded_runtime, s3, LATENCY_BUDGET_MS="100", READ_MODEL_RESERVE_MS="40"
    ) as served:
        yield Api(served, runtime, ReadModelWriter(table), recorder, s3)
