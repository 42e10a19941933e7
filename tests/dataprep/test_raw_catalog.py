"""RawCatalog synthesises the Glue tables, the Athena workgroup and least-privilege query grants."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match

from dataprep.queries import RAW_TABLES
from stacks.constructs.raw_catalog import GENRE_MAPPING_KEY, RawCatalog

CUTOFF = 50 * 1024**3


@pytest.fixture(scope="module")
def synth():
    app = cdk.App()
    stack = cdk.Stack(app, "Catalog", env=cdk.Environment(account="111111111111", region="ap-northeast-2"))
    key = kms.Key(stack, "Key")
    raw = s3.Bucket(stack, "Raw", encryption_key=key)
    results = s3.Bucket(stack, "Results", encryption_key=key)
    catalog = RawCatalog(
        stack,
        "RawCatalog",
        env_name="dev",
        raw_bucket=raw,
        athena_results_bucket=results,
        encryption_key=key,
        bytes_scanned_cutoff=CUTOFF,
    )
    role = iam.Role(stack, "PrepareRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    catalog.grant_query(role)
    return catalog, assertions.Template.from_stack(stack), stack


def _resolve(stack, value):
    return stack.resolve(value)


def test_database_and_attributes_derive_from_env(synth):
    catalog, template, _ = synth
    assert catalog.database_name == "personalize_dev_raw"
    assert catalog.workgroup_name == "personalize-dev-prep"
    # Every raw export also as `<table>_lines` (one string per physical line) for the data-quality query.
    assert set(catalog.table_names) == {*RAW_TABLES, *(f"{t}_lines" for t in RAW_TABLES), "genre_mapping"}
    template.has_resource_properties(
        "AWS::Glue::Database", {"DatabaseInput": {"Name": "personalize_dev_raw"}}
    )


@pytest.mark.parametrize("table", sorted(RAW_TABLES))
def test_raw_tables_are_csv_with_date_projection(synth, table):
    _, template, _ = synth
    template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "DatabaseName": "personalize_dev_raw",
            "TableInput": {
                "Name": table,
                "PartitionKeys": [{"Name": "dt", "Type": "string"}],
                "Parameters": Match.object_like(
                    {
                        "skip.header.line.count": "1",
                        "projection.enabled": "true",
                        "projection.dt.type": "date",
                        "projection.dt.format": "yyyy-MM-dd",
                        "storage.location.template": {
                            "Fn::Join": [
                                "",
                                ["s3://", {"Ref": Match.string_like_regexp("Raw")}, f"/{table}/dt=${{dt}}"],
                            ]
                        },
                    }
                ),
                "StorageDescriptor": Match.object_like(
                    {
                        "Columns": [{"Name": c, "Type": "string"} for c in RAW_TABLES[table]],
                        "SerdeInfo": Match.object_like(
                            {"SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde"}
                        ),
                    }
                ),
            },
        },
    )


def test_genre_mapping_table_points_at_the_published_key(synth):
    _, template, _ = synth
    prefix = GENRE_MAPPING_KEY.rsplit("/", 1)[0]
    template.has_resource_properties(
        "AWS::Glue::Table",
        {
            "TableInput": Match.object_like(
                {
                    "Name": "genre_mapping",
                    "PartitionKeys": Match.absent(),
                    "StorageDescriptor": Match.object_like(
                        {
                            "Columns": [
                                {"Name": "source_genre", "Type": "string"},
                                {"Name": "genre", "Type": "string"},
                            ],
                            "Location": {
                                "Fn::Join": ["", ["s3://", {"Ref": Match.any_value()}, f"/{prefix}/"]]
                            },
                        }
                    ),
                }
            )
        },
    )


def test_workgroup_enforces_encrypted_results_and_cutoff(synth):
    _, template, _ = synth
    template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "personalize-dev-prep",
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": CUTOFF,
                    "ResultConfiguration": {
                        "OutputLocation": {
                            "Fn::Join": [
                                "",
                                ["s3://", {"Ref": Match.string_like_regexp("Results")}, "/athena/"],
                            ]
                        },
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": {"Fn::GetAtt": [Match.string_like_regexp("Key"), "Arn"]},
                        },
                    },
                }
            ),
        },
    )


def _statements(template):
    policies = template.find_resources("AWS::IAM::Policy")
    assert len(policies) == 1
    return next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_grant_query_is_scoped_to_workgroup_tables_and_prefixes(synth):
    _, template, _ = synth
    statements = _statements(template)
    by_action = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(_as_list(statement["Resource"]))
    # No action or resource wildcard beyond object prefixes.
    assert all("*" not in action for action in by_action)
    assert set(by_action) >= {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "glue:GetDatabase",
        "glue:GetTable",
        "s3:GetObject",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    # Nothing the queries never call: partition projection (no GetPartitions), no stopping, no deleting.
    assert not {"glue:GetPartitions", "athena:StopQueryExecution", "s3:DeleteObject"} & set(by_action)
    # KMS only through S3, for the raw and prepared buckets.
    kms = [s for s in statements if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    assert kms and all("kms:ViaService" in str(s.get("Condition")) for s in kms)
    athena_resources = str(by_action["athena:StartQueryExecution"])
    assert "workgroup/personalize-dev-prep" in athena_resources
    glue_resources = str(by_action["glue:GetTable"])
    for table in (*RAW_TABLES, "genre_mapping"):
        assert f"table/personalize_dev_raw/{table}" in glue_resources
    # Writes only under the results prefix; never to the raw exports.
    put_resources = str(by_action["s3:PutObject"])
    assert "/athena/*" in put_resources and "Raw" not in put_resources
    read_resources = str(by_action["s3:GetObject"])
    for table in RAW_TABLES:
        assert f"/{table}/*" in read_resources


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env_name": "Dev!"}, "env_name"),
        ({"bytes_scanned_cutoff": 1024}, "bytes_scanned_cutoff"),
    ],
)
def test_bad_construct_arguments_are_rejected(kwargs, message):
    stack = cdk.Stack(cdk.App(), "Bad")
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Bucket")
    arguments = {
        "env_name": "dev",
        "raw_bucket": bucket,
        "athena_results_bucket": bucket,
        "encryption_key": key,
        "bytes_scanned_cutoff": CUTOFF,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        RawCatalog(stack, "Catalog", **arguments)


def test_query_grant_passes_cdk_nag_with_specific_acknowledgments(tmp_path):
    from stacks.nag import accepted_findings, enable_checks

    app = cdk.App(outdir=str(tmp_path))
    enable_checks(app)
    stack = cdk.Stack(app, "Nagged")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    raw = s3.Bucket(stack, "Raw", encryption_key=key, enforce_ssl=True, server_access_logs_prefix="logs/")
    results = s3.Bucket(
        stack, "Results", encryption_key=key, enforce_ssl=True, server_access_logs_prefix="logs/"
    )
    catalog = RawCatalog(
        stack,
        "RawCatalog",
        env_name="dev",
        raw_bucket=raw,
        athena_results_bucket=results,
        encryption_key=key,
        bytes_scanned_cutoff=CUTOFF,
    )
    role = iam.Role(stack, "PrepareRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    catalog.grant_query(role)
    catalog.grant_convert_days(role)
    app.synth()  # raises ValidationFailed on any unacknowledged finding
    rules = {rule for _, rule, _ in accepted_findings(stack)}
    # one per raw export's objects, the athena/ results and the columnar/ days
    assert len(rules) == len(RAW_TABLES) + 2 and all(
        rule.startswith("AwsSolutions-IAM5[Resource::") for rule in rules
    )
