"""Lambda entry points of the pipeline: one per step, each a thin powertools wrapper over its step module.

Every step handler takes the run state the state machine passes, validates it (pydantic), tags the logs
with country / run date / step, and returns the updated state. The step modules hold the logic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients, clock
from common.observability import logger, metrics, tracer
from pipeline.environment import environment
from pipeline.model import RunState
from pipeline.steps import batch, begin, failure, finish, gating, imports, prepare, promotion, training

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def step_handler(step: str, run_step: Callable[[RunState], RunState]) -> Handler:
    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        state = RunState.model_validate(event)
        logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step=step)
        state = run_step(state)
        current = state.steps.get(step)
        logger.info("step polled", extra={"status": current.status.value if current else None})
        return state.dump()

    return handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def begin_run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = begin.begin(event["input"], event["execution_arn"])
    logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step="begin")
    logger.info("run admission", extra={"admission": state.run.admission.value, "mode": state.run.mode.value})
    return state.dump()


prepare_data = step_handler("prepare", prepare.prepare)
import_data = step_handler("import", imports.run_imports)
train = step_handler("train", training.train)
gate = step_handler("gate", gating.evaluate)
promote = step_handler("promote", promotion.promote)
batch_inference = step_handler("batch", batch.run_batch)
# The report step's handler lives in pipeline.report_handler: it needs numpy/scipy (its container image),
# which the other steps' zip packages do not have.


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def finish_run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = finish.finish(RunState.model_validate(event))
    logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step="finish")
    if state.outcome is None:
        raise RuntimeError("finish returned a run state without an outcome: the run's metric cannot be counted")
    metrics.add_dimension(name="country", value=state.settings.country)
    metrics.add_metric(name=f"Runs{state.outcome.status.title()}", unit=MetricUnit.Count, value=1)
    return state.dump()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Target of the EventBridge rule on this state machine's FAILED / TIMED_OUT / ABORTED executions: each event
    is recorded, notified and counted once (pipeline.steps.failure.record_once)."""
    settings = environment()
    topic_arn = settings.topic_arn
    if not topic_arn:
        raise RuntimeError("pipeline function misconfigured: environment variable(s) TOPIC_ARN")
    logger.append_keys(step="failure", event_id=event.get("id"))

    def announce(message: dict[str, Any]) -> None:
        logger.warning("run did not finish", extra={"subject": message["subject"]})
        clients.sns().publish(TopicArn=topic_arn, Subject=message["subject"], Message=message["message"])
        clients.events().put_events(
            Entries=[
                {
                    "Source": message["source"],
                    "DetailType": message["detail_type"],
                    "Detail": message["detail"],
                    "EventBusName": settings.event_bus_name,
                }
            ]
        )
        metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)

    deadline = clock.now() + timedelta(milliseconds=context.get_remaining_time_in_millis())
    result = failure.record_once(event, settings.env_name, deadline=deadline, announce=announce)
    logger.info("status change handled", extra={"outcome": result["outcome"], "reason": result.get("reason")})
    return result
