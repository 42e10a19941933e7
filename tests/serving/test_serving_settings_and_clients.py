"""The function's settings and the request path's clients: the campaign call never retries and never outlives
its share of the budget."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving import clients
from serving.settings import ServingSettings

ENV = {"TABLE_NAME": "personalize-dev-serving", "RESULTS_BUCKET": "personalize-dev-results"}


def test_the_campaign_client_makes_one_attempt_within_the_campaigns_share_of_the_budget():
    settings = ServingSettings.from_env({**ENV, "LATENCY_BUDGET_MS": "300", "READ_MODEL_RESERVE_MS": "60"})

    config = clients.make(settings).personalize_runtime.meta.config

    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert (config.read_timeout, config.connect_timeout) == (0.24, 0.24)


def test_a_reserve_as_large_as_the_budget_is_refused_in_one_line():
    with pytest.raises(ValueError, match="READ_MODEL_RESERVE_MS must be below LATENCY_BUDGET_MS"):
        ServingSettings.from_env({**ENV, "LATENCY_BUDGET_MS": "100", "READ_MODEL_RESERVE_MS": "100"})


def test_the_table_is_required():
    with pytest.raises(ValidationError, match="TABLE_NAME"):
        ServingSettings.from_env({"RESULTS_BUCKET": "personalize-dev-results"})
