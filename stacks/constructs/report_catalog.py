"""Glue tables the report step's Athena queries read (evaluation/sql), in the raw catalogue's database.

- prepared_users / prepared_items: the prepare step's UNLOAD parts (header-less CSV, schema order) of one run
  attempt, `athena/runs/<country>/<run_date>/<execution>/<attempt>/<output>/`;
- the interactions come from run_window (dataprep.columnar.WINDOW_TABLE, Parquet; the raw catalogue defines it):
  the report reads its country's parts (COUNTRY_PARTS) of the same run attempt, `.../<attempt>/window/part=<p>/`;
- exposures: the exposure log (common.experiments), JSON lines under `exposures/dt=YYYY-MM-DD/` of the results
  bucket, `dt` projected as a date;
- batch_output: Personalize's batch-inference output, JSON lines under `<country>/<run_date>/<recipe>/` of the
  results bucket (pipeline.steps.batch writes the job output there).

Every other partition column uses partition projection of type `injected`: the queries name each value with a static
equality (Athena's rule for injected columns), so no crawler runs and no partition is ever added. The queries
run in the raw catalogue's workgroup, which caps the bytes scanned per query.
"""

from __future__ import annotations

from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.experiments import EXPOSURE_DAY, EXPOSURES_PREFIX, EXPOSURES_TABLE
from dataprep.columnar import COLUMNAR_PREFIX, COUNTRY_PARTS, WINDOW_FOLDER, WINDOW_PART, WINDOW_TABLE
from dataprep.queries import LINE_COLUMN, Output
from evaluation.online_sql import EVENT_TABLES
from evaluation.queries import (
    BATCH_OUTPUT_PARTITIONS,
    BATCH_OUTPUT_TABLE,
    PREPARED_OUTPUTS,
    PREPARED_PARTITIONS,
    PREPARED_TABLES,
)
from stacks.constructs.athena_grants import grant_statements, query_statements
from stacks.constructs.glue_table import LINES_SERDE, text_table
from stacks.constructs.raw_catalog import RESULTS_PREFIX, RawCatalog
from stacks.key_grants import key_statement, s3_context
from stacks.nag import accept_wildcards

PREPARED_RUNS_PREFIX = f"{RESULTS_PREFIX}runs/"  # where pipeline.steps.prepare UNLOADs (athena/runs/...)
REPORTS_PREFIX = f"{RESULTS_PREFIX}reports/"  # where pipeline.steps.report UNLOADs

_CSV_SERDE = glue.CfnTable.SerdeInfoProperty(
    serialization_library="org.apache.hadoop.hive.serde2.OpenCSVSerde",
    parameters={"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"},
)
# Personalize's batch output, one row per line (`line`), parsed by the report SQL (evaluation/sql/_report_base.sql)
# rather than by a JSON SerDe. Athena's OpenX JSON SerDe page: "the number of results and their values can be
# non-deterministic. The results can contain more rows than expected, fewer rows than expected, or unexpected
# null values when none are present in the underlying data. To work around this issue, use the Hive JSON SerDe,
# or rewrite the data to another file format type"; and the Hive JSON SerDe fails the whole query on one line
# that is not JSON. Read as text, every line is counted and a malformed one is reported, not fatal.
_BATCH_COLUMNS = ((LINE_COLUMN, "string"),)


def _injected(columns: tuple[str, ...], template: str) -> dict[str, str]:
    return {
        "projection.enabled": "true",
        **{f"projection.{c}.type": "injected" for c in columns},
        "storage.location.template": template,
    }


