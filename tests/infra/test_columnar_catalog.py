"""The columnar layer's infrastructure in the synthesised dev env: the Glue tables of the converted days and of
the run window, the prepared bucket's lifecycle per prefix, and the Prepare role's grants on them (evaluated by
the project's IAM oracle, tests/iam/policy.py)."""

from __future__ import annotations

import pytest

from dataprep import columnar
from dataprep.queries import RAW_TABLES
from pipeline import step_names
from stacks.config import load_config
from testkit.pipeline_harness import PIPELINE_STACK
from tests.iam.calls import bucket_arn, function_by_handler, object_arn
from tests.iam.policy import ACCOUNT, REGION, Assembly, Request

CONFIG = load_config("dev")
DATA = "Personalize-dev-Data"
DATABASE = "personalize_dev_raw"
PREPARED = f"personalize-dev-prepared-{ACCOUNT}-{REGION}"
RAW = f"personalize-dev-raw-{ACCOUNT}-{REGION}"
CATALOG = f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog"
DATABASE_ARN = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/{DATABASE}"
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
DAY_TABLES = [name for t in RAW_TABLES for name in (columnar.parsed_table(t), columnar.files_table(t))]


@pytest.fixture(scope="module")
def assembly(dev_app) -> Assembly:
    return Assembly(dev_app.outdir)


@pytest.fixture(scope="module")
def glue_tables(assembly) -> dict[str, dict]:
    """Table name -> its resolved TableInput."""
    tables = {}
    for table in assembly.resources(PIPELINE_STACK, "AWS::Glue::Table").values():
        props = assembly.resolve(PIPELINE_STACK, table["Properties"])
        tables[props["TableInput"]["Name"]] = {"DatabaseName": props["DatabaseName"], **props["TableInput"]}
    return tables


@pytest.fixture(scope="module")
def prepare_role(assembly):
    _, _, caller = function_by_handler(assembly, PIPELINE_STACK, step_names.PREPARE.entry_point)
    return caller.principal


def _columns(columns) -> list[dict[str, str]]:
    return [{"Name": name, "Type": type_} for name, type_ in columns]


@pytest.mark.parametrize("table", sorted(RAW_TABLES))
def test_each_raw_table_has_parquet_parsed_and_files_tables_with_explicit_day_partitions(glue_tables, table):
    expected = {
        columnar.parsed_table(table): columnar.PARSED_COLUMNS[table],
        columnar.files_table(table): columnar.FILES_COLUMNS,
    }
    for name, columns in expected.items():
        table_input = glue_tables[name]
        assert table_input["DatabaseName"] == DATABASE
        assert table_input["TableType"] == "EXTERNAL_TABLE"
        assert table_input["PartitionKeys"] == [{"Name": columnar.DAY_PARTITION, "Type": "string"}]
        descriptor = table_input["StorageDescriptor"]
        assert descriptor["Columns"] == _columns(columns)
        assert {k: descriptor[k] for k in PARQUET} == PARQUET
        assert descriptor["Location"] == f"s3://{PREPARED}/{columnar.COLUMNAR_PREFIX}{name}/"
        # The step adds each day's partition after both conversions succeeded: no projection may invent one.
        assert not any(k.startswith("projection.") for k in table_input.get("Parameters", {}))


def test_run_window_is_parquet_with_injected_run_partitions_and_an_enum_part(glue_tables):
    table_input = glue_tables[columnar.WINDOW_TABLE]
    keys = (*columnar.WINDOW_RUN_PARTITIONS, columnar.WINDOW_PART)
    assert table_input["PartitionKeys"] == [{"Name": k, "Type": "string"} for k in keys]
    descriptor = table_input["StorageDescriptor"]
    assert descriptor["Columns"] == _columns(columnar.WINDOW_COLUMNS)
    assert {k: descriptor[k] for k in PARQUET} == PARQUET
    parameters = table_input["Parameters"]
    assert parameters["projection.enabled"] == "true"
    for column in columnar.WINDOW_RUN_PARTITIONS:
        assert parameters[f"projection.{column}.type"] == "injected"
    assert parameters[f"projection.{columnar.WINDOW_PART}.type"] == "enum"
    assert parameters[f"projection.{columnar.WINDOW_PART}.values"].split(",") == [p.value for p in columnar.Part]
    assert parameters["storage.location.template"] == (
        f"s3://{PREPARED}/athena/runs/${{country}}/${{run_date}}/${{execution}}/${{attempt}}/"
        f"{columnar.WINDOW_FOLDER}/{columnar.WINDOW_PART}=${{{columnar.WINDOW_PART}}}/"
    )


