"""Shared fixtures. The dev app is synthesised once per test session (per xdist worker), never per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from testkit.botocore_models import share_loaded_models
from testkit.synth import SynthesisedApp, synthesise, write_env_from_dev

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# No test may reach AWS: fake credentials and a fixed region for every client created in tests.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "PersonalizeRecommendations",
    "POWERTOOLS_SERVICE_NAME": "tests",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
share_loaded_models()


def cfn_lint(template_dir: Path):
    """cfn-lint on every template of a cloud assembly; W3005 (CDK's redundant DependsOn) is ignored."""
    import subprocess
    import sys

    templates = sorted(str(p) for p in Path(template_dir).glob("*.template.json"))
    assert templates, f"no templates in {template_dir}"
    cfn_lint_bin = str(Path(sys.executable).parent / "cfn-lint")
    return subprocess.run(
        [cfn_lint_bin, "--format", "parseable", "-i", "W3005", "--", *templates],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def dev_app(tmp_path_factory) -> SynthesisedApp:
    return synthesise("dev", tmp_path_factory.mktemp("cdk.out"))


# A second, concrete env: account + region (partition literals in ARNs), more countries than the default
# quota, and a name that starts like dev's, in the same account and region as the grants' overlap test assumes.
PROD_LIKE_ENV = "deveu"
PROD_LIKE_ACCOUNT, PROD_LIKE_REGION = "000000000000", "ap-northeast-2"


def write_prod_like_env(config_dir: Path) -> Path:
    from stacks.config import load_config

    dev_countries = load_config("dev").countries
    return write_env_from_dev(
        config_dir,
        PROD_LIKE_ENV,
        account=PROD_LIKE_ACCOUNT,
        region=PROD_LIKE_REGION,
        dataset_group_quota=6,
        countries=[
            *({"code": c.code, "time_zone": c.time_zone, "locales": list(c.locales)} for c in dev_countries),
            {"code": "GB", "time_zone": "Europe/London", "locales": ["en_GB"]},
            {"code": "DE", "time_zone": "Europe/Berlin", "locales": ["de_DE"], "recipes": ["similar-items"]},
            {"code": "BR", "time_zone": "America/Sao_Paulo", "locales": ["pt_BR"]},
        ],
    )


@pytest.fixture(scope="session")
def prod_like_app(tmp_path_factory) -> SynthesisedApp:
    """Synthesised once per session (per xdist worker) for every test that needs a deployable env."""
    from stacks.config import load_config

    folder = tmp_path_factory.mktemp("prod-like")
    write_prod_like_env(folder)
    return synthesise(config=load_config(PROD_LIKE_ENV, config_dir=folder), outdir=folder / "out")


def pytest_itemcollected(item):
    """Under `--dist loadgroup` each test goes to whichever worker is free, so a module-scoped fixture (an
    executed pipeline, a synthesised stack) would be built again on every worker that runs one of its tests:
    the tests of a module that share such a fixture form one xdist group. Explicit groups stay as they are."""
    if item.get_closest_marker("xdist_group"):
        return
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info else ()
    if any(defs and defs[-1].scope in ("module", "class", "package") for defs in definitions):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """pytest-xdist 3.8 sends a group to one worker by suffixing the test's nodeid with `@<group>`, but it does
    so by setting `item._nodeid`, which pytest 9 no longer reads (the nodeid derives from `item._id`): without
    this, no xdist_group (prod_like included) was honoured. Done here the way pytest 9 builds nodeids."""
    if not getattr(config.option, "loadgroup", False):  # set by pytest-xdist for --dist loadgroup
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """An xdist worker has sent its last report by now (pytest_sessionfinish): it ends here instead of running
    its exit handlers and interpreter teardown, which the run waits for and which took ~4 s (the jsii kernel
    stopping its node process, freeing every moto backend). The node process ends when its stdin closes."""
    if hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
