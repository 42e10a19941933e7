"""Batch inference with the promoted versions; output under results/<country>/<run_date>/<recipe>/."""

from __future__ import annotations

from datetime import timedelta

from common import clients
from common.personalize_resources import resource_name
from common.prepared_outputs import Output
from common.recipes import Recipe, spec
from pipeline import cost_drivers, filters, step_names
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Mode, RunState, StepStatus
from pipeline.step_handler import step_handler

STEP = step_names.BATCH.key
NUM_RESULTS = 25
# Prepared outputs that hold only the users whose interactions changed since the last run.
CHANGED_USERS_INPUTS = (Output.CHANGED_USERS, Output.RANKING_INPUT)


def batch_inputs(state: RunState) -> tuple[dict[Recipe, str], list[str]]:
    """{recipe: input uri}: each recipe's prepared input from the recipe table (`spec(recipe).batch_input`: the
    full-day input on a full day or when configured for all users, the other-days input otherwise)."""
    counts = state.counts or {}
    everyone = state.run.mode is Mode.FULL or state.settings.batch_mode == "all-users"
    plan, notes = {}, []
    for recipe in state.settings.recipes:
        recipe_spec = spec(recipe)
        if not recipe_spec.batch or recipe_spec.batch_input is None:
            continue
        if recipe.value not in state.promoted:
            notes.append(f"{recipe.value}: no promoted version yet")
            continue
        full_day_input, other_days_input = recipe_spec.batch_input
        output = full_day_input if everyone else other_days_input
        if output in CHANGED_USERS_INPUTS and counts.get("changed_users", 1) == 0:
            notes.append(f"{recipe.value}: no user changed since the last run")
            continue
        if output not in state.prepared:
            notes.append(f"{recipe.value}: no prepared {output} input")
            continue
        plan[recipe] = state.prepared[output]
    return plan, notes


def job_args(state: RunState, recipe: Recipe, input_uri: str, output_uri: str) -> dict:
    """CreateBatchInferenceJob parameters: exploration where the recipe takes it, the recipe's filter if any."""
    settings = state.settings
    args: dict = {
        "solutionVersionArn": state.promoted[recipe.value],
        "jobInput": {"s3DataSource": {"path": input_uri}},
        "jobOutput": {"s3DataDestination": {"path": output_uri}},
        "roleArn": settings.personalize_role_arn,
        "numResults": NUM_RESULTS,
    }
    if spec(recipe).exploration:
        args["batchInferenceJobConfig"] = {"itemExplorationConfig": settings.exploration.item_exploration_config()}
    key = filters.batch_filter_key(recipe, filters.definitions(settings))
    if key is not None:
        if key not in state.filters:
            # Promote makes every configured filter ACTIVE before Batch: a missing one is a broken run state.
            raise RuntimeError(f"filter {key} for {recipe.value} is not ACTIVE (promote step did not record it)")
        args["filterArn"] = state.filters[key]
    return args


def batch(state: RunState) -> RunState:
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
                settings.name_prefix, settings.country, state.run.run_date, f"batch-{spec(recipe).short_name}"
            ),
            create_args=job_args(state, recipe, input_uri, output_uri),
        )
        step.jobs[recipe.value].detail["output"] = output_uri
        step.jobs[recipe.value].detail.update(cost_drivers.scored_by(state, input_uri))
    if all_succeeded(step.jobs):
        finish_step(step, note="; ".join(notes))
    else:
        next_poll(step, step_names.BATCH)
    return state


handler = step_handler(step_names.BATCH, batch)
