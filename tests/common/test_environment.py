"""One typed model per function environment: the stack renders the names from it, the function parses it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.environment import parse, render, variable_names
from ingest.settings import IngestSettings
from pipeline.environment import PipelineEnvironment, environment


def test_render_uses_the_models_variable_names_and_leaves_none_unset():
    rendered = render(PipelineEnvironment, ledger_table="runs", env_name="dev", topic_arn=None)
    assert rendered == {"LEDGER_TABLE": "runs", "ENV_NAME": "dev"}
    assert set(variable_names(IngestSettings).values()) == {
        "TRACKING_IDS",
        "DLQ_URL",
        "DEAD_LETTER_BUCKET",
        "DELIVERY_CONCURRENCY",
        "PUT_EVENTS_RATE_PER_S",
    }


def test_render_refuses_a_misspelt_or_missing_field_at_synth():
    with pytest.raises(TypeError, match="no field"):
        render(PipelineEnvironment, ledger_table="runs", env_name="dev", topic="x")
    with pytest.raises(TypeError, match=r"needs \['env_name'\]"):
        render(PipelineEnvironment, ledger_table="runs")


def test_what_the_stack_renders_the_function_parses():
    rendered = render(IngestSettings, tracking_ids='{"KR": "t"}', dlq_url="https://sqs/q", delivery_concurrency=8)
    settings = IngestSettings.from_env({**rendered, "UNRELATED": "ignored"})
    assert (settings.tracking_ids, settings.delivery_concurrency) == ({"KR": "t"}, 8)
    assert parse(PipelineEnvironment, {"LEDGER_TABLE": "t", "ENV_NAME": "dev"}).event_bus_name == "default"


def test_the_pipeline_functions_name_a_missing_variable(monkeypatch):
    monkeypatch.delenv("ENV_NAME", raising=False)
    monkeypatch.setenv("LEDGER_TABLE", "runs")
    with pytest.raises(RuntimeError, match="environment variable\\(s\\) ENV_NAME"):
        environment()
    with pytest.raises(ValidationError, match="DLQ_URL"):
        IngestSettings.from_env({"TRACKING_IDS": '{"KR": "t"}'})
