"""Every AWS call the serving function makes is allowed by its synthesised role (and the key policy), and the
callers' managed policy `personalize-dev-serving-caller` invokes this API's routes and nothing else.

The calls are recorded from the real handler on moto DynamoDB and S3 with the Personalize runtime fake
(testkit.serving_harness, KR's read model as tests/serving seeds it), under the env's deployed names (the
function's own environment), over every route and fallback source; then evaluated as in
tests/iam/test_call_authorization.py."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from common.recipes import Recipe
from testkit.fakes.personalize_runtime import FakePersonalizeRuntime
from testkit.serving_harness import (
    CAMPAIGN_ARN,
    FILTER_ARN,
    TRENDING_ARN,
    ReadModelWriter,
    create_table,
    moto_clients,
    serving_api,
)
from tests.iam.calls import Call, Caller, CallMap, CallRecorder, check, function_by_handler
from tests.iam.policy import ACCOUNT, REGION, Assembly, Request
from tests.serving.conftest import seed_kr, serve_campaigns

SERVING_STACK = "Personalize-dev-Serving"
CALLER_POLICY = "personalize-dev-serving-caller"
# Where the report step writes the page (pipeline.steps.report: results/<country>/<run_date>/report.html).
REPORT_KEY = "KR/2026-11-16/report.html"
CAMPAIGNS = {Recipe.USER_PERSONALIZATION.value: CAMPAIGN_ARN, Recipe.TRENDING_NOW.value: TRENDING_ARN}


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


@pytest.fixture(scope="module")
def serving_calls(assembly) -> tuple[Caller, list[Call]]:
    function_id, environment, caller = function_by_handler(assembly, SERVING_STACK, "serving.")
    table, bucket = environment["TABLE_NAME"], environment["RESULTS_BUCKET"]
    recorder = CallRecorder()
    runtime = FakePersonalizeRuntime()
    serve_campaigns(runtime)
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        dynamodb, _, s3 = moto_clients()  # also the harness's own table and bucket, which seed_kr names
        create_table(dynamodb, table)
        s3.create_bucket(Bucket=bucket)
        writer = ReadModelWriter(boto3.resource("dynamodb", region_name=REGION).Table(table))
        seed_kr(writer, s3)
        writer.pointer("KR", campaigns=CAMPAIGNS, filters={"unwatched": FILTER_ARN}, report_key=REPORT_KEY)
        s3.put_object(Bucket=bucket, Key=REPORT_KEY, Body=b"<html></html>")
        recorder.install(monkeypatch)
        recorded_runtime = recorder.proxy(runtime, "personalize-runtime")
        with (
            serving_api(monkeypatch, dynamodb, recorded_runtime, s3, TABLE_NAME=table, RESULTS_BUCKET=bucket) as api,
            recorder.acting_as(caller),
        ):
            user = "/v1/countries/KR/users/{}/recommendations"
            answers = [
                api.get(user.format("u-batch"), {"filter": "unwatched"}),  # the campaign, with the filter
                api.get(user.format("u-profile")),
                api.get(user.format("u-new"), {"locale": "en", "ageGroup": "18-24", "gender": "M"}),
                api.get("/v1/countries/KR/items/i1/similar"),
                api.get("/v1/countries/KR/trending"),
                api.get("/v1/countries/KR/report"),
            ]
    assert [status for status, _ in answers] == [200] * len(answers), answers
    return caller, recorder.calls


def test_every_call_of_the_serving_function_is_allowed_by_its_role(assembly, serving_calls):
    caller, calls = serving_calls
    assert {(c.service, c.operation) for c in calls} == {
        ("dynamodb", "GetItem"),
        ("dynamodb", "Query"),
        ("dynamodb", "BatchGetItem"),
        ("personalize-runtime", "GetRecommendations"),
        ("s3", "GetObject"),
    }
    refused, checked = check(assembly, CallMap(assembly), calls)
    assert checked >= len({(c.service, c.operation) for c in calls})
    assert refused == [], "\n".join(r.line() for r in refused)


def test_the_serving_role_refuses_the_same_calls_elsewhere(assembly, serving_calls):
    """The check has teeth: another env's table and campaign, a non-report object, a write."""
    caller, calls = serving_calls
    moved = []
    for call in calls:
        params = dict(call.params)
        if call.operation == "GetObject":
            params["Key"] = "KR/2026-11-16/user-personalization/users.json.out"
        elif call.operation == "GetRecommendations":
            params["campaignArn"] = params["campaignArn"].replace("personalize-dev-", "personalize-prod-")
        elif call.operation == "BatchGetItem":
            params["RequestItems"] = {"personalize-dev-runs": next(iter(params["RequestItems"].values()))}
        elif "TableName" in params:
            params["TableName"] = "personalize-dev-runs"
        moved.append(replace(call, params=params))
    refused, _ = check(assembly, CallMap(assembly), moved)
    assert {r.call for r in refused} == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "personalize-runtime:GetRecommendations",
        "s3:GetObject",
    }
    writes = [Call(caller, "dynamodb", "PutItem", {"TableName": c.params["TableName"]}) for c in calls[:1]]
    refused, _ = check(assembly, CallMap(assembly), writes)
    assert refused


def _route_arn(api_id: str, method: str, path: str, stage: str = "$default") -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}{path}"


def test_the_caller_policy_invokes_this_api_s_routes_only(assembly):
    (api_id,) = assembly.resources(SERVING_STACK, "AWS::ApiGatewayV2::Api")
    api = assembly.physical_name(SERVING_STACK, api_id)
    callers = assembly.managed_policy(CALLER_POLICY)
    allowed = [
        "/v1/countries/KR/users/u-1/recommendations",
        "/v1/countries/JP/items/i-9/similar",
        "/v1/countries/US/trending",
        "/v1/countries/KR/report",
    ]
    for path in allowed:
        decision = assembly.evaluate(callers, Request.of("execute-api:Invoke", [_route_arn(api, "GET", path)]))
        assert decision.allowed, decision.line(CALLER_POLICY)
    refused = [
        _route_arn(api, "POST", allowed[0]),
        _route_arn(api, "GET", "/v1/countries/KR/users/u-1"),
        _route_arn(api, "GET", allowed[2], stage="test"),
        _route_arn("otherapi", "GET", allowed[2]),
    ]
    for arn in refused:
        assert not assembly.evaluate(callers, Request.of("execute-api:Invoke", [arn])).allowed, arn
