"""Glue catalogue and Athena workgroup over the raw CSV exports (docs/data-layout.md).

Tables use partition projection on `dt` (type date), so new daily partitions are queryable the moment
their files land: no crawler, no MSCK REPAIR, no AddPartition calls. The workgroup enforces its result
location and KMS encryption, and caps the bytes one query may scan.

The columnar days (dataprep.columnar; docs/data-layout.md, "Columnar days") live in the prepared bucket:
`<table>_parsed` and `<table>_files` per raw table are Parquet with explicit `dt` partitions, which only the
prepare step adds or moves (pipeline.columnar_days), once both conversion queries of a day succeeded; projection
would show a half-written conversion. `run_window` is one Parquet UNLOAD per run attempt under athena/runs/,
found by injected run columns and an enumerated `part`, like the report's prepared tables.
"""

from __future__ import annotations

import re

from aws_cdk import Aws, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from dataprep import columnar

# Same definitions the SQL and the local runner use: one source for table and column names.
from dataprep.queries import (
    GENRE_MAPPING_COLUMNS,
    GENRE_MAPPING_TABLE,
    LINE_COLUMN,
    LINE_REST_COLUMN,
    RAW_TABLES,
    lines_table,
)
from stacks.constructs.athena_grants import glue_table_arns, grant_statements, query_statements
from stacks.constructs.glue_table import LINES_SERDE, parquet_table, text_table
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept, arn_token

RESULTS_PREFIX = "athena/"
GENRE_MAPPING_KEY = "reference/genre_mapping/genre_mapping.csv"
ATHENA_ENGINE = "Athena engine version 3"
MIN_BYTES_SCANNED_CUTOFF = 10_000_000  # Athena's lower bound for BytesScannedCutoffPerQuery