def _prepared_bucket(dev_app) -> dict:
    template = dev_app.template_json(DATA)
    for bucket in template["Resources"].values():
        if (
            bucket["Type"] == "AWS::S3::Bucket"
            and bucket["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == "prepared/"
        ):
            return bucket["Properties"]
    raise AssertionError("no prepared bucket")


def test_prepared_bucket_expires_athena_outputs_after_retention_and_columnar_days_after_the_window(dev_app):
    rules = {r["Prefix"]: r for r in _prepared_bucket(dev_app)["LifecycleConfiguration"]["Rules"] if "Prefix" in r}
    assert all("Prefix" in r for r in _prepared_bucket(dev_app)["LifecycleConfiguration"]["Rules"])
    assert set(rules) == {"athena/", columnar.COLUMNAR_PREFIX}
    assert rules["athena/"]["ExpirationInDays"] == CONFIG.data.retention_days
    # A converted day is read by every run of its window: it must outlive the window (and the margin after
    # which days_to_convert converts it again).
    columnar_days = rules[columnar.COLUMNAR_PREFIX]["ExpirationInDays"]
    assert columnar_days >= CONFIG.data.window_days + columnar.COLUMNAR_EXPIRY_MARGIN_DAYS
    assert columnar_days >= CONFIG.data.retention_days


def test_nothing_is_written_to_the_prepared_bucket_outside_the_expiring_prefixes(assembly):
    """Every grant to write the prepared bucket names a key under a prefix a lifecycle rule expires."""
    found = 0
    for stack in assembly.templates:
        for policy in assembly.resources(stack, "AWS::IAM::Policy").values():
            document = assembly.resolve(stack, policy["Properties"]["PolicyDocument"])
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "s3:PutObject" not in actions:
                    continue
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for resource in resources:
                    if isinstance(resource, str) and resource.startswith(f"arn:aws:s3:::{PREPARED}/"):
                        found += 1
                        key = resource.removeprefix(f"arn:aws:s3:::{PREPARED}/")
                        assert key.startswith(("athena/", columnar.COLUMNAR_PREFIX)), (stack, resource)
    assert found


@pytest.mark.parametrize("action", ["glue:GetPartitions", "glue:BatchCreatePartition", "glue:BatchUpdatePartition"])
def test_prepare_role_manages_partitions_of_the_day_tables_only(assembly, prepare_role, action):
    for name in DAY_TABLES:
        table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/{name}"
        decision = assembly.evaluate(prepare_role, Request.of(action, [CATALOG, DATABASE_ARN, table]))
        assert decision.allowed, decision.line("prepare")
    for name in (*RAW_TABLES, columnar.WINDOW_TABLE, "genre_mapping"):
        table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/{name}"
        assert not assembly.evaluate(prepare_role, Request.of(action, [CATALOG, DATABASE_ARN, table])).allowed, name


def test_prepare_role_never_deletes_partitions_or_tables(assembly, prepare_role):
    table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/{DAY_TABLES[0]}"
    for action in ("glue:BatchDeletePartition", "glue:DeletePartition", "glue:DeleteTable", "glue:UpdateTable"):
        assert not assembly.evaluate(prepare_role, Request.of(action, [CATALOG, DATABASE_ARN, table])).allowed


def test_prepare_role_reads_the_columnar_tables_for_its_queries(assembly, prepare_role):
    for name in (*DAY_TABLES, columnar.WINDOW_TABLE):
        table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/{DATABASE}/{name}"
        decision = assembly.evaluate(prepare_role, Request.of("glue:GetTable", [CATALOG, DATABASE_ARN, table]))
        assert decision.allowed, decision.line("prepare")


def test_prepare_role_reads_and_writes_columnar_objects_of_the_prepared_bucket_only(assembly, prepare_role):
    day = f"{columnar.COLUMNAR_PREFIX}purchases_parsed/KR-2026-11-15-run-a1/dt=2026-11-14/part-0.parquet"
    for action in ("s3:GetObject", "s3:PutObject"):
        decision = assembly.evaluate(prepare_role, Request.of(action, [object_arn(PREPARED, day)]))
        assert decision.allowed, decision.line("prepare")
        assert not assembly.evaluate(prepare_role, Request.of(action, [object_arn(RAW, day)])).allowed
        assert not assembly.evaluate(prepare_role, Request.of(action, [object_arn(PREPARED, "other/x")])).allowed
    assert assembly.evaluate(prepare_role, Request.of("s3:ListBucket", [bucket_arn(PREPARED)])).allowed
    assert not assembly.evaluate(prepare_role, Request.of("s3:DeleteObject", [object_arn(PREPARED, day)])).allowed
