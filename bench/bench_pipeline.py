"""State transitions and Lambda invocations of a full-day run whose training takes 26 hours (goal: <= 250
transitions). Executes the synthesised definition exactly as the pipeline tests do (testkit/pipeline_harness.py).

Also the wall time of one such test-sized run (a fresh moto account and harness, a full Sunday run), the unit
most of the test suite's time is spent in (the suite's goal: 2 minutes on 2 cores)."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
import warnings
from pathlib import Path

from _pytest.monkeypatch import MonkeyPatch
from moto import mock_aws

from testkit.botocore_models import share_loaded_models
from testkit.pipeline_harness import MOTO_CONFIG, PipelineHarness
from testkit.synth import synthesise


def figures():
    share_loaded_models()  # as tests/conftest.py does: one botocore model cache for every moto session
    # moto's engine logs, at ERROR, every JSONPath it evaluates that selects nothing, also where the definition
    # expects that (a failure field a Choice looks for): noise on `make bench`'s stderr, not a failure.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
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
        seconds = [_one_test_run(app) for _ in range(6)][1:]  # the first run also warms imports and clients
    yield "pipeline_transitions_26h", execution.transitions, "transitions"
    yield "pipeline_lambda_invocations_26h", execution.lambda_invocations, "invocations"
    # the fastest of five: on a shared machine one run varies twofold with the others' load
    yield "pipeline_harness_seconds_per_run", min(seconds), "s"


def _one_test_run(app) -> float:
    """What a pipeline test does: a new moto account, a harness, one full run; its wall time."""
    patch = MonkeyPatch()
    try:
        with mock_aws(config=MOTO_CONFIG), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            execution = PipelineHarness(app, patch).run("KR", run_date="2026-11-15")
            elapsed = time.perf_counter() - started
            if execution.status != "SUCCEEDED":
                raise RuntimeError(f"bench run did not succeed: {execution.error} {execution.cause}")
            return elapsed
    finally:
        patch.undo()
