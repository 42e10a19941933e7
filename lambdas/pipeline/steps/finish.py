"""Close a run that reached the end of the state machine: ledger record, then the notification payload
the state machine publishes to SNS and EventBridge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clock
from common.observability import logger, metrics
from pipeline import ledger, step_names
from pipeline.cost_drivers import drivers_of
from pipeline.model import Mode, Outcome, RunState
from pipeline.notify import notification
from pipeline.pricing import ESTIMATE_LABEL, estimate, monthly_usd
from pipeline.step_handler import entry_point


def outcome_of(state: RunState) -> Outcome:
    if state.guard and not state.guard.ok:
        return Outcome(status="SKIPPED", reason=state.guard.reason)
    rejected = [d for d in state.gate if not d.approved]
    if rejected:
        why = "; ".join(f"{d.recipe.value}: {', '.join(d.reasons)}" for d in rejected)
        return Outcome(status="REJECTED", reason=f"gate kept the promoted version(s): {why}")
    return Outcome(status="SUCCEEDED")


# How far back the month's estimate looks for the latest run of the other mode (a FULL day comes once a week).
MONTHLY_LOOKBACK = timedelta(days=14)


def cost(state: RunState) -> dict[str, Any]:
    """The run's cost drivers and its estimated cost (pipeline.pricing), and an estimated month for the country
    from this run and the latest run of the other mode (FULL / UPDATE) with a cost; no month without one."""
    drivers = drivers_of(state)
    run_estimate = estimate(drivers.totals(), state.settings.pricing)
    day_usd = {state.run.mode.value: (str(state.run.run_date), run_estimate["total_usd"])}
    other = Mode.UPDATE if state.run.mode is Mode.FULL else Mode.FULL
    since = state.run.run_date - MONTHLY_LOOKBACK
    until = state.run.run_date - timedelta(days=1)
    for record in ledger.runs(state.settings.country, since=since, until=until):
        earlier = (record.get("cost") or {}).get("estimate") or {}
        if record.get("mode") == other.value and earlier.get("total_usd") is not None:
            day_usd[other.value] = (record["run_date"], earlier["total_usd"])
            break
    month = None
    if len(day_usd) == 2:
        month = {
            "usd": monthly_usd(day_usd[Mode.FULL.value][1], day_usd[Mode.UPDATE.value][1]),
            "from_runs": {mode: run_date for mode, (run_date, _) in day_usd.items()},
        }
    return {"label": ESTIMATE_LABEL, "drivers": drivers.model_dump(), "estimate": run_estimate, "month": month}


def run_record(state: RunState, status: str, reason: str = "") -> dict[str, Any]:
    finished = clock.now()
    steps = {
        name: {
            "status": step.status.value,
            "started_at": step.started_at.isoformat(),
            "finished_at": step.finished_at.isoformat() if step.finished_at else None,
            "seconds": round(((step.finished_at or finished) - step.started_at).total_seconds()),
            "polls": step.polls,
            "note": step.note,
            "jobs": {key: {"arn": job.arn, "name": job.name, "status": job.status} for key, job in step.jobs.items()},
        }
        for name, step in state.steps.items()
    }
    return {
        "env": state.settings.env,
        "country": state.settings.country,
        "run_date": str(state.run.run_date),
        "status": status,
        "reason": reason,
        "mode": state.run.mode.value,
        "execution_arn": state.run.execution_arn,
        "started_at": state.run.started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "seconds": round((finished - state.run.started_at).total_seconds()),
        "steps": steps,
        "counts": state.counts or {},
        # Rows read, kept and dropped by reason per table, files not fully read (dataprep.quality.DataQuality).
        "data_quality": state.data_quality or {},
        # Per recipe: FULL / UPDATE / NONE, why (docs/personalize-behaviour.md item 3) and the billed trainingHours.
        "training": {recipe: choice.model_dump() for recipe, choice in state.training.items()},
        "metrics": {d.recipe.value: d.new_metrics for d in state.gate},
        # The published cold-start fallback: which one the app uses first, where, and its cold-start figure.
        "cold_start": state.cold_start or {},
        "gate": [d.model_dump(mode="json") for d in state.gate],
        "promoted": state.promoted,
        "report_url": state.prepared.get("report_url"),
        # The comparison page's decision in one sentence (evaluation.decision.Decision.text).
        "report_decision": state.prepared.get("report_decision"),
        # A run that succeeds after a redrive or rerun no longer carries the earlier failure as its own;
        # `finish` keeps it as `earlier_failure` for the operators.
        "failure": None,
        # Cost drivers and the estimated cost of the run and of a month (an estimate: pipeline.pricing).
        "cost": cost(state),
    }


def finish(state: RunState) -> RunState:
    state.outcome = outcome_of(state)
    record = run_record(state, state.outcome.status, state.outcome.reason)
    previous = ledger.get_run(state.settings.country, state.run.run_date) or {}
    if previous.get("failure"):
        record["earlier_failure"] = previous["failure"]
    ledger.write_run(state.settings.country, state.run.run_date, record, execution_arn=state.run.execution_arn)
    state.notification = notification(record)
    return state


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Finish, then count the run by its outcome (the Runs<Outcome> metric, dimension country)."""
    state = finish(RunState.model_validate(event))
    logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step=step_names.FINISH.key)
    if state.outcome is None:
        raise RuntimeError("finish returned a run state without an outcome: the run's metric cannot be counted")
    metrics.add_dimension(name="country", value=state.settings.country)
    metrics.add_metric(name=f"Runs{state.outcome.status.title()}", unit=MetricUnit.Count, value=1)
    return state.dump()
