"""Every change a user makes either applies without replacing what holds data, or is refused at synth.

Each case synthesises a prod-like env (account and region set, so Personalize resources carry their outside-dev
removal policies) before and after one realistic change and compares the two with CloudFormation's resource
schemas (tests/infra/replacements.py): no Personalize dataset group, dataset, schema or event tracker and no
fixed-name resource may be replaced or deleted, and no imported export may change. The "before" synth is shared.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from common import schemas
from common.schemas import Field, SchemaChangeRefused, avro_json, check_schema_history, schema_digest
from stacks.config import load_config
from testkit.synth import synthesise, write_env_from_dev
from tests.infra.replacements import PROTECTED_TYPES, changes, load_assembly, unsafe_changes

ENV = "chg"
KR = {
    "code": "KR",
    "time_zone": "Asia/Seoul",
    "locales": ["ko_KR"],
    "recipes": ["user-personalization", "personalized-ranking", "similar-items", "trending-now"],
}
ORG_TAG = ("cost-centre", "cc-1234")
DEVICE = Field("DEVICE", ["null", "string"], categorical=True)


def _config(directory, *, countries=(KR,), **changes_):
    directory.mkdir(parents=True, exist_ok=True)
    write_env_from_dev(
        directory, ENV, account="000000000000", region="ap-northeast-2", countries=list(countries), **changes_
    )
    return load_config(ENV, config_dir=directory)


def _add_version(monkeypatch, dataset_type: str, fields: tuple[Field, ...], *, pin: bool = True) -> None:
    versions = (*schemas.SCHEMA_VERSIONS[dataset_type], fields)
    monkeypatch.setitem(schemas.SCHEMA_VERSIONS, dataset_type, versions)
    if pin:
        digest = schema_digest(avro_json(dataset_type, fields))
        monkeypatch.setitem(schemas.PUBLISHED_DIGESTS, dataset_type, (*schemas.PUBLISHED_DIGESTS[dataset_type], digest))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("change-safety")


@pytest.fixture(scope="module")
def before(workspace):
    synthesised = synthesise(config=_config(workspace / "before"), outdir=workspace / "before" / "out", nag=False)
    return synthesised, load_assembly(synthesised.outdir)


def _after(workspace, case: str, *, nag: bool = False, customise=None, **config_changes):
    config = _config(workspace / case, **config_changes)
    synthesised = synthesise(config=config, outdir=workspace / case / "out", customise=customise, nag=nag)
    return synthesised, load_assembly(synthesised.outdir)


def _verdict(before_templates, after_templates) -> list[str]:
    """Every replacement or deletion, for the failure message; the test asserts the unsafe ones are none."""
    return [str(c) for c in changes(before_templates, after_templates)]


def test_a_recipe_set_without_text_reading_recipes_keeps_the_items_schema(workspace, before):
    _, old = before
    _, new = _after(workspace, "recipes", countries=[{**KR, "recipes": ["trending-now"]}])
    assert unsafe_changes(old, new) == [], _verdict(old, new)
    # The schema is independent of the recipe set: the Items schema (with TITLE) is untouched.
    schema = {k: v for k, v in new["Personalize-chg-KR"]["Resources"].items() if k == "ItemsSchema"}
    assert schema["ItemsSchema"] == old["Personalize-chg-KR"]["Resources"]["ItemsSchema"]
    assert "TITLE" in schema["ItemsSchema"]["Properties"]["Schema"]


def test_a_new_users_field_updates_the_dataset_in_place(workspace, before, monkeypatch):
    _, old = before
    _add_version(monkeypatch, "Users", (*schemas.USERS_FIELDS, DEVICE))
    # cdk-nag on: the custom resource brings its own function and role.
    synthesised, new = _after(workspace, "device", nag=True)
    assert unsafe_changes(old, new) == [], _verdict(old, new)

    resources = new["Personalize-chg-KR"]["Resources"]
    dataset = resources["UsersDataset"]
    assert dataset["Properties"] == old["Personalize-chg-KR"]["Resources"]["UsersDataset"]["Properties"]
    assert dataset["Properties"]["SchemaArn"] == {"Fn::GetAtt": ["UsersSchema", "SchemaArn"]}
    assert "DEVICE" in resources["UsersSchemaV2"]["Properties"]["Schema"]
    (update,) = (r for r in resources.values() if r["Type"] == "Custom::PersonalizeDatasetSchema")
    call = json.dumps(update["Properties"]["Update"])
    assert "updateDataset" in call and "UsersSchemaV2" in call and "UsersDataset" in call
    (policy,) = (r for r in resources.values() if r["Type"] == "AWS::IAM::Policy" and "personalize" in json.dumps(r))
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "personalize:UpdateDataset",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": ["UsersDataset", "DatasetArn"]},
        }
    ]
    report = synthesised.validation_report
    assert all(not p["violations"] for p in report["pluginReports"]), report
    # The pipeline learns the new schema's digest, so the next run imports and trains FULL.
    schedules = [
        r for r in new["Personalize-chg-Pipeline"]["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"
    ]
    new_digest = schema_digest(avro_json("Users", (*schemas.USERS_FIELDS, DEVICE)))
    assert all(new_digest in json.dumps(s["Properties"]["Target"]["Input"]) for s in schedules)


def test_an_organisation_wide_tag_never_reaches_personalize_resources(workspace, before):
    _, old = before
    synthesised, new = _after(workspace, "tag", customise=lambda app: cdk.Tags.of(app).add(*ORG_TAG))
    assert unsafe_changes(old, new) == [], _verdict(old, new)

    tagged = untagged = 0
    for stack, template in new.items():
        for logical_id, resource in template["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if resource["Type"] in PROTECTED_TYPES - {"AWS::Personalize::EventTracker"}:
                assert tags is None, f"{stack}/{logical_id} has Tags (create-only: a tag change replaces it)"
                untagged += 1
            elif tags is not None:
                # Most types list Key/Value pairs; some (API Gateway v2's) take a map.
                pairs = tags.items() if isinstance(tags, dict) else ((t["Key"], t["Value"]) for t in tags)
                assert ORG_TAG in set(pairs), f"{stack}/{logical_id}"
                tagged += 1
    assert untagged == 7 and tagged > 20
    manifest = json.loads((synthesised.outdir / "manifest.json").read_text())["artifacts"]
    stack_tags = {
        n: a["properties"].get("tags", {}) for n, a in manifest.items() if a["type"] == "aws:cloudformation:stack"
    }
    # Stack tags are propagated by CloudFormation itself: the country stack's stay those it was created with.
    assert stack_tags["Personalize-chg-KR"] == {"project": "personalize-recommendations", "env": ENV, "country": "KR"}
    assert stack_tags["Personalize-chg-Pipeline"][ORG_TAG[0]] == ORG_TAG[1]


def test_a_new_country_only_adds(workspace, before):
    _, old = before
    gb = {"code": "GB", "time_zone": "Europe/London", "locales": ["en_GB"]}
    _, new = _after(workspace, "country", countries=[KR, gb])
    assert unsafe_changes(old, new) == [], _verdict(old, new)
    assert "Personalize-chg-GB" in new and "Personalize-chg-GB" not in old


def test_a_new_time_zone_and_run_time_update_the_schedule(workspace, before):
    _, old = before
    _, new = _after(workspace, "schedule", countries=[{**KR, "time_zone": "Asia/Tokyo", "run_time": "05:15"}])
    assert unsafe_changes(old, new) == [], _verdict(old, new)
    (schedule,) = (
        r for r in new["Personalize-chg-Pipeline"]["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"
    )
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert "15 5" in schedule["Properties"]["ScheduleExpression"]


def test_a_shard_count_updates_the_stream(workspace, before):
    _, old = before
    _, new = _after(workspace, "shards", realtime={"shard_count": 2})
    assert unsafe_changes(old, new) == [], _verdict(old, new)
    (stream,) = (
        r for r in new["Personalize-chg-Realtime"]["Resources"].values() if r["Type"] == "AWS::Kinesis::Stream"
    )
    assert stream["Properties"]["ShardCount"] == 2


def test_personalize_resources_are_retained_outside_dev_and_deleted_with_dev(before, dev_app):
    _, prod_like = before
    dev = dev_app.template_json("Personalize-dev-KR")["Resources"]
    prod = prod_like["Personalize-chg-KR"]["Resources"]
    for resources, policy in ((prod, "Retain"), (dev, "Delete")):
        personalize = {k: r for k, r in resources.items() if r["Type"] in PROTECTED_TYPES}
        assert len(personalize) == 8  # group, 3 schemas, 3 datasets, event tracker
        for logical_id, resource in personalize.items():
            assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == (policy, policy), logical_id


# Refused at synth: what UpdateDataset cannot do, or an edit of a schema that is already deployed.


@pytest.mark.parametrize(
    ("dataset_type", "change", "message"),
    [
        ("Users", lambda f: f[:-1], "removes, reorders or changes fields of version 1"),
        ("Users", lambda f: (f[0], Field("LOCALE", ["null", "string"], categorical=True), *f[2:]), "changes fields"),
        ("Users", lambda f: (*f, Field("DEVICE", "string", categorical=True)), "must accept null"),
        ("Interactions", lambda f: (*f, Field("DEVICE", ["null", "string"])), "cannot replace an Interactions"),
    ],
    ids=["field-removed", "type-changed", "not-nullable", "interactions"],
)
def test_incompatible_schema_versions_are_refused(monkeypatch, dataset_type, change, message):
    _add_version(monkeypatch, dataset_type, change(schemas.SCHEMA_VERSIONS[dataset_type][-1]))
    with pytest.raises(SchemaChangeRefused, match=message) as refused:
        check_schema_history()
    assert "\n" not in str(refused.value) and dataset_type in str(refused.value)


def test_an_edited_published_version_or_an_unpinned_one_is_refused(monkeypatch):
    edited = (*schemas.USERS_FIELDS, DEVICE)
    monkeypatch.setitem(schemas.SCHEMA_VERSIONS, "Users", (edited,))
    with pytest.raises(SchemaChangeRefused, match="published version 1 changed .* append the change"):
        check_schema_history()
    monkeypatch.setitem(schemas.SCHEMA_VERSIONS, "Users", (schemas.USERS_FIELDS, edited))
    with pytest.raises(SchemaChangeRefused, match="version 2 is not pinned; after review add"):
        check_schema_history()


def test_a_refused_change_stops_the_build_before_anything_is_synthesised(monkeypatch, tmp_path):
    from stacks.application import build_application

    monkeypatch.setitem(schemas.SCHEMA_VERSIONS, "Users", ((*schemas.USERS_FIELDS, DEVICE),))
    with pytest.raises(SchemaChangeRefused, match="lambdas/common/schemas.py: Users schema"):
        build_application(_config(tmp_path), cdk.App(outdir=str(tmp_path / "out")), nag=False)
    assert not list((tmp_path / "out").glob("*.template.json"))


def test_the_history_in_the_code_is_accepted():
    check_schema_history()
    assert schemas.dataset_fields("Items", ("trending-now",)) == schemas.dataset_fields("Items", ("similar-items",))
