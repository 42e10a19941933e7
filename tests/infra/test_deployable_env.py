"""A concrete env (account + region, more countries, raised quota) synthesises with cdk-nag and cfn-lint clean.

The dev env is region-agnostic; ARNs render differently once account and region are known (partition
literals, for one), so acknowledgments that only matched the dev rendering would break a real deploy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stacks.config import load_config
from tests.conftest import cfn_lint, synthesise

ROOT = Path(__file__).resolve().parents[2]


def test_a_prod_like_env_synthesises_clean(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    config.update(
        env="prod",
        account="000000000000",
        region="ap-northeast-2",
        dataset_group_quota=6,
        countries=[
            *config["countries"],
            {"code": "GB", "time_zone": "Europe/London", "locales": ["en_GB"]},
            {"code": "DE", "time_zone": "Europe/Berlin", "locales": ["de_DE"], "recipes": ["similar-items"]},
            {"code": "BR", "time_zone": "America/Sao_Paulo", "locales": ["pt_BR"]},
        ],
    )
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(config))
    synthesised = synthesise(config=load_config("prod", config_dir=tmp_path), outdir=tmp_path / "out")

    report = synthesised.validation_report
    assert all(p["conclusion"] == "success" and not p["violations"] for p in report["pluginReports"])
    assert "Personalize-prod-BR" in synthesised.stack_names
    lint = cfn_lint(synthesised.outdir)
    assert lint.returncode == 0, lint.stdout
