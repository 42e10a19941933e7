"""Batch inference with the promoted versions; output under results/<country>/<run_date>/<recipe>/."""

from __future__ import annotations

from datetime import timedelta

from common import clients
from common.personalize_resources import resource_name
from common.recipes import BATCH_CAPABLE, SHORT_NAMES, Recipe
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Mode, RunState, StepStatus

STEP = "batch"
NUM_RESULTS = 25


def batch_inputs(state: RunState) -> tuple[dict[Recipe, str], list[str]]:
    """{recipe: input uri}; user-personalization for changed users (all users on the full day or when
    configured), similar-items for all items, personalized-ranking for the changed users' candidates."""
    counts = state.counts or {}
    everyone = state.run.mode is Mode.FULL or state.settings.batch_mode == "all-users"
    wanted = {
        Recipe.USER_PERSONALIZATION: ("all_users" if everyone else "changed_users"),
        Recipe.SIMILAR_ITEMS: "items_batch",
        Recipe.PERSONALIZED_RANKING: "ranking_input",
    }
    plan, notes = {}, []
    for recipe in state.settings.recipes:
        if recipe not in BATCH_CAPABLE:
            continue
        if recipe.value not in state.promoted:
            notes.append(f"{recipe.value}: no promoted version yet")
            continue
        output = wanted[recipe]
        if output in ("changed_users", "ranking_input") and counts.get("changed_users", 1) == 0:
            notes.append(f"{recipe.value}: no user changed since the last run")
            continue
        if output not in state.prepared:
            notes.append(f"{recipe.value}: no prepared {output} input")
            continue
        plan[recipe] = state.prepared[output]
    return plan, notes


def run_batch(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    plan, notes = batch_inputs(state)
    if not plan:
        finish_step(step, StepStatus.SKIPPED, note="; ".join(notes))
        return state
    check_timeout(state, STEP, timedelta(hours=settings.timeouts.batch_hours))
    client = clients.personalize()
    for recipe, input_uri in plan.items():
        output_uri = f"s3://{settings.results_bucket}/{settings.country}/{state.run.run_date}/{recipe.value}/"
        step.jobs[recipe.value] = ensure_job(
            client,
            state,
            step=STEP,
            key=recipe.value,
            kind="batch-inference-job",
            name=resource_name(
                settings.name_prefix, settings.country, state.run.run_date, f"batch-{SHORT_NAMES[recipe]}"
            ),
            create_args={
                "solutionVersionArn": state.promoted[recipe.value],
                "jobInput": {"s3DataSource": {"path": input_uri}},
                "jobOutput": {"s3DataDestination": {"path": output_uri}},
                "roleArn": settings.personalize_role_arn,
                "numResults": NUM_RESULTS,
            },
        )
        step.jobs[recipe.value].detail["output"] = output_uri
    if all_succeeded(step.jobs):
        finish_step(step, note="; ".join(notes))
    else:
        next_poll(step, first_wait=300, max_wait=1800)
    return state
