"""The serving stack of the dev env: every route IAM-authorized, the stage throttled and logged, the read model
table as serving.read_model describes it, the function configured from the env's `serving:` block."""

from __future__ import annotations

import json

import pytest

from serving import read_model
from serving.settings import ServingSettings
from stacks.config import load_config
from stacks.constructs.serving_api import ACCESS_LOG_FIELDS, ROUTES, STAGE
from tests.iam.policy import Assembly

SERVING = "Personalize-dev-Serving"


def resources(template: dict, type_name: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


@pytest.fixture(scope="module")
def template(dev_app) -> dict:
    return dev_app.template_json(SERVING)


def test_every_route_requires_iam_authorization(template):
    routes = resources(template, "AWS::ApiGatewayV2::Route").values()
    assert sorted(r["Properties"]["RouteKey"] for r in routes) == sorted(f"GET {path}" for path in ROUTES)
    assert {r["Properties"].get("AuthorizationType") for r in routes} == {"AWS_IAM"}
    # No other way in: no authorizer resource that could serve a route without SigV4, one API, one stage.
    assert not resources(template, "AWS::ApiGatewayV2::Authorizer")
    assert len(resources(template, "AWS::ApiGatewayV2::Api")) == 1


def test_the_routes_are_the_handler_s_routes():
    from serving.handler import app

    paths = app.get_openapi_schema().paths
    assert sorted(paths) == sorted(ROUTES)
    assert all(set(operations.model_dump(exclude_none=True)) == {"get"} for operations in paths.values())


def test_the_stage_is_throttled_as_configured_and_logs_every_request_to_an_encrypted_group(template):
    serving = load_config("dev").serving
    (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == STAGE and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": serving.throttling_rate_per_s,
        "ThrottlingBurstLimit": serving.throttling_burst,
    }
    (group_id,) = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][:1]
    group = template["Resources"][group_id]["Properties"]
    assert group["KmsKeyId"] and group["RetentionInDays"] == 30
    assert json.loads(props["AccessLogSettings"]["Format"]) == ACCESS_LOG_FIELDS
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]


def test_the_read_model_table_is_the_one_serving_read_model_describes(template):
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TableName"] == "personalize-dev-read-model"
    assert props["KeySchema"] == [
        {"AttributeName": read_model.PK, "KeyType": "HASH"},
        {"AttributeName": read_model.SK, "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        read_model.PK: "S",
        read_model.SK: "S",
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEType"] == "KMS" and "DataKey" in json.dumps(
        props["SSESpecification"]["KMSMasterKeyId"]
    )
    assert props["TimeToLiveSpecification"] == {"AttributeName": read_model.EXPIRES_AT, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Delete"  # dev; RETAIN elsewhere (tests/infra/test_retention.py)


def test_the_function_reads_its_settings_from_the_env_s_serving_block(dev_app, template):
    serving = load_config("dev").serving
    assembly = Assembly(dev_app.outdir)
    (function_id,) = resources(template, "AWS::Lambda::Function")
    function = template["Resources"][function_id]["Properties"]
    assert function["Handler"] == "serving.handler.handler"
    settings = ServingSettings.from_env(assembly.resolve(SERVING, function["Environment"]["Variables"]))
    assert settings.table_name == "personalize-dev-read-model"
    assert settings.results_bucket.startswith("personalize-dev-results-")
    assert settings.latency_budget_ms == serving.latency_budget_ms
    assert settings.campaign_budget_s * 1000 == serving.campaign_timeout_ms
    # API Gateway waits for the function longer than the function may run, and at most its 30 s quota.
    (integration,) = resources(template, "AWS::ApiGatewayV2::Integration").values()
    timeout_ms = integration["Properties"]["TimeoutInMillis"]
    assert serving.latency_budget_ms < function["Timeout"] * 1000 < timeout_ms <= 29_000
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_the_outputs_name_the_api_url_and_the_caller_policy(template):
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"]["Fn::GetAtt"][1] == "ApiEndpoint"
    policy_id = outputs["CallerPolicyArn"]["Value"]["Ref"]
    policy = template["Resources"][policy_id]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    assert policy["Properties"]["ManagedPolicyName"] == "personalize-dev-serving-caller"
