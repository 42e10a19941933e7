"""The report step's memory and /tmp come from the countries' prepared data size; config that would make it
exceed a Lambda limit stops synth with one line naming the file, the country's field and what to do."""

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


def test_report_size_grows_with_the_data_and_stays_within_lambda_limits():
    small, trial = sizing.report_step(0.05), sizing.report_step(1.5)
    assert small.ephemeral_storage_mb == sizing.LAMBDA_MIN_EPHEMERAL_MB
    assert small.memory_mb < trial.memory_mb <= sizing.LAMBDA_MAX_MEMORY_MB
    # /tmp holds the CSVs and the batch output: more than the data itself
    assert 1.5 * 1024 < trial.ephemeral_storage_mb <= sizing.LAMBDA_MAX_EPHEMERAL_MB
    assert trial.memory_mb % 64 == 0 and trial.ephemeral_storage_mb % 64 == 0
    largest = sizing.max_report_prepared_gb()
    assert sizing.report_step(largest).memory_mb <= sizing.LAMBDA_MAX_MEMORY_MB
    with pytest.raises(sizing.ExceedsLambdaLimit, match=r"10,240 MB maximum .*Fargate"):
        sizing.report_step(largest + 0.01)


def test_prepare_holds_at_most_two_s3_parts_whatever_the_data():
    from dataprep.s3_outputs import MIN_PART

    assert sizing.prepare_step().memory_mb * 1024**2 > 20 * MIN_PART
    assert sizing.prepare_step().ephemeral_storage_mb == sizing.LAMBDA_MIN_EPHEMERAL_MB


def test_a_country_too_large_for_the_report_lambda_fails_config_in_one_line(tmp_path):
    write_dev(tmp_path, JP={"expected_prepared_gb": 4})
    with pytest.raises(ConfigError) as caught:
        load_config("dev", config_dir=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'dev.yaml'}: countries[JP].data.expected_prepared_gb: 4 GB of prepared")
    assert "memory in the report step, above Lambda's 10,240 MB maximum" in message
    assert "move the report step to Fargate (README, Known limits)" in message


def test_defaults_set_the_size_and_a_country_overrides_it(tmp_path):
    data = json.loads(json.dumps(DEV))
    data["defaults"]["data"] = {"expected_prepared_gb": 0.3}
    data["countries"][0]["data"] = {"expected_prepared_gb": 1.2}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    config = load_config("dev", config_dir=tmp_path)
    assert [c.data.expected_prepared_gb for c in config.countries] == [1.2, 0.3, 0.3]
    write_dev(tmp_path, KR={"expected_prepared_gb": 0})
    with pytest.raises(ConfigError, match=r"countries\[KR\]\.data\.expected_prepared_gb: Input should be greater"):
        load_config("dev", config_dir=tmp_path)


def test_dev_template_sizes_the_report_for_its_largest_country(dev_app):
    config = load_config("dev")
    expected = sizing.report_step(max(c.data.expected_prepared_gb for c in config.countries))
    template = dev_app.template_json("Personalize-dev-Pipeline")
    report = function_by_description(template, REPORT)
    assert report["MemorySize"] == expected.memory_mb
    assert report["EphemeralStorage"] == {"Size": expected.ephemeral_storage_mb}
    prepare = function_by_description(template, PREPARE)
    assert prepare["MemorySize"] == sizing.prepare_step().memory_mb
    assert "EphemeralStorage" not in prepare  # nothing on /tmp: Lambda's default 512 MB


def test_the_largest_country_sizes_the_shared_report_function(tmp_path):
    from stacks.application import build_application

    config = load_config("dev", config_dir=write_dev(tmp_path, JP={"expected_prepared_gb": 1.5}))
    application = build_application(config, nag=False)
    report = function_by_description(Template.from_stack(application.pipeline).to_json(), REPORT)
    assert report["MemorySize"] == sizing.report_step(1.5).memory_mb
    assert report["EphemeralStorage"] == {"Size": sizing.report_step(1.5).ephemeral_storage_mb}
