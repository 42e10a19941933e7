"""Template tests of the data stack and the per-country stacks of the embedded dev environment."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from common.schemas import csv_header
from stacks.config import load_config
from tests.conftest import cfn_lint

CONFIG = load_config("dev")
DATA = "Personalize-dev-Data"
COUNTRY_STACKS = [f"Personalize-dev-{c.code}" for c in CONFIG.countries]


def resources(template_json: dict, type_name: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == type_name}


def test_one_data_stack_and_one_stack_per_country(dev_app):
    assert set(dev_app.stack_names) >= {DATA, *COUNTRY_STACKS}


def test_key_rotates_and_every_data_bucket_is_encrypted_private_and_logged(dev_app):
    template = dev_app.template(DATA)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    buckets = resources(dev_app.template_json(DATA), "AWS::S3::Bucket")
    assert len(buckets) == 4  # raw, prepared, results, access logs
    kms_buckets = 0
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        if sse["SSEAlgorithm"] == "aws:kms":
            kms_buckets += 1
            assert "KMSMasterKeyID" in sse
            assert props["LoggingConfiguration"]["LogFilePrefix"] in {"raw/", "prepared/", "results/"}
    assert kms_buckets == 3


def _bucket_by_log_prefix(dev_app, prefix: str) -> dict:
    for bucket in resources(dev_app.template_json(DATA), "AWS::S3::Bucket").values():
        if bucket["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == prefix:
            return bucket["Properties"]
    raise AssertionError(prefix)


def test_versioning_and_retention(dev_app):
    raw = _bucket_by_log_prefix(dev_app, "raw/")
    prepared = _bucket_by_log_prefix(dev_app, "prepared/")
    results = _bucket_by_log_prefix(dev_app, "results/")
    assert raw["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LifecycleConfiguration" not in raw  # raw exports are the company's data: never expired by us
    assert "VersioningConfiguration" not in prepared  # reproducible from raw
    assert results["VersioningConfiguration"] == {"Status": "Enabled"}
    days = CONFIG.data.retention_days
    assert prepared["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == days
    assert results["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == days


def _policy_statements(dev_app, type_name: str) -> list[dict]:
    statements = []
    for policy in resources(dev_app.template_json(DATA), type_name).values():
        document = policy["Properties"].get("PolicyDocument") or policy["Properties"].get("KeyPolicy")
        statements.extend(document["Statement"])
    return statements


def test_every_bucket_denies_plain_http(dev_app):
    policies = resources(dev_app.template_json(DATA), "AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, policy


PERSONALIZE_SOURCE = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":personalize:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":*",
                ],
            ]
        }
    },
}


def test_bucket_policies_give_personalize_exactly_what_jobs_need(dev_app):
    granted = {}
    for statement in _policy_statements(dev_app, "AWS::S3::BucketPolicy"):
        if statement.get("Principal") == {"Service": "personalize.amazonaws.com"}:
            granted[statement["Sid"]] = statement
            assert statement["Condition"] == PERSONALIZE_SOURCE
    assert set(granted) == {
        "PersonalizeReadsPreparedInput",
        "PersonalizeListsPreparedInput",
        "PersonalizeWritesBatchOutput",
        "PersonalizeListsBatchOutput",
    }
    # only the prefixes the jobs use: athena/runs/ (imports, batch input), <country>/ (batch output)
    assert granted["PersonalizeReadsPreparedInput"]["Action"] == "s3:GetObject"
    assert "/athena/runs/*" in json.dumps(granted["PersonalizeReadsPreparedInput"]["Resource"])
    assert granted["PersonalizeWritesBatchOutput"]["Action"] == "s3:PutObject"
    written = json.dumps(granted["PersonalizeWritesBatchOutput"]["Resource"])
    assert all(f"/{c.code}/*" in written for c in CONFIG.countries)
    assert granted["PersonalizeListsBatchOutput"]["Action"] == "s3:ListBucket"


def test_personalize_role_reads_prepared_writes_results_uses_key_and_nothing_more(dev_app):
    template_json = dev_app.template_json(DATA)
    roles = resources(template_json, "AWS::IAM::Role")
    role_id, role = next((k, v) for k, v in roles.items() if k.startswith("PersonalizeServiceRole"))
    assume = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert assume == [
        {
            "Action": "sts:AssumeRole",
            "Condition": PERSONALIZE_SOURCE,
            "Effect": "Allow",
            "Principal": {"Service": "personalize.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    policies = [
        p
        for p in resources(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {
        "ReadPreparedInput",
        "WriteResults",
        "ListInputAndOutput",
        "UseDataKeyThroughS3",
        "UseDataKeyForDatasetGroups",
        "GrantsForPersonalizeOnly",
    }
    buckets = {k: v for k, v in resources(template_json, "AWS::S3::Bucket").items()}
    prepared_id = next(
        k
        for k, v in buckets.items()
        if v["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == "prepared/"
    )
    results_id = next(
        k
        for k, v in buckets.items()
        if v["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == "results/"
    )
    key_id = next(iter(resources(template_json, "AWS::KMS::Key")))
    assert prepared_id in json.dumps(by_sid["ReadPreparedInput"]["Resource"])
    assert results_id not in json.dumps(by_sid["ReadPreparedInput"])
    assert results_id in json.dumps(by_sid["WriteResults"]["Resource"])
    assert by_sid["WriteResults"]["Action"] == "s3:PutObject"
    assert by_sid["GrantsForPersonalizeOnly"]["Action"] == "kms:CreateGrant"
    assert by_sid["GrantsForPersonalizeOnly"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert "kms:CreateGrant" not in json.dumps(by_sid["UseDataKeyForDatasetGroups"])
    assert by_sid["UseDataKeyForDatasetGroups"]["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert "kms:ViaService" in json.dumps(by_sid["UseDataKeyThroughS3"]["Condition"])
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in statements)


@pytest.mark.parametrize("stack_name", COUNTRY_STACKS)
def test_country_stack_has_one_encrypted_dataset_group_three_datasets_and_a_tracker(dev_app, stack_name):
    code = stack_name.rsplit("-", 1)[1]
    template = dev_app.template(stack_name)
    template.resource_count_is("AWS::Personalize::DatasetGroup", 1)
    template.resource_count_is("AWS::Personalize::Schema", 3)
    template.resource_count_is("AWS::Personalize::Dataset", 3)
    template.resource_count_is("AWS::Personalize::EventTracker", 1)
    template.has_resource_properties(
        "AWS::Personalize::DatasetGroup",
        {
            "Name": f"personalize-dev-{code.lower()}",
            "KmsKeyArn": Match.any_value(),
            "RoleArn": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::Personalize::EventTracker", {"Name": f"personalize-dev-{code.lower()}-events"}
    )
    # Solutions are created by the pipeline with performAutoTraining set explicitly (CloudFormation cannot set it).
    template.resource_count_is("AWS::Personalize::Solution", 0)
    template.resource_count_is("AWS::Personalize::Campaign", 0)


def _schemas(dev_app, stack_name: str) -> dict[str, dict]:
    return {
        json.loads(s["Properties"]["Schema"])["name"]: json.loads(s["Properties"]["Schema"])
        for s in resources(dev_app.template_json(stack_name), "AWS::Personalize::Schema").values()
    }


def test_schema_fields_in_order(dev_app):
    kr = _schemas(dev_app, "Personalize-dev-KR")
    names = {k: [f["name"] for f in v["fields"]] for k, v in kr.items()}
    assert names["Interactions"] == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    assert names["Users"] == ["USER_ID", "LOCALE", "AGE_GROUP", "GENDER", "MEMBERSHIP"]
    assert names["Items"] == ["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "TITLE"]
    fields = {f["name"]: f for schema in kr.values() for f in schema["fields"]}
    for categorical in ("LOCALE", "AGE_GROUP", "GENDER", "MEMBERSHIP", "GENRES"):
        assert fields[categorical]["categorical"] is True
    assert fields["TITLE"]["textual"] is True
    assert fields["TIMESTAMP"]["type"] == "long" and fields["CREATION_TIMESTAMP"]["type"] == "long"
    assert fields["EVENT_VALUE"]["type"] == ["null", "float"]
    # what the preparation SQL writes is checked against the same source
    assert names["Items"] == csv_header("Items", {"similar-items"})


def test_items_schema_keeps_title_whatever_the_recipes():
    """A recipe-dependent schema would replace the Items dataset when the last text recipe goes (change safety)."""
    assert csv_header("Items", {"trending-now"}) == ["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "TITLE"]


def test_physical_names_derive_from_env_and_country_only(dev_app, tmp_path):
    """A second synth gives identical templates: no random or time-based names or ids."""
    from testkit.synth import synthesise

    again = synthesise("dev", tmp_path / "again")
    for name in COUNTRY_STACKS + [DATA]:
        assert again.template_json(name) == dev_app.template_json(name)


def test_tracking_ids_are_exported_for_later_stacks(dev_app):
    for stack in dev_app.application.countries.values():
        outputs = dev_app.template_json(stack.stack_name)["Outputs"]
        assert outputs["TrackingId"]["Value"] == {
            "Fn::GetAtt": [Match.any_value(), "TrackingId"]
        } or "TrackingId" in json.dumps(outputs["TrackingId"]["Value"])


def test_cdk_nag_has_no_open_findings_and_every_acknowledgment_is_specific(dev_app):
    from stacks.nag import accepted_findings

    report = dev_app.validation_report
    conclusions = {p["pluginName"]: p["conclusion"] for p in report["pluginReports"]}
    assert conclusions["AwsSolutions"] == "success"
    assert all(not p["violations"] for p in report["pluginReports"])
    accepted = accepted_findings(dev_app.application.app)
    assert accepted
    for path, rule, reason in accepted:
        assert path.count("/") >= 1, f"{rule} acknowledged on a whole stack: {path}"
        assert rule.startswith("AwsSolutions-")
        assert len(reason.split()) >= 6
    ours = {(path, rule) for path, rule, _ in accepted}
    for suppressed in (v for p in report["pluginReports"] for v in p["suppressedViolations"]):
        if suppressed["acknowledgedId"].startswith("AwsSolutions::"):
            assert (suppressed["acknowledgedAt"], suppressed["ruleName"]) in ours


def test_cfn_lint_finds_nothing_but_w3005(dev_app):
    result = cfn_lint(dev_app.outdir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_names_change_with_their_content(dev_app):
    """Schema names carry a hash of their content: the same content gives the same suffix in every country."""
    names = {r["Properties"]["Name"] for r in resources(dev_app.template_json("Personalize-dev-KR"),
                                                          "AWS::Personalize::Schema").values()}
    assert all(n.startswith("personalize-dev-kr-") and len(n.rsplit("-", 1)[1]) == 8 for n in names)
    jp = {r["Properties"]["Name"].rsplit("-", 1)[1] for r in resources(
        dev_app.template_json("Personalize-dev-JP"), "AWS::Personalize::Schema").values()}
    kr = {n.rsplit("-", 1)[1] for n in names}
    assert kr & jp  # the same Interactions/Users schema content hashes alike in both countries


def test_key_policy_lets_the_services_that_encrypt_with_it_from_other_stacks(dev_app):
    """Log groups, the SNS topic and the queues in other stacks use this key; imported keys get no auto-grants."""
    (key,) = resources(dev_app.template_json(DATA), "AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["CloudWatchLogsEncryptLogGroups"]
    assert "logs." in json.dumps(logs["Principal"]) and "kms:EncryptionContext:aws:logs:arn" in json.dumps(logs)
    services = statements["AlarmsAndEventsUseEncryptedTopicsAndQueues"]
    assert sorted(services["Principal"]["Service"]) == ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    assert services["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