_OPEN_CSV_SERDE = glue.CfnTable.SerdeInfoProperty(
    serialization_library="org.apache.hadoop.hive.serde2.OpenCSVSerde",
    # Quoted fields may contain commas; every column is read as a string and parsed in SQL.
    parameters={"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"},
)
class RawCatalog(Construct):
    """Glue database + one table per raw export + genre mapping table + Athena workgroup."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        raw_bucket: s3.IBucket,
        athena_results_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        bytes_scanned_cutoff: int,
        projection_start: str = "2020-01-01",
    ) -> None:
        super().__init__(scope, construct_id)
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", env_name):
            raise ValueError(f"env_name must be lower-case letters, digits and '-', got {env_name!r}")
        if bytes_scanned_cutoff < MIN_BYTES_SCANNED_CUTOFF:
            raise ValueError(f"bytes_scanned_cutoff must be >= {MIN_BYTES_SCANNED_CUTOFF} (Athena minimum)")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", projection_start):
            raise ValueError(f"projection_start must be YYYY-MM-DD, got {projection_start!r}")

        self.raw_bucket = raw_bucket
        self.athena_results_bucket = athena_results_bucket
        self.encryption_key = encryption_key
        self.database_name = f"personalize_{env_name.replace('-', '_')}_raw"
        self.workgroup_name = f"personalize-{env_name}-prep"
        self.results_prefix = RESULTS_PREFIX
        self.results_location = f"s3://{athena_results_bucket.bucket_name}/{RESULTS_PREFIX}"
        self.genre_mapping_key = GENRE_MAPPING_KEY

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="Raw CSV exports (purchases, views, users, contents) for Personalize preparation",
            ),
        )

        self.tables: dict[str, glue.CfnTable] = {}
        for table, columns in RAW_TABLES.items():
            location = f"s3://{raw_bucket.bucket_name}/{table}/"
            projection = {
                "projection.enabled": "true",
                "projection.dt.type": "date",
                "projection.dt.format": "yyyy-MM-dd",
                "projection.dt.range": f"{projection_start},NOW",
                "projection.dt.interval": "1",
                "projection.dt.interval.unit": "DAYS",
                "storage.location.template": f"{location}dt=${{dt}}",
            }
            self.tables[table] = self._table(table, columns, location, partitioned=True, extra_parameters=projection)
            # Split at \x01 like every lines table; a second column keeps a line holding one from passing unseen.
            self.tables[lines_table(table)] = self._table(
                lines_table(table),
                (LINE_COLUMN, LINE_REST_COLUMN),
                location,
                partitioned=True,
                extra_parameters=projection,
                serde=LINES_SERDE,
            )
        # The mapping file ships in the Lambda package (lambdas/dataprep/genre_mapping.csv); the prepare step
        # publishes it to this key before its queries (dataprep.s3_outputs.publish_genre_mapping), so the
        # table always holds the mapping of the deployed code.
        self.tables[GENRE_MAPPING_TABLE] = self._table(
            GENRE_MAPPING_TABLE,
            GENRE_MAPPING_COLUMNS,
            f"s3://{raw_bucket.bucket_name}/{GENRE_MAPPING_KEY.rsplit('/', 1)[0]}/",
            partitioned=False,
            extra_parameters={},
        )
        self.table_names: dict[str, str] = {name: name for name in self.tables}
        self.columnar_location = f"s3://{athena_results_bucket.bucket_name}/{columnar.COLUMNAR_PREFIX}"
        self.day_tables = self._day_tables()
        self.window_table = self._window_table()

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description=f"Personalize data preparation ({env_name})",
            state="ENABLED",
            # Lets `cdk destroy` remove the workgroup even when it holds saved query history.
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ATHENA_ENGINE
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=encryption_key.key_arn
                    ),
                ),
            ),
        )
        stack = Stack.of(self)
        self.workgroup_arn = stack.format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup_name
        )

    def _day_tables(self) -> dict[str, glue.CfnTable]:
        """`<table>_parsed` and `<table>_files` of each raw table: one explicit partition per converted day."""
        tables = {}
        for table in RAW_TABLES:
            for name, columns in (
                (columnar.parsed_table(table), columnar.PARSED_COLUMNS[table]),
                (columnar.files_table(table), columnar.FILES_COLUMNS),
            ):
                tables[name] = parquet_table(
                    self,
                    self.database,
                    self.database_name,
                    name,
                    columns=columns,
                    partitions=(columnar.DAY_PARTITION,),
                    location=f"{self.columnar_location}{name}/",
                    parameters={},
                )
        return tables

    def _window_table(self) -> glue.CfnTable:
        """`run_window`: the window UNLOAD of one run attempt, `athena/runs/<run path>/window/part=<part>/`."""
        runs = f"s3://{self.athena_results_bucket.bucket_name}/{RESULTS_PREFIX}runs/"
        run_path = "/".join(f"${{{c}}}" for c in columnar.WINDOW_RUN_PARTITIONS)
        part = columnar.WINDOW_PART
        return parquet_table(
            self,
            self.database,
            self.database_name,
            columnar.WINDOW_TABLE,
            columns=columnar.WINDOW_COLUMNS,
            partitions=(*columnar.WINDOW_RUN_PARTITIONS, part),
            location=runs,
            parameters={
                "projection.enabled": "true",
                **{f"projection.{c}.type": "injected" for c in columnar.WINDOW_RUN_PARTITIONS},
                f"projection.{part}.type": "enum",
                f"projection.{part}.values": ",".join(p.value for p in columnar.Part),
                "storage.location.template": f"{runs}{run_path}/{columnar.WINDOW_FOLDER}/{part}=${{{part}}}/",
            },
        )

    def _table(
        self,
        name: str,
        columns: tuple[str, ...],
        location: str,
        *,
        partitioned: bool,
        extra_parameters: dict[str, str],
        serde: glue.CfnTable.SerdeInfoProperty = _OPEN_CSV_SERDE,
    ) -> glue.CfnTable:
        return text_table(
            self,
            self.database,
            self.database_name,
            name,
            columns=[(column, "string") for column in columns],
            partitions=("dt",) if partitioned else (),
            location=location,
            serde=serde,
            parameters={"classification": "csv", "skip.header.line.count": "1", **extra_parameters},
        )

    # ---- permissions ---------------------------------------------------------------------------------------

    def grant_query(self, grantee: iam.IGrantable) -> None:
        """What a Lambda needs to run the preparation queries in this workgroup and read these tables."""
        statements = [
            *query_statements(
                self,
                workgroup_arn=self.workgroup_arn,
                athena_actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"],
                database=self.database_name,
                tables=[*self.tables, *self.day_tables, columnar.WINDOW_TABLE],
                athena_sid="AthenaQueriesInPrepWorkgroup",
                glue_sid="GlueRawTables",
            ),
            iam.PolicyStatement(
                sid="ReadRawExports",
                actions=["s3:GetObject"],
                resources=[self.raw_bucket.arn_for_objects(f"{name}/*") for name in RAW_TABLES]
                + [self.raw_bucket.arn_for_objects(GENRE_MAPPING_KEY)],
            ),
            iam.PolicyStatement(
                sid="ListRawExports",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[self.raw_bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="AthenaResultsAndUnloads",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[self.athena_results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ListAthenaResults",
                actions=["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[self.athena_results_bucket.bucket_arn],
            ),
            # Athena reads and writes S3 with the caller's credentials; S3 then uses the key for these buckets.
            key_statement(
                self.encryption_key,
                service="s3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=s3_context([self.raw_bucket.bucket_arn, self.athena_results_bucket.bucket_arn]),
                sid="KmsForResultsAndRaw",
            ),
        ]
        principal = grant_statements(grantee, statements)
        # Buckets defined in this app have a logical id cdk-nag names them by; imported ones need their own.
        owned = all(b.node.default_child is not None for b in (self.raw_bucket, self.athena_results_bucket))
        if isinstance(principal, Construct) and owned:
            self._accept_object_prefix_findings(principal)

    def _accept_object_prefix_findings(self, principal: Construct) -> None:
        """The only wildcards granted are object keys under one table's or the results' prefix."""
        for name in RAW_TABLES:
            accept(
                principal,
                f"AwsSolutions-IAM5[Resource::{arn_token(self.raw_bucket, f'/{name}/*')}]",
                f"Athena reads every object of the {name} export: its dt partitions are new files each day",
            )
        accept(
            principal,
            f"AwsSolutions-IAM5[Resource::{arn_token(self.athena_results_bucket, f'/{RESULTS_PREFIX}*')}]",
            "Athena names result and UNLOAD objects per query id, so only the athena/ prefix can be granted",
        )

    def grant_convert_days(self, grantee: iam.IGrantable) -> None:
        """What the prepare step needs for the columnar days (pipeline.columnar_days): list and write the day
        partitions of the `<table>_parsed` / `<table>_files` tables (never delete: a moved partition points at a
        new conversion folder), and read and write their objects under columnar/. Athena lists the partitions of
        these tables with the caller's credentials too (they have no projection)."""
        columnar_objects = self.athena_results_bucket.arn_for_objects(f"{columnar.COLUMNAR_PREFIX}*")
        statements = [
            iam.PolicyStatement(
                sid="GlueColumnarDayPartitions",
                actions=["glue:GetPartitions", "glue:BatchCreatePartition", "glue:BatchUpdatePartition"],
                resources=glue_table_arns(self, self.database_name, self.day_tables),
            ),
            iam.PolicyStatement(
                sid="ColumnarDayObjects",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[columnar_objects],
            ),
        ]
        principal = grant_statements(grantee, statements)
        if isinstance(principal, Construct) and self.athena_results_bucket.node.default_child is not None:
            objects = arn_token(self.athena_results_bucket, f"/{columnar.COLUMNAR_PREFIX}*")
            accept(
                principal,
                f"AwsSolutions-IAM5[Resource::{objects}]",
                "Athena UNLOAD names the Parquet objects of each converted day: only columnar/ can be granted",
            )

    def grant_publish_genre_mapping(self, grantee: iam.IGrantable) -> None:
        """Write access to the one object behind the genre_mapping table (for the prepare step)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject"],
            resource_arns=[self.raw_bucket.arn_for_objects(GENRE_MAPPING_KEY)],
        )
        grantee.grant_principal.add_to_principal_policy(
            key_statement(
                self.encryption_key,
                service="s3",
                actions=["kms:GenerateDataKey"],
                resources=s3_context([self.raw_bucket.bucket_arn]),
            )
        )