class ReportCatalog(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, raw_catalog: RawCatalog, results_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.raw_catalog = raw_catalog
        self.prepared_bucket = raw_catalog.athena_results_bucket
        self.results_bucket = results_bucket
        self.database_name = raw_catalog.database_name
        prepared_runs = f"s3://{self.prepared_bucket.bucket_name}/{PREPARED_RUNS_PREFIX}"
        self.tables: dict[str, glue.CfnTable] = {}
        run_path = "/".join(f"${{{c}}}" for c in PREPARED_PARTITIONS)
        for table, columns in PREPARED_TABLES.items():
            self.tables[table] = self._table(
                table,
                [(c, "string") for c in columns],
                PREPARED_PARTITIONS,
                prepared_runs,
                _injected(PREPARED_PARTITIONS, f"{prepared_runs}{run_path}/{PREPARED_OUTPUTS[table]}/"),
                _CSV_SERDE,
                "csv",
            )
        results = f"s3://{results_bucket.bucket_name}/"
        self.tables[BATCH_OUTPUT_TABLE] = self._table(
            BATCH_OUTPUT_TABLE,
            list(_BATCH_COLUMNS),
            BATCH_OUTPUT_PARTITIONS,
            results,
            _injected(BATCH_OUTPUT_PARTITIONS, results + "/".join(f"${{{c}}}" for c in BATCH_OUTPUT_PARTITIONS) + "/"),
            LINES_SERDE,
            "json",
        )
        # The exposure log (stacks/constructs/exposure_log.py): JSON lines read as text like batch_output, one
        # partition per day Firehose received them (projected: no partition is ever added).
        exposures = f"{results}{EXPOSURES_PREFIX}"
        self.tables[EXPOSURES_TABLE] = self._table(
            EXPOSURES_TABLE,
            list(_BATCH_COLUMNS),
            (EXPOSURE_DAY,),
            exposures,
            {
                "projection.enabled": "true",
                f"projection.{EXPOSURE_DAY}.type": "date",
                f"projection.{EXPOSURE_DAY}.format": "yyyy-MM-dd",
                f"projection.{EXPOSURE_DAY}.range": "2020-01-01,NOW",
                f"projection.{EXPOSURE_DAY}.interval": "1",
                f"projection.{EXPOSURE_DAY}.interval.unit": "DAYS",
                "storage.location.template": f"{exposures}{EXPOSURE_DAY}=${{{EXPOSURE_DAY}}}/",
            },
            LINES_SERDE,
            "json",
        )

    def _table(
        self,
        name: str,
        columns: list[tuple[str, str]],
        partitions: tuple[str, ...],
        location: str,
        parameters: dict[str, str],
        serde: glue.CfnTable.SerdeInfoProperty,
        classification: str,
    ) -> glue.CfnTable:
        return text_table(
            self,
            self.raw_catalog.database,
            self.database_name,
            name,
            columns=columns,
            partitions=partitions,
            location=location,
            serde=serde,
            parameters={"classification": classification, **parameters},
        )

    def grant_query(self, grantee: iam.IGrantable) -> None:
        """What the report step needs to run its queries in the workgroup: these tables and run_window only, read
        the prepared users and items and the country's window parts of any run and the batch output, write query
        results and UNLOADs under athena/reports/ (no raw export, no other part of a run's folder); for the online
        outcome, the exposure log and the views' and purchases' columnar days."""
        prepared_runs = [
            *(
                self.prepared_bucket.arn_for_objects(f"{PREPARED_RUNS_PREFIX}*/{o}/*")
                for o in PREPARED_OUTPUTS.values()
            ),
            *(
                self.prepared_bucket.arn_for_objects(f"{PREPARED_RUNS_PREFIX}*/{WINDOW_FOLDER}/{WINDOW_PART}={p}/*")
                for p in COUNTRY_PARTS
            ),
        ]
        # The report step publishes the run's cold-start lists from the prepare step's UNLOAD parts
        # (pipeline.cold_start), reading them itself, not through a query.
        cold_start_parts = self.prepared_bucket.arn_for_objects(f"{PREPARED_RUNS_PREFIX}*/{Output.COLD_START}/*")
        reports = self.prepared_bucket.arn_for_objects(f"{REPORTS_PREFIX}*")
        # The online outcome (evaluation.online_sql) joins the exposures with the columnar days' views and purchases
        # (the raw catalogue's tables): every conversion's day folders of those two tables, nothing else of columnar/.
        event_days = [self.prepared_bucket.arn_for_objects(f"{COLUMNAR_PREFIX}{t}/*") for t in EVENT_TABLES]
        # Athena writes a query's result metadata at the workgroup's output location (athena/) even for UNLOAD.
        results_area = self.prepared_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")
        statements = [
            *query_statements(
                self,
                workgroup_arn=self.raw_catalog.workgroup_arn,
                athena_actions=["athena:StartQueryExecution", "athena:GetQueryExecution"],
                database=self.database_name,
                tables=[*self.tables, WINDOW_TABLE, *EVENT_TABLES],
                athena_sid="AthenaReportQueries",
                glue_sid="GlueReportTables",
            ),
            iam.PolicyStatement(
                sid="ReadReportInputs",
                actions=["s3:GetObject"],
                resources=[*prepared_runs, *event_days, self.results_bucket.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                sid="WriteQueryResults",
                actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[results_area],
            ),
            iam.PolicyStatement(sid="ReadReportOutputs", actions=["s3:GetObject"], resources=[reports]),
            iam.PolicyStatement(sid="ReadColdStartParts", actions=["s3:GetObject"], resources=[cold_start_parts]),
            iam.PolicyStatement(
                sid="ListReportBuckets",
                actions=["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[self.prepared_bucket.bucket_arn, self.results_bucket.bucket_arn],
            ),
            key_statement(
                self.raw_catalog.encryption_key,
                service="s3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=s3_context([self.prepared_bucket.bucket_arn, self.results_bucket.bucket_arn]),
                sid="KmsForReportBuckets",
            ),
        ]
        principal = grant_statements(grantee, statements)
        if isinstance(principal, Construct):
            accept_wildcards(
                principal,
                resources=prepared_runs,
                reason="Athena reads the parts of the run attempt named in the query (users, items, window)",
            )
            for resource, reason in (
                (results_area, "Athena names query result and UNLOAD objects per query id under athena/"),
                (reports, "The report reads its UNLOAD parts, named per query by Athena"),
                (cold_start_parts, "The report publishes the cold-start UNLOAD parts of the run attempt it reports"),
                *((days, "The online outcome reads the views' and purchases' converted days") for days in event_days),
                (self.results_bucket.arn_for_objects("*"), "Batch output (read) and report files of any run"),
            ):
                accept_wildcards(principal, resources=[resource], reason=reason)
