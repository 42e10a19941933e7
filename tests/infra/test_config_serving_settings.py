"""The `serving:` block of the env config: defaults, and one-line errors naming the file and the field."""

from __future__ import annotations

import pytest

from serving.read_model import DEFAULT_TTL_DAYS
from serving.settings import ServingSettings
from stacks.config import load_config
from tests.infra.test_config import dev_with, error_for, write_env


def test_every_env_serves_with_the_read_model_s_default_ttl_and_a_campaign_call_inside_the_budget():
    for env in ("dev", "prod"):
        serving = load_config(env).serving
        assert serving.ttl_days == DEFAULT_TTL_DAYS
        assert 0 < serving.campaign_timeout_ms < serving.latency_budget_ms
        assert serving.throttling_burst >= 1 and serving.throttling_rate_per_s > 0


def test_a_serving_block_overrides_the_defaults(tmp_path):
    block = {
        "ttl_days": 7,
        "throttling_rate_per_s": 50,
        "throttling_burst": 80,
        "latency_budget_ms": 500,
        "campaign_timeout_ms": 400,
    }
    write_env(tmp_path, "dev", dev_with(serving=block))
    serving = load_config("dev", config_dir=tmp_path).serving
    assert serving.model_dump() == block
    environment = serving.function_environment(table_name="t-read-model", results_bucket="b-results")
    function = ServingSettings.from_env(environment)
    assert function.latency_budget_ms == 500 and function.campaign_budget_s == 0.4
    assert function.table_name == "t-read-model" and function.results_bucket == "b-results"


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        ({"ttl_days": 0}, "serving.ttl_days", "greater than or equal to 1"),
        ({"throttling_rate_per_s": 0}, "serving.throttling_rate_per_s", "greater than 0"),
        ({"throttling_burst": 0}, "serving.throttling_burst", "greater than or equal to 1"),
        # the function's own settings model sets these bounds (serving.settings)
        (
            {"latency_budget_ms": 30_000, "campaign_timeout_ms": 29_500},
            "serving: latency_budget_ms",
            "less than or equal to 10000",
        ),
        (
            {"latency_budget_ms": 3_000, "campaign_timeout_ms": 1_000},
            "serving: latency_budget_ms - campaign_timeout_ms (2000 ms",
            "less than or equal to 1000",
        ),
        ({"latency_budget_ms": 300, "campaign_timeout_ms": 300}, "serving", "campaign_timeout_ms (300 ms) must"),
        ({"ttl": 3}, "serving.ttl", "Extra inputs are not permitted"),
    ],
)
def test_bad_serving_settings_name_the_field(tmp_path, block, field, words):
    message = error_for(tmp_path, dev_with(serving=block))
    assert f"dev.yaml: {field}" in message and words in message, message
