"""One data stack per environment: the key, the buckets and the role Personalize itself assumes.

Bucket roles:
- raw: the company's CSV exports (`<table>/dt=YYYY-MM-DD/`); versioned, never expired by us.
- prepared: reproducible from raw, so unversioned. Two prefixes, nothing else: `athena/` (query results, the
  files Personalize imports (CSV), batch inputs (JSON lines), run windows, reports) expires after
  `data.retention_days`; `columnar/` (the converted days, dataprep.columnar) is read by every run of its window,
  so it lives `data.window_days` + COLUMNAR_EXPIRY_MARGIN_DAYS (or the retention, if longer).
- results: batch-inference output and reports under `<country>/<run_date>/`; versioned, expired after
  `data.retention_days` (noncurrent versions a week later).
- access logs: S3 server access logs of the three above (SSE-S3: log delivery cannot use a KMS key).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.experiments import EXPOSURES_PREFIX
from dataprep.columnar import COLUMNAR_EXPIRY_MARGIN_DAYS, COLUMNAR_PREFIX
from stacks.config import EnvironmentConfig
from stacks.constructs.exposure_log import ERROR_FOLDER
from stacks.constructs.raw_catalog import RESULTS_PREFIX
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept, arn_token
from stacks.names import bucket_name
from stacks.retention import data_removal_policy

PERSONALIZE_PRINCIPAL = "personalize.amazonaws.com"
# Days an exposure is kept beyond the longest configured experiment (reports after the end, late reruns).
EXPOSURE_MARGIN_DAYS = 30


def exposure_retention_days(config: EnvironmentConfig) -> int:
    """The exposure log's expiry: the run outputs' retention, or the longest experiment plus a margin if longer."""
    longest = max(((e.end - e.start).days for c in config.countries for e in c.experiments), default=0)
    return max(config.data.retention_days, longest + EXPOSURE_MARGIN_DAYS)
# Where the prepare step writes what Personalize imports and batch-infers (pipeline/steps/prepare.py).
PREPARED_INPUT_PREFIX = "athena/runs/"


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        prefix = config.name_prefix
        removal = data_removal_policy(config)

        self.key = kms.Key(
            self,
            "DataKey",
            alias=f"alias/{prefix}-data",
            description=f"Encrypts Personalize data, results, streams and queues of env {config.env}",
            enable_key_rotation=True,
            removal_policy=removal,
        )

        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=bucket_name(config, "access-logs"),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
            removal_policy=removal,
            auto_delete_objects=False,
        )

        retention = Duration.days(config.data.retention_days)
        # dataprep.columnar.days_to_convert converts a day again once its conversion is window_days old, so a
        # conversion still read is at least COLUMNAR_EXPIRY_MARGIN_DAYS from its expiry.
        columnar_days = config.data.window_days + COLUMNAR_EXPIRY_MARGIN_DAYS
        self.raw_bucket = self._bucket("Raw", "raw", versioned=True, removal=removal)
        self.prepared_bucket = self._bucket(
            "Prepared",
            "prepared",
            versioned=False,
            removal=removal,
            lifecycle=[
                s3.LifecycleRule(id="expire-prepared", prefix=RESULTS_PREFIX, expiration=retention),
                s3.LifecycleRule(
                    id="expire-columnar-days",
                    prefix=COLUMNAR_PREFIX,
                    expiration=Duration.days(max(columnar_days, config.data.retention_days)),
                ),
            ],
        )
        self.results_bucket = self._bucket(
            "Results",
            "results",
            versioned=True,
            removal=removal,
            lifecycle=[
                # Each country's run outputs (`<CC>/<run_date>/...`) and the exposure log's delivery errors.
                *(
                    s3.LifecycleRule(
                        id=f"expire-results-{prefix.rstrip('/').lower()}",
                        prefix=prefix,
                        expiration=retention,
                        noncurrent_version_expiration=Duration.days(7),
                        expired_object_delete_marker=False,
                    )
                    for prefix in (*(f"{c.code}/" for c in config.countries), ERROR_FOLDER)
                ),
                # The exposure log outlives the run outputs: an experiment's report reads its whole log until the
                # experiment has ended, so exposures are kept for the longest experiment plus the same margin.
                s3.LifecycleRule(
                    id="expire-exposures",
                    prefix=EXPOSURES_PREFIX,
                    expiration=Duration.days(exposure_retention_days(config)),
                    noncurrent_version_expiration=Duration.days(7),
                    expired_object_delete_marker=False,
                ),
            ],
        )

        self.personalize_role = self._personalize_role()
        self._grant_personalize_service()

        cdk.CfnOutput(self, "RawBucketName", value=self.raw_bucket.bucket_name)
        cdk.CfnOutput(self, "ResultsBucketName", value=self.results_bucket.bucket_name)

    def _bucket(
        self,
        construct_id: str,
        purpose: str,
        *,
        versioned: bool,
        removal: RemovalPolicy,
        lifecycle: list[s3.LifecycleRule] | None = None,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=bucket_name(self.config, purpose),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=versioned,
            lifecycle_rules=lifecycle,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{purpose}/",
            removal_policy=removal,
        )

    def _personalize_role(self) -> iam.Role:
        """The role Personalize assumes for imports and batch jobs: read prepared, write results, use the key."""
        role = iam.Role(
            self,
            "PersonalizeServiceRole",
            description=f"Assumed by Amazon Personalize in env {self.config.env}: import and batch jobs",
            # Personalize names the job's ARN as aws:SourceArn (its confused-deputy guidance).
            assumed_by=iam.ServicePrincipal(PERSONALIZE_PRINCIPAL, conditions=self._personalize_source()),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPreparedInput",
                actions=["s3:GetObject"],
                resources=[self.prepared_bucket.arn_for_objects(PREPARED_INPUT_PREFIX + "*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteResults",
                actions=["s3:PutObject"],
                resources=[self.results_bucket.arn_for_objects(prefix) for prefix in self._results_prefixes()],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListInputAndOutput",
                actions=["s3:ListBucket"],
                resources=[self.prepared_bucket.bucket_arn, self.results_bucket.bucket_arn],
            )
        )
        # Personalize reads the inputs and writes the outputs through S3, and keeps the dataset group's data
        # encrypted with grants it creates on the key for itself.
        role.add_to_policy(
            key_statement(
                self.key,
                service="s3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=s3_context([self.prepared_bucket.bucket_arn, self.results_bucket.bucket_arn]),
                sid="UseDataKeyThroughS3",
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseDataKeyForDatasetGroups",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListGrants"],
                resources=[self.key.key_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GrantsForPersonalizeOnly",
                actions=["kms:CreateGrant"],
                resources=[self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        accept(
            role,
            f"AwsSolutions-IAM5[Resource::{arn_token(self.prepared_bucket, '/' + PREPARED_INPUT_PREFIX + '*')}]",
            "Import and batch jobs read the prepared files of any country and run date under athena/runs/.",
        )
        for country in self.config.countries:
            accept(
                role,
                f"AwsSolutions-IAM5[Resource::{arn_token(self.results_bucket, f'/{country.code}/*')}]",
                f"Batch jobs write under {country.code}/<run_date>/<recipe>/, keys chosen per run at runtime.",
            )
        return role

    def _personalize_source(self) -> dict:
        return {
            "StringEquals": {"aws:SourceAccount": self.account},
            "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:personalize:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"},
        }

    def _results_prefixes(self) -> list[str]:
        """Batch output lands under results/<country>/<run_date>/<recipe>/ (pipeline/steps/batch.py)."""
        return [f"{country.code}/*" for country in self.config.countries]

    def _grant_personalize_service(self) -> None:
        """Bucket and key policies for the Personalize service principal, limited to this account's jobs."""
        same_account = {"StringEquals": {"aws:SourceAccount": self.account}}
        from_personalize_jobs = self._personalize_source()
        principal = iam.ServicePrincipal(PERSONALIZE_PRINCIPAL)
        # Exactly what the jobs touch: import and batch input under athena/runs/, batch output per country.
        for bucket, sid, action, objects in (
            (self.prepared_bucket, "PersonalizeReadsPreparedInput", "s3:GetObject", [PREPARED_INPUT_PREFIX + "*"]),
            (self.results_bucket, "PersonalizeWritesBatchOutput", "s3:PutObject", self._results_prefixes()),
        ):
            bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[principal],
                    actions=[action],
                    resources=[bucket.arn_for_objects(prefix) for prefix in objects],
                    conditions=from_personalize_jobs,
                )
            )
            bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid.replace("Reads", "Lists").replace("Writes", "Lists"),
                    principals=[principal],
                    actions=["s3:ListBucket"],
                    resources=[bucket.bucket_arn],
                    conditions=from_personalize_jobs,
                )
            )
        # Services that write to resources encrypted with this key from other stacks (an imported key gets no
        # automatic key-policy grants): CloudWatch Logs for the log groups, CloudWatch alarms and EventBridge
        # for the encrypted SNS topic and dead-letter queues.
        log_groups = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsAndEventsUseEncryptedTopicsAndQueues",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=same_account,
            )
        )
        # Personalize encrypts dataset group data with this key; it needs the key policy to allow it.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PersonalizeUsesDataKey",
                principals=[principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListGrants"],
                resources=["*"],
                conditions=same_account,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PersonalizeCreatesGrantsForItself",
                principals=[principal],
                actions=["kms:CreateGrant"],
                resources=["*"],
                conditions={**same_account, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
