"""The serving function (serving.handler) and exactly the calls it makes: read the read model, ask the env's
campaigns for recommendations, read the report pages."""

from __future__ import annotations

import math

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks import experiment_settings
from stacks.config import EnvironmentConfig
from stacks.constructs.lambda_function import PythonFunction
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept_wildcards
from stacks.names import bucket_arn, bucket_name, personalize_arn

HANDLER = "serving.handler.handler"
# Beyond the latency budget, what a cold start may take (imports, clients) before the first request is served.
COLD_START_ALLOWANCE_S = 5
# CPU comes with memory: the handler's own time per request is part of every request's latency.
MEMORY_MB = 512
# What the function reads of the report pages (the country pointer's report_key; pipeline.steps.report).
REPORT_PAGE = "report.html"


class ServingFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        table: dynamodb.ITable,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = config.serving
        results = bucket_name(config, "results")
        # A running experiment changed under its name is refused here, before anything is synthesised.
        experiment_settings.check_locked(config)
        self.timeout = Duration.seconds(math.ceil(settings.latency_budget_ms / 1000) + COLD_START_ALLOWANCE_S)
        self.handler = PythonFunction(
            self,
            "Serving",
            handler=HANDLER,
            service="serving",
            description=f"{config.env}: recommendations per country (campaign -> batch -> segment -> country list)",
            timeout=self.timeout,
            memory_size=MEMORY_MB,
            encryption_key=encryption_key,
            environment=settings.function_environment(
                table_name=table.table_name,
                results_bucket=results,
                experiments=experiment_settings.by_country(config),
            ),
        )
        self.function = self.handler.function
        role = self.handler.role
        # Written out instead of table.grant_read_data(), which adds Scan, ConditionCheckItem and DescribeTable.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadReadModel",
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
                resources=[table.table_arn],
            )
        )
        role.add_to_policy(
            key_statement(
                encryption_key,
                service="dynamodb",
                actions=["kms:Decrypt"],
                resources=[table.table_name],
                sid="DecryptReadModel",
            )
        )
        # The campaigns the promote step creates for this env (pipeline.campaigns.campaign_name); the Service
        # Authorization Reference lists the campaign as GetRecommendations' only resource type, so a filter ARN
        # in the request needs no grant of its own.
        campaigns = personalize_arn(self, "campaign", f"{config.name_prefix}-*")
        role.add_to_policy(
            iam.PolicyStatement(sid="AskCampaigns", actions=["personalize:GetRecommendations"], resources=[campaigns])
        )
        pages = [bucket_arn(config, "results", f"/{country.code}/*/{REPORT_PAGE}") for country in config.countries]
        role.add_to_policy(iam.PolicyStatement(sid="ReadReportPages", actions=["s3:GetObject"], resources=pages))
        role.add_to_policy(
            key_statement(
                encryption_key,
                service="s3",
                actions=["kms:Decrypt"],
                resources=s3_context([bucket_arn(config, "results")]),
                sid="DecryptReportPagesThroughS3",
            )
        )
        accept_wildcards(
            role,
            resources=[campaigns, *pages],
            reason="This env's campaigns (named per country and recipe by the promote step) and the report page "
            "of each run date of this env's countries only.",
        )
