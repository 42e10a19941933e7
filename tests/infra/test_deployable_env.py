"""A concrete env (account + region, more countries, raised quota) synthesises with cdk-nag and cfn-lint clean.

The dev env is region-agnostic; ARNs render differently once account and region are known (partition
literals, for one), so acknowledgments that only matched the dev rendering would break a real deploy.
"""

from __future__ import annotations

from pathlib import Path

from stacks.config import load_config
from tests.conftest import cfn_lint, synthesise, write_env_from_dev

ROOT = Path(__file__).resolve().parents[2]


def test_a_prod_like_env_synthesises_clean(tmp_path):
    dev_countries = load_config("dev").countries
    write_env_from_dev(
        tmp_path,
        "prod",
        account="000000000000",
        region="ap-northeast-2",
        dataset_group_quota=6,
        countries=[
            *({"code": c.code, "time_zone": c.time_zone, "locales": list(c.locales)} for c in dev_countries),
            {"code": "GB", "time_zone": "Europe/London", "locales": ["en_GB"]},
            {"code": "DE", "time_zone": "Europe/Berlin", "locales": ["de_DE"], "recipes": ["similar-items"]},
            {"code": "BR", "time_zone": "America/Sao_Paulo", "locales": ["pt_BR"]},
        ],
    )
    synthesised = synthesise(config=load_config("prod", config_dir=tmp_path), outdir=tmp_path / "out")

    report = synthesised.validation_report
    assert all(p["conclusion"] == "success" and not p["violations"] for p in report["pluginReports"])
    assert "Personalize-prod-BR" in synthesised.stack_names
    lint = cfn_lint(synthesised.outdir)
    assert lint.returncode == 0, lint.stdout
