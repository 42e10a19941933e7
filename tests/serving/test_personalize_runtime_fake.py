"""The Personalize runtime fake answers and refuses as boto3's client and the service would."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from testkit.fakes.personalize_runtime import FakePersonalizeRuntime, Latency

ARN = "arn:aws:personalize:us-east-1:123456789012:campaign/c"


def test_a_request_boto3_would_refuse_raises_its_validation_error():
    fake = FakePersonalizeRuntime()
    fake.serve(ARN, ["a"])

    with pytest.raises(ParamValidationError):
        fake.get_recommendations(campaignArn=ARN, userId="u", numResults="5")


def test_an_unknown_campaign_is_the_services_resource_not_found():
    fake = FakePersonalizeRuntime()

    with pytest.raises(fake.exceptions.ResourceNotFoundException):
        fake.get_recommendations(campaignArn=ARN, userId="u")


def test_injected_latency_and_failures_are_applied_and_release_ends_a_delayed_call():
    fake = FakePersonalizeRuntime(latency=Latency(base_s=0.05, failure_share=1.0, failure_code="ThrottlingException"))
    fake.serve(ARN, ["a"])
    started = time.perf_counter()
    with pytest.raises(ClientError, match="ThrottlingException"):
        fake.get_recommendations(campaignArn=ARN, userId="u")
    assert time.perf_counter() - started >= 0.05

    fake.latency = Latency(base_s=30.0)
    fake.release()
    assert fake.get_recommendations(campaignArn=ARN, userId="u")["itemList"] == [{"itemId": "a"}]
    assert [c.outcome for c in fake.calls] == ["ThrottlingException", "ok"]
