"""The sandbox env smoke runs against: a checked-in example to copy, never itself an env, and a git-ignored copy."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks.config import CONFIG_DIR, ConfigError, available_envs, load_config
from testkit.synth import write_env_from_dev
from tools.smoke import cli

EXAMPLE = CONFIG_DIR / "sandbox.example.yaml"


def test_the_example_copied_to_sandbox_yaml_is_a_sandbox_env_that_names_its_account(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "sandbox.yaml")
    config = load_config("sandbox", config_dir=tmp_path)
    assert config.sandbox is True and config.account is not None and config.region is not None
    out = io.StringIO()
    code = cli.main(
        ["--env", "sandbox", "--dry-run"],
        config_dir=tmp_path,
        stdout=out,
        clients=lambda *a: pytest.fail("--dry-run must not create clients"),
    )
    assert code == 0 and f"must return {config.account}" in out.getvalue()


def test_an_example_file_is_not_an_env():
    assert EXAMPLE.is_file()
    assert not [env for env in available_envs() if "example" in env]
    with pytest.raises(ConfigError, match=r"unknown env 'sandbox.example'"):
        load_config("sandbox.example")


def test_a_sandbox_must_name_its_account(tmp_path):
    write_env_from_dev(tmp_path, "dev", sandbox=True)
    with pytest.raises(ConfigError) as caught:
        load_config("dev", config_dir=tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'dev.yaml'}: sandbox: a sandbox env must name its account (account: '123456789012'): "
        "the smoke run refuses credentials for any other account"
    )


def test_the_checked_in_envs_are_not_sandboxes():
    """prod is production; dev is the embedded env that synthesises anywhere and names no account."""
    for env in ("dev", "prod"):
        assert load_config(env).sandbox is False
        assert "sandbox" not in yaml.safe_load((CONFIG_DIR / f"{env}.yaml").read_text())


def test_the_local_sandbox_config_is_git_ignored():
    root = Path(CONFIG_DIR).parent
    ignored = subprocess.run(["git", "check-ignore", "-q", "config/sandbox.yaml"], cwd=root, check=False)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "check-ignore", "-q", "config/sandbox.example.yaml"], cwd=root, check=False)
    assert tracked.returncode == 1
