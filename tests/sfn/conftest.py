"""Each test gets a fresh moto account and a harness around the session's synthesised dev app."""

from __future__ import annotations

import pytest
from moto import mock_aws

from testkit.pipeline_harness import MOTO_CONFIG, PipelineHarness


@pytest.fixture
def harness(dev_app, monkeypatch):
    with mock_aws(config=MOTO_CONFIG):
        yield PipelineHarness(dev_app, monkeypatch)
