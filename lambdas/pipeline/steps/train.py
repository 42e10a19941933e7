"""Train each configured solution: describe-or-create the solution (auto-training as configured), then a
solution version named for the run, as the per-recipe training policy decides (`training_plan`,
docs/personalize-behaviour.md item 3): FULL on the full day; on other days UPDATE only where it is how new items
get in (an UPDATE-capable recipe not served by a campaign), nothing where the campaign's automatic updates do
that or the recipe has no UPDATE mode. The choice, its reason and the billed trainingHours go into the run."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from botocore.exceptions import ClientError

from common import clients
from common.aws_errors import is_in_use, is_not_found, transient_errors_named
from common.personalize_resources import Phase, ensure, resource_name, stable_name
from common.recipes import RECIPE_ARNS, SHORT_NAMES, Recipe, spec
from pipeline import ledger, step_names
from pipeline.errors import PersonalizeJobFailed
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Job, Mode, RunSettings, RunState, StepStatus, TrainingChoice
from pipeline.step_handler import step_handler

STEP = step_names.TRAIN.key


def training_plan(settings: RunSettings, mode: Mode) -> dict[Recipe, TrainingChoice]:
    """{recipe: choice and reason} for this run, every configured recipe included (NONE: no training today).

    CreateSolutionVersion's reference: UPDATE "updates the model to consider new items for recommendations. It
    is not a full retraining. You should still complete a full retraining weekly. If you specify UPDATE, Amazon
    Personalize will stop automatic updates for the solution version." And "with User-Personalization-v2,
    User-Personalization ... Amazon Personalize automatically updates your latest solution version every two hours
    to include new items" for a version deployed in a campaign (update-campaigns). So a daily UPDATE of a
    campaign's version would trade free two-hourly updates for one billed daily one.
    """
    plan: dict[Recipe, TrainingChoice] = {}
    for recipe in settings.recipes:
        capability = spec(recipe)
        if mode is Mode.FULL:
            plan[recipe] = TrainingChoice(
                choice="FULL",
                reason="full-training day (or a dataset imported FULL, or no FULL training in the past week)",
            )
            continue
        if settings.other_days == "skip":
            plan[recipe] = TrainingChoice(choice="NONE", reason="policy other_days=skip: promoted version used")
            continue
        if not ledger.promoted(settings.country, recipe.value):
            # Nothing to update or serve yet: the first version is a full one, whatever the day.
            plan[recipe] = TrainingChoice(choice="FULL", reason="no promoted version yet")
        elif capability.automatic_updates and capability.campaign and settings.campaign_enabled:
            plan[recipe] = TrainingChoice(
                choice="NONE",
                reason="served by a campaign: Personalize's automatic updates add new items every 2 h "
                "(an UPDATE would stop them); FULL on the full day",
            )
        elif capability.update_training:
            plan[recipe] = TrainingChoice(
                choice="UPDATE", reason="no campaign: UPDATE brings new items in before the batch job"
            )
        else:
            plan[recipe] = TrainingChoice(
                choice="NONE", reason="recipe has no UPDATE mode: promoted version used until the full day"
            )
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


def _record_training_hours(client, state: RunState) -> None:
    """The billed hours of each finished version: "You are billed for the time it takes to train a model"
    (SolutionVersion.trainingHours, set once the version is ACTIVE)."""
    for recipe, version_arn in state.trained.items():
        with transient_errors_named():
            version = client.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
        hours = version.get("trainingHours")
        state.training[recipe].training_hours = float(hours) if hours is not None else None


def train(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    if not state.training:  # decided once per run: a poll or a redrive keeps the first decision
        state.training = {recipe.value: choice for recipe, choice in training_plan(settings, state.run.mode).items()}
    plan = {Recipe(recipe): choice.choice for recipe, choice in state.training.items() if choice.choice != "NONE"}
    if not plan:
        note = "; ".join(f"{recipe}: {choice.reason}" for recipe, choice in state.training.items())
        finish_step(step, StepStatus.SKIPPED, note=f"no training today ({note})")
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
        _record_training_hours(client, state)
        finish_step(step)
    else:
        # Trainings take hours (sometimes more than a day): start at 5 min, back off to hourly checks.
        next_poll(step, step_names.TRAIN)
    return state


handler = step_handler(step_names.TRAIN, train)
