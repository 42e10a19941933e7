"""State transitions and Lambda invocations of a full-day run whose training takes 26 hours (goal: <= 250
transitions). Executes the synthesised definition exactly as the pipeline tests do (testkit/pipeline_harness.py)."""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

from _pytest.monkeypatch import MonkeyPatch
from moto import mock_aws

from testkit.pipeline_harness import MOTO_CONFIG, PipelineHarness
from testkit.synth import synthesise


def figures():
    with tempfile.TemporaryDirectory() as tmp:
        app = synthesise("dev", Path(tmp) / "cdk.out")
        patch = MonkeyPatch()
        # The handlers' structured logs and metrics go to stdout; keep `make bench` output to the figures.
        try:
            with (
                mock_aws(config=MOTO_CONFIG),
                contextlib.redirect_stdout(io.StringIO()),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                harness = PipelineHarness(app, patch)
                harness.personalize.set_duration("solution-version", 26 * 3600)
                execution = harness.run("KR", run_date="2026-11-15")
                if execution.status != "SUCCEEDED":
                    raise RuntimeError(f"bench run did not succeed: {execution.error} {execution.cause}")
        finally:
            patch.undo()
    yield "pipeline_transitions_26h", execution.transitions, "transitions"
    yield "pipeline_lambda_invocations_26h", execution.lambda_invocations, "invocations"
