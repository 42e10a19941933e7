"""Promote the approved versions: point the real-time campaign at them (create it on the first run) and
wait until the update is ACTIVE; then record them as the versions batch jobs and the next gate use."""

from __future__ import annotations

from datetime import timedelta

from common import clients
from common.personalize_resources import Phase, current, ensure_campaign_serves, stable_name
from common.recipes import CAMPAIGN_RECIPES, SHORT_NAMES, Recipe
from pipeline import ledger
from pipeline.errors import PersonalizeJobFailed
from pipeline.jobs import all_succeeded, check_timeout, finish_step, next_poll, start_step
from pipeline.model import Job, RunState, StepStatus

STEP = "promote"


def campaign_name(state: RunState, recipe: Recipe) -> str:
    return stable_name(state.settings.name_prefix, state.settings.country, f"{SHORT_NAMES[recipe]}-campaign")


def _campaign(client, state: RunState, recipe: Recipe, version_arn: str, tracked: Job | None) -> Job:
    settings = state.settings
    if tracked and tracked.arn:
        status = current(client, "campaign", tracked.arn, target_solution_version_arn=version_arn).status
        marker = f"{tracked.arn}#{version_arn}"
        if status.phase is Phase.FAILED:
            if not ledger.was_reported(settings.country, state.run.run_date, marker):
                ledger.mark_reported(settings.country, state.run.run_date, marker)
                raise PersonalizeJobFailed(
                    STEP, status.failure_reason or "campaign update failed", job=recipe.value, arn=tracked.arn
                )
        else:
            return tracked.model_copy(update={"status": status.phase.value})
    result = ensure_campaign_serves(
        client,
        name=campaign_name(state, recipe),
        solution_version_arn=version_arn,
        create_args={"minProvisionedTPS": settings.campaign_min_tps},
    )
    if result.phase is Phase.FAILED:
        marker = f"{result.arn}#{version_arn}"
        ledger.mark_reported(settings.country, state.run.run_date, marker)
        raise PersonalizeJobFailed(STEP, result.failure_reason or "campaign failed", job=recipe.value, arn=result.arn)
    return Job(
        kind="campaign",
        name=result.name,
        arn=result.arn,
        status=result.phase.value,
        created=result.created,
        detail={"solution_version_arn": version_arn},
    )


def promote(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    approved = [d for d in state.gate if d.approved]
    check_timeout(state, STEP, timedelta(hours=settings.timeouts.campaign_hours))
    client = clients.personalize()
    if settings.campaign_enabled:
        for decision in approved:
            if decision.recipe in CAMPAIGN_RECIPES:
                step.jobs[decision.recipe.value] = _campaign(
                    client,
                    state,
                    decision.recipe,
                    decision.solution_version_arn,
                    step.jobs.get(decision.recipe.value),
                )
    if not all_succeeded(step.jobs):
        next_poll(step, first_wait=60, max_wait=600)
        return state
    for decision in approved:
        ledger.set_promoted(
            settings.country,
            decision.recipe.value,
            decision.solution_version_arn,
            decision.new_metrics,
            state.run.run_date,
        )
    # Batch jobs use the promoted version of every recipe: today's if approved, the previous one otherwise.
    for recipe in settings.recipes:
        record = ledger.promoted(settings.country, recipe.value)
        if record:
            state.promoted[recipe.value] = record["solution_version_arn"]
    note = "" if approved else "no version approved"
    finish_step(step, StepStatus.SUCCEEDED if approved or not state.gate else StepStatus.SKIPPED, note=note)
    return state
