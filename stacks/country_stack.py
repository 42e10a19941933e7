"""One stack per country per environment: the country's Personalize dataset group and what hangs off it.

CloudFormation owns the long-lived, definition-only resources: dataset group, schemas, datasets, event
tracker. It does NOT own solutions, solution versions or campaigns:
- a campaign needs a trained solution version, which only exists after the first pipeline run;
- `AWS::Personalize::Solution` cannot set `performAutoTraining`, which defaults to true (a new version every
  7 days, billed, behind the pipeline's back and outside its metric gate). The pipeline's train step creates
  each configured solution through the API with `performAutoTraining` set explicitly from config (false by
  default) and corrects an existing solution whose setting differs.
Names derive from env + country only, so a redeploy or a rerun addresses the same resources.
"""

from __future__ import annotations

import hashlib

import aws_cdk as cdk
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_personalize as personalize
from constructs import Construct

from common.schemas import avro_schema
from stacks.config import Country, EnvironmentConfig

DATASET_TYPES = ("Interactions", "Users", "Items")


def dataset_group_name(config: EnvironmentConfig, country: Country) -> str:
    return f"{config.name_prefix}-{country.slug}"


class CountryStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        country: Country,
        key: kms.IKey,
        personalize_role: iam.IRole,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.country = country
        group_name = dataset_group_name(config, country)
        recipes = {r.value for r in country.recipes}

        self.dataset_group = personalize.CfnDatasetGroup(
            self,
            "DatasetGroup",
            name=group_name,
            kms_key_arn=key.key_arn,
            role_arn=personalize_role.role_arn,
        )

        self.datasets: dict[str, personalize.CfnDataset] = {}
        for dataset_type in DATASET_TYPES:
            schema_json = avro_schema(dataset_type, recipes)
            # Schemas are immutable: a changed schema (e.g. TITLE added with a text recipe) is a new resource,
            # and CloudFormation creates it before deleting the old one, so the name carries the content hash.
            digest = hashlib.sha256(schema_json.encode()).hexdigest()[:8]
            schema = personalize.CfnSchema(
                self,
                f"{dataset_type}Schema",
                name=f"{group_name}-{dataset_type.lower()}-{digest}",
                schema=schema_json,
            )
            dataset = personalize.CfnDataset(
                self,
                f"{dataset_type}Dataset",
                name=f"{group_name}-{dataset_type.lower()}",
                dataset_group_arn=self.dataset_group.attr_dataset_group_arn,
                dataset_type=dataset_type,
                schema_arn=schema.attr_schema_arn,
            )
            self.datasets[dataset_type] = dataset

        # Personalize requires the Interactions dataset before an event tracker can be created.
        self.event_tracker = personalize.CfnEventTracker(
            self,
            "EventTracker",
            name=f"{group_name}-events",
            dataset_group_arn=self.dataset_group.attr_dataset_group_arn,
        )
        self.event_tracker.add_resource_dependency(self.datasets["Interactions"])

        cdk.CfnOutput(self, "DatasetGroupArn", value=self.dataset_group.attr_dataset_group_arn)
        cdk.CfnOutput(self, "TrackingId", value=self.event_tracker.attr_tracking_id)

    @property
    def dataset_group_arn(self) -> str:
        return self.dataset_group.attr_dataset_group_arn

    @property
    def tracking_id(self) -> str:
        return self.event_tracker.attr_tracking_id

    @property
    def event_tracker_arn(self) -> str:
        return self.event_tracker.attr_event_tracker_arn

    def dataset_arn(self, dataset_type: str) -> str:
        return self.datasets[dataset_type].attr_dataset_arn
