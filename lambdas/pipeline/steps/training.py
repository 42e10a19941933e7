"""Train each configured solution: describe-or-create the solution (auto-training as configured), then a
solution version named for the run, FULL on the full day, UPDATE where the recipe supports it otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from botocore.exceptions import ClientError

from common import clients
from common.aws_errors import is_in_use, is_not_found, transient_errors_named
from common.personalize_resources import Phase, ensure, resource_name, stable_name
from common.recipes import RECIPE_ARNS, SHORT_NAMES, UPDATE_CAPABLE, Recipe
from pipeline import ledger
from pipeline.errors import PersonalizeJobFailed
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Job, Mode, RunSettings, RunState, StepStatus

STEP = "train"


def training_plan(settings: RunSettings, mode: Mode) -> dict[Recipe, str]:
    """{recipe: trainingMode} for this run. Nothing on a non-full day where the policy says skip."""
    if mode is Mode.FULL:
        return {recipe: "FULL" for recipe in settings.recipes}
    if settings.other_days == "skip":
        return {}
    plan = {}
    for recipe in settings.recipes:
        if recipe not in UPDATE_CAPABLE:
            continue
        # UPDATE refines an existing model; a recipe that never had a promoted version needs FULL first.
        plan[recipe] = "UPDATE" if ledger.promoted(settings.country, recipe.value) else "FULL"
    return plan


def solution_create_args(settings: RunSettings, recipe: Recipe) -> dict:
    """performAutoTraining is always explicit: the API's default (true) would train weekly behind the gate."""
    return {
        "recipeArn": RECIPE_ARNS[recipe],
        "datasetGroupArn": settings.dataset_group_arn,
        "performAutoTraining": settings.auto_training,
    }


def _ensure_solution(client, settings: RunSettings, recipe: Recipe) -> tuple[str, Phase, str | None]:
    result = ensure(
        client,
        "solution",
        name=stable_name(settings.name_prefix, settings.country, SHORT_NAMES[recipe]),
        create_args=solution_create_args(settings, recipe),
    )
    if (
        not result.created
        and result.phase is Phase.SUCCEEDED
        and result.description.get("performAutoTraining", True) != settings.auto_training
    ):
        # A solution made by hand or before this setting changed: bring it in line with the config.
        with transient_errors_named():
            client.update_solution(solutionArn=result.arn, performAutoTraining=settings.auto_training)
    return result.arn, result.phase, result.failure_reason


def _stopper(client):
    """Stop a timed-out training (billed until it ends). Solutions themselves cannot be stopped, and a version
    that finished or stopped meanwhile refuses the call: neither counts as stopped."""

    def stop(job: Job) -> bool:
        if job.kind != "solution-version" or not job.arn:
            return False
        try:
            with transient_errors_named():
                client.stop_solution_version_creation(solutionVersionArn=job.arn)
        except ClientError as error:
            if is_in_use(error) or is_not_found(error):
                return False
            raise
        return True

    return stop


def train(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    plan = training_plan(settings, state.run.mode)
    if not plan:
        finish_step(step, StepStatus.SKIPPED, note="no training today (policy: other_days=skip)")
        return state
    client = clients.personalize()
    check_timeout(state, STEP, timedelta(hours=settings.timeouts.training_hours), stop=_stopper(client))
    # A version named for this run cannot predate both the day before its run date and the day before the
    # run started (an early or a late rerun): this bounds the name lookup without ever missing it.
    day_before_run_date = datetime.combine(state.run.run_date - timedelta(days=1), time(), tzinfo=UTC)
    not_before = min(day_before_run_date, state.run.started_at - timedelta(days=1))
    for recipe, training_mode in plan.items():
        solution_arn, phase, reason = _ensure_solution(client, settings, recipe)
        state.solutions[recipe.value] = solution_arn
        if phase is Phase.FAILED:
            raise PersonalizeJobFailed(STEP, reason or "solution creation failed", job=recipe.value, arn=solution_arn)
        if phase is not Phase.SUCCEEDED:
            step.jobs[recipe.value] = Job(kind="solution", name=solution_arn, arn=solution_arn, status=phase.value)
            continue
        step.jobs[recipe.value] = ensure_job(
            client,
            state,
            step=STEP,
            key=recipe.value,
            kind="solution-version",
            name=resource_name(settings.name_prefix, settings.country, state.run.run_date, SHORT_NAMES[recipe]),
            create_args={"solutionArn": solution_arn, "trainingMode": training_mode},
            not_before=not_before,
        )
        step.jobs[recipe.value].detail["training_mode"] = training_mode
    if all_succeeded(step.jobs):
        state.trained = {recipe: job.arn for recipe, job in step.jobs.items() if job.arn}
        finish_step(step)
    else:
        # Trainings take hours (sometimes more than a day): start at 5 min, back off to hourly checks.
        next_poll(step, first_wait=300, max_wait=3600)
    return state
