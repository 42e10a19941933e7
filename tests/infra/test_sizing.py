"""The report step's memory and /tmp come from its bounded input (the evaluated-user sample, not the country's
data size: Athena does the heavy parts); config that would make it exceed a Lambda limit stops synth with one
line naming the file, the country's field and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from aws_cdk.assertions import Template

from stacks import sizing
from stacks.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
REPORT = "Comparison page: current curation vs Personalize vs popularity"
PREPARE = "Athena preparation queries, assembly and counts"


def write_dev(tmp_path: Path, **country_data: dict) -> Path:
    """dev.yaml with `data:` set on the named countries."""
    data = json.loads(json.dumps(DEV))
    for entry in data["countries"]:
        if entry["code"] in country_data:
            entry["data"] = country_data[entry["code"]]
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path


def function_by_description(template: dict, description: str) -> dict:
    (found,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Description") == description
    ]
    return found


def test_report_size_grows_with_the_evaluated_users_and_stays_within_lambda_limits():
    small, default = sizing.report_step(1_000), sizing.report_step()
    assert small.ephemeral_storage_mb == sizing.LAMBDA_MIN_EPHEMERAL_MB
    assert small.memory_mb < default.memory_mb <= 2048  # the trial's size needs no 10 GB function any more
    assert default.memory_mb % 64 == 0 and default.ephemeral_storage_mb % 64 == 0
    largest = sizing.max_report_evaluated_users()
    assert sizing.report_step(largest).memory_mb <= sizing.LAMBDA_MAX_MEMORY_MB
    with pytest.raises(sizing.ExceedsLambdaLimit, match=r"10,240 MB maximum .*report_evaluated_users"):
        sizing.report_step(largest + 10_000)


def test_the_default_sample_is_the_one_the_report_sql_draws():
    from evaluation.queries import DEFAULT_MAX_EVALUATED_USERS

    assert sizing.DEFAULT_EVALUATED_USERS == DEFAULT_MAX_EVALUATED_USERS


def test_prepare_holds_at_most_two_s3_parts_whatever_the_data():
    from dataprep.s3_outputs import MIN_PART

    assert sizing.prepare_step().memory_mb * 1024**2 > 20 * MIN_PART
    assert sizing.prepare_step().ephemeral_storage_mb == sizing.LAMBDA_MIN_EPHEMERAL_MB


def test_a_sample_too_large_for_the_report_lambda_fails_config_in_one_line(tmp_path):
    write_dev(tmp_path, JP={"report_evaluated_users": 900_000})
    with pytest.raises(ConfigError) as caught:
        load_config("dev", config_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"{tmp_path / 'dev.yaml'}: countries[JP].data.report_evaluated_users: 900,000 evaluated users need"
    )
    assert "memory in the report step, above Lambda's 10,240 MB maximum" in message
    assert "lower data.report_evaluated_users" in message


def test_defaults_set_the_sample_and_a_country_overrides_it(tmp_path):
    data = json.loads(json.dumps(DEV))
    data["defaults"]["data"] = {"report_evaluated_users": 5_000}
    data["countries"][0]["data"] = {"report_evaluated_users": 50_000}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    config = load_config("dev", config_dir=tmp_path)
    assert [c.data.report_evaluated_users for c in config.countries] == [50_000, 5_000, 5_000]
    write_dev(tmp_path, KR={"report_evaluated_users": 0})
    with pytest.raises(ConfigError, match=r"countries\[KR\]\.data\.report_evaluated_users: Input should be greater"):
        load_config("dev", config_dir=tmp_path)


def test_dev_template_sizes_the_report_for_its_largest_sample(dev_app):
    config = load_config("dev")
    expected = sizing.report_step(max(c.data.report_evaluated_users for c in config.countries))
    template = dev_app.template_json("Personalize-dev-Pipeline")
    report = function_by_description(template, REPORT)
    assert report["MemorySize"] == expected.memory_mb
    assert report.get("EphemeralStorage", {"Size": 512}) == {"Size": expected.ephemeral_storage_mb}
    prepare = function_by_description(template, PREPARE)
    assert prepare["MemorySize"] == sizing.prepare_step().memory_mb
    assert "EphemeralStorage" not in prepare  # nothing on /tmp: Lambda's default 512 MB


def test_the_largest_sample_sizes_the_shared_report_function(tmp_path):
    from stacks.application import build_application

    config = load_config("dev", config_dir=write_dev(tmp_path, JP={"report_evaluated_users": 200_000}))
    application = build_application(config, nag=False)
    report = function_by_description(Template.from_stack(application.pipeline).to_json(), REPORT)
    assert report["MemorySize"] == sizing.report_step(200_000).memory_mb
    assert report["EphemeralStorage"] == {"Size": sizing.report_step(200_000).ephemeral_storage_mb}
