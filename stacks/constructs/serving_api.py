"""The serving API's front door: an HTTP API whose every route requires IAM (SigV4) authorization, one stage with
throttling and access logs, every route integrated with the serving function, and the managed policy callers
attach to be allowed to call it."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_authorizers import HttpIamAuthorizer
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from stacks.nag import accept_wildcards

# The routes of serving.handler (v1), all GET, all per country.
COUNTRY = "/v1/countries/{country}"
ROUTES = (
    f"{COUNTRY}/users/{{userId}}/recommendations",
    f"{COUNTRY}/items/{{itemId}}/similar",
    f"{COUNTRY}/trending",
    f"{COUNTRY}/report",
)
STAGE = "$default"
# API Gateway's HTTP API quotas: "Maximum integration timeout | 30 seconds | No" (cannot be increased), and the
# CDK integration takes "between 50 milliseconds and 29 seconds".
MAX_INTEGRATION_TIMEOUT = Duration.seconds(29)
# One JSON line per request: who called (the IAM caller), what, how it ended and how long it took.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "requestTime": "$context.requestTime",
}


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogs:
    """The stage's access logs: JSON lines of ACCESS_LOG_FIELDS into `log_group`."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway_v1.AccessLogFormat:
        return apigateway_v1.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))


class ServingApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        function: lambda_.IFunction,
        integration_timeout: Duration,
        throttling_rate_per_s: float,
        throttling_burst: int,
        encryption_key: kms.IKey,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=f"{name_prefix}-serving",
            description="Recommendations per country from the read model and the promoted campaigns (SigV4 only)",
            create_default_stage=False,
            # Every route, including any added later without an authorizer of its own.
            default_authorizer=HttpIamAuthorizer(),
        )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name=STAGE,
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=throttling_rate_per_s, burst_limit=throttling_burst),
            access_log_settings=_AccessLogs(self.access_logs),
        )
        integration = HttpLambdaIntegration(
            "Serving", function, timeout=integration_timeout, scope_permission_to_route=False
        )
        for path in ROUTES:
            self.api.add_routes(path=path, methods=[apigw.HttpMethod.GET], integration=integration)

    def route_arns(self) -> list[str]:
        """execute-api ARNs of this API's routes on its stage, as IAM names them for a caller ("Control access for
        invoking an API": arn:aws:execute-api:region:account-id:api-id/stage/METHOD_HTTP_VERB/Resource-path). The
        path parameters become `*`; the `$default` stage is written `$default`."""
        stack = Stack.of(self)
        return [
            stack.format_arn(
                service="execute-api",
                resource=self.api.api_id,
                resource_name=f"{STAGE}/GET{_wildcard_parameters(path)}",
            )
            for path in ROUTES
        ]

    def caller_policy(self, managed_policy_name: str) -> iam.ManagedPolicy:
        """What a backend that calls the API needs (attach it to that backend's role): invoke these routes."""
        routes = self.route_arns()
        policy = iam.ManagedPolicy(
            self,
            "CallerPolicy",
            managed_policy_name=managed_policy_name,
            description="Call the serving API's routes (SigV4-signed GET requests)",
            statements=[iam.PolicyStatement(sid="CallServingApi", actions=["execute-api:Invoke"], resources=routes)],
        )
        accept_wildcards(
            policy,
            resources=routes,
            reason="The path parameters (country, user id, item id) of this API's GET routes vary per request.",
        )
        return policy


def _wildcard_parameters(path: str) -> str:
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))
