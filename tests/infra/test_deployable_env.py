"""A concrete env (account + region, more countries, raised quota) synthesises with cdk-nag and cfn-lint clean.

The dev env is region-agnostic; ARNs render differently once account and region are known (partition
literals, for one), so acknowledgments that only matched the dev rendering would break a real deploy.
"""

from __future__ import annotations

import pytest

from tests.conftest import PROD_LIKE_ENV, cfn_lint

# The concrete env is synthesised once per worker: keep its users on one worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("prod_like")


def test_a_prod_like_env_synthesises_clean(prod_like_app):
    report = prod_like_app.validation_report
    assert all(p["conclusion"] == "success" and not p["violations"] for p in report["pluginReports"])
    assert f"Personalize-{PROD_LIKE_ENV}-BR" in prod_like_app.stack_names
    lint = cfn_lint(prod_like_app.outdir)
    assert lint.returncode == 0, lint.stdout
