"""Each test gets a fresh moto account with the synthesised dev pipeline, its schedules and the redrive fake."""

from __future__ import annotations

import pytest
from moto import mock_aws

from testkit.pipeline_harness import MOTO_CONFIG, PipelineHarness


@pytest.fixture
def world(dev_app, monkeypatch):
    from replay_fakes import ReplayWorld

    with mock_aws(config=MOTO_CONFIG):
        yield ReplayWorld(PipelineHarness(dev_app, monkeypatch), monkeypatch)
