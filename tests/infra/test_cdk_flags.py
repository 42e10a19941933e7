"""Every feature flag of the pinned aws-cdk-lib is set deliberately in cdk.json (no CLI warning about unconfigured
flags), at aws-cdk-lib's recommended value unless this file says why not.

Adopting the recommended values changed none of our templates when they were set (2026-12, aws-cdk-lib 2.275.0):
the flags then only keep future constructs on current behaviour. A later aws-cdk-lib adds flags: this test names them.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import aws_cdk

ROOT = Path(__file__).resolve().parents[2]

# Deliberate departures from the recommendation, and why.
NOT_RECOMMENDED = {
    # Strong references make CloudFormation refuse to delete a resource another stack still imports (the key,
    # dataset groups), instead of breaking the importing stack later.
    "@aws-cdk/core:defaultCrossStackReferences": "strong",
    # Organisation-wide tags stay resource-level tags, which the country stacks strip from the Personalize
    # resources whose Tags are create-only (docs/schema-evolution.md). Explicit stack tags would turn them into
    # stack-level tags, which CloudFormation itself propagates to those resources, replacing them.
    "@aws-cdk/core:explicitStackTags": False,
}


def _recommended() -> dict:
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        return json.load(archive.extractfile("package/recommended-feature-flags.json"))


def test_every_feature_flag_is_set_deliberately():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    recommended = _recommended()
    assert len(recommended) > 50, "the flag list was not read"
    unset = sorted(flag for flag in recommended if flag not in context)
    assert unset == [], f"set these in cdk.json (recommended values: {[(f, recommended[f]) for f in unset]})"
    differing = {flag: context[flag] for flag, value in recommended.items() if context[flag] != value}
    assert differing == NOT_RECOMMENDED


def test_no_reserved_context_keys_in_cdk_json():
    """The CLI warns about `aws:` keys in cdk.json; tests/conftest.py passes the one we need programmatically."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert not [key for key in context if key.startswith("aws:")]
