"""One stack per country per environment: the country's Personalize dataset group and what hangs off it.

CloudFormation owns the long-lived, definition-only resources: dataset group, schemas, datasets, event
tracker. It does NOT own solutions, solution versions or campaigns:
- a campaign needs a trained solution version, which only exists after the first pipeline run;
- `AWS::Personalize::Solution` cannot set `performAutoTraining`, which defaults to true (a new version every
  7 days, billed, behind the pipeline's back and outside its metric gate). The pipeline's train step creates
  each configured solution through the API with `performAutoTraining` set explicitly from config (false by
  default) and corrects an existing solution whose setting differs.
Names derive from env + country only, so a redeploy or a rerun addresses the same resources.

Change safety (docs/schema-evolution.md; tests/infra/test_change_safety.py):
- a dataset keeps the schema version it was created with as its CloudFormation `SchemaArn` (create-only); a newer
  version is applied in place by Personalize's UpdateDataset from a custom resource;
- no tag reaches the dataset group, datasets or schemas (`Tags` is create-only on them: a new organisation-wide
  tag would replace them), and the stack-level tags CloudFormation propagates stay those the stack was created with;
- outside dev, every Personalize resource here is retained on stack deletion and on replacement.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_personalize as personalize
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from common.schemas import DATASET_TYPES, check_schema_history, schema_versions
from stacks.config import Country, EnvironmentConfig
from stacks.nag import accept
from stacks.retention import data_removal_policy

# Personalize types whose `Tags` are create-only (cfn-lint's resource schemas; the event tracker's are not).
TAGS_CREATE_ONLY = (personalize.CfnDatasetGroup, personalize.CfnDataset, personalize.CfnSchema)
# Runs after every Tags.of(...).add(...): their aspects have priority MUTATING, or DEFAULT without the
# `@aws-cdk/core:aspectPrioritiesMutating` flag; READONLY aspects (validation) still see the result.
_FREEZE_PRIORITY = cdk.AspectPriority.DEFAULT + 100
_REMOVE_PRIORITY = 10_000  # above any tag priority a caller may give


def frozen_stack_tags(config: EnvironmentConfig, country: Country) -> dict[str, str]:
    """The stack-level tags of a country stack: fixed forever, since CloudFormation propagates a change of them to
    resources, and a propagated tag change replaces a resource whose Tags are create-only."""
    return {"project": "personalize-recommendations", "env": config.env, "country": country.code}


@jsii.implements(cdk.IAspect)
class _FreezeStackTags:
    def __init__(self, stack: Stack, tags: dict[str, str]) -> None:
        self._stack, self._tags = stack, tags

    def visit(self, node: IConstruct) -> None:
        if node is not self._stack:
            return
        for key in list(self._stack.tags.tag_values()):
            if key not in self._tags:
                self._stack.tags.remove_tag(key, _REMOVE_PRIORITY)
        for key, value in self._tags.items():
            self._stack.tags.set_tag(key, value, _REMOVE_PRIORITY)


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

        self.dataset_group = personalize.CfnDatasetGroup(
            self,
            "DatasetGroup",
            name=group_name,
            kms_key_arn=key.key_arn,
            role_arn=personalize_role.role_arn,
        )

        check_schema_history()
        self.datasets: dict[str, personalize.CfnDataset] = {}
        self.schemas: dict[str, list[personalize.CfnSchema]] = {}
        for dataset_type in DATASET_TYPES:
            self.datasets[dataset_type] = self._dataset(group_name, dataset_type)

        # Personalize requires the Interactions dataset before an event tracker can be created.
        self.event_tracker = personalize.CfnEventTracker(
            self,
            "EventTracker",
            name=f"{group_name}-events",
            dataset_group_arn=self.dataset_group.attr_dataset_group_arn,
        )
        self.event_tracker.add_resource_dependency(self.datasets["Interactions"])

        removal = data_removal_policy(config)
        for resource in (self.dataset_group, *self.datasets.values(), self.event_tracker):
            resource.apply_removal_policy(removal)
        for versions in self.schemas.values():
            for schema in versions:
                schema.apply_removal_policy(removal)
        # Render-time overrides win over every aspect, whatever its priority: no tag ever renders into them.
        for construct in self.node.find_all():
            if isinstance(construct, TAGS_CREATE_ONLY):
                construct.add_property_deletion_override("Tags")
        cdk.Aspects.of(self).add(_FreezeStackTags(self, frozen_stack_tags(config, country)), priority=_FREEZE_PRIORITY)

        cdk.CfnOutput(self, "DatasetGroupArn", value=self.dataset_group.attr_dataset_group_arn)
        cdk.CfnOutput(self, "TrackingId", value=self.event_tracker.attr_tracking_id)

    def _dataset(self, group_name: str, dataset_type: str) -> personalize.CfnDataset:
        schemas = []
        for version in schema_versions(dataset_type):
            # Version 1 keeps the plain logical id. Schemas are immutable, so each version is its own resource,
            # named by its content's digest; none is ever removed (a dataset may still use it).
            suffix = "" if version.number == 1 else f"V{version.number}"
            schemas.append(
                personalize.CfnSchema(
                    self,
                    f"{dataset_type}Schema{suffix}",
                    name=f"{group_name}-{dataset_type.lower()}-{version.digest}",
                    schema=version.json,
                )
            )
        self.schemas[dataset_type] = schemas
        dataset = personalize.CfnDataset(
            self,
            f"{dataset_type}Dataset",
            name=f"{group_name}-{dataset_type.lower()}",
            dataset_group_arn=self.dataset_group.attr_dataset_group_arn,
            dataset_type=dataset_type,
            # Create-only: always the first version, so a schema change never replaces the dataset.
            schema_arn=schemas[0].attr_schema_arn,
        )
        # Deleted before any of its schemas (it may use any of them once updated).
        for schema in schemas[1:]:
            dataset.add_resource_dependency(schema)
        if len(schemas) > 1:
            self._update_schema(dataset, dataset_type, schemas[-1])
        return dataset

    def _update_schema(self, dataset: personalize.CfnDataset, dataset_type: str, schema: personalize.CfnSchema) -> None:
        """UpdateDataset to the newest version on create and whenever the newest version changes."""
        call = cr.AwsSdkCall(
            service="Personalize",
            action="updateDataset",
            parameters={"datasetArn": dataset.attr_dataset_arn, "schemaArn": schema.attr_schema_arn},
            physical_resource_id=cr.PhysicalResourceId.of(f"{dataset.name}-schema"),
        )
        update = cr.AwsCustomResource(
            self,
            f"{dataset_type}SchemaUpdate",
            resource_type="Custom::PersonalizeDatasetSchema",
            on_create=call,
            on_update=call,
            # Nothing to undo on delete: the dataset goes with its stack (or is retained, with its schema).
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["personalize:UpdateDataset"], resources=[dataset.attr_dataset_arn])]
            ),
            install_latest_aws_sdk=False,
        )
        self._accept_custom_resource_findings(update)

    def _accept_custom_resource_findings(self, update: cr.AwsCustomResource) -> None:
        provider = self.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if provider is None:
            return
        role = provider.node.try_find_child("ServiceRole")
        if role is not None:
            accept(
                role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's AwsCustomResource singleton only writes its own logs with the basic execution policy",
            )

    @property
    def dataset_group_arn(self) -> str:
        return self.dataset_group.attr_dataset_group_arn

    @property
    def tracking_id(self) -> str:
        return self.event_tracker.attr_tracking_id

    @property
    def event_tracker_arn(self) -> str:
        return self.event_tracker.attr_event_tracker_arn

    def schema_digest(self, dataset_type: str) -> str:
        """The digest of the schema the dataset has once deployed (its newest version)."""
        return schema_versions(dataset_type)[-1].digest

    def dataset_arn(self, dataset_type: str) -> str:
        return self.datasets[dataset_type].attr_dataset_arn
