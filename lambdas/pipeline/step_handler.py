"""The Lambda wrapper every step module makes its `handler` with: powertools' logger, metrics and tracer in one
fixed order, the run state validated (pydantic), the logs tagged with country / run date / step.

Its own module so that the step modules can import it and `pipeline.handlers` can import them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.observability import logger, metrics, tracer
from pipeline.model import RunState
from pipeline.step_names import StepName

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def entry_point(function: Handler) -> Handler:
    """Powertools around a Lambda entry point: fresh log keys per invocation, metrics flushed, traced."""
    return logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(tracer.capture_lambda_handler(function)))


def step_handler(name: StepName, run_step: Callable[[RunState], RunState]) -> Handler:
    """The entry point of a step that takes the run state and returns it updated (all but begin and finish)."""

    @entry_point
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        state = RunState.model_validate(event)
        logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step=name.key)
        state = run_step(state)
        current = state.steps.get(name.key)
        logger.info("step polled", extra={"status": current.status.value if current else None})
        return state.dump()

    return handler
