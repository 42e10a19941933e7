"""Promote the approved versions: point the real-time campaign at them (create it on the first run) and
wait until the update is ACTIVE; then record them as the versions batch jobs and the next gate use.

The country's filters (pipeline.filters) are made here too, before Batch needs them: describe-or-create, and
once ACTIVE their ARNs are published as SSM parameters for the app's own GetRecommendations calls."""

from __future__ import annotations

from datetime import timedelta

from botocore.exceptions import ClientError

from common import clients, clock
from common.aws_errors import error_code, is_not_found, transient_errors_named
from common.observability import logger
from common.personalize_resources import Phase, current, ensure_campaign_serves, list_all
from common.recipes import Recipe, spec
from pipeline import filters, ledger, step_names
from pipeline.campaigns import campaign_name
from pipeline.errors import PersonalizeJobFailed
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Job, RunState, StepStatus
from pipeline.step_handler import step_handler

STEP = step_names.PROMOTE.key


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
    create_args: dict = {"minProvisionedTPS": settings.campaign_min_tps}
    if spec(recipe).exploration:
        create_args["campaignConfig"] = {"itemExplorationConfig": settings.exploration.item_exploration_config()}
    result = ensure_campaign_serves(
        client, name=campaign_name(state, recipe), solution_version_arn=version_arn, create_args=create_args
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


FILTER_JOB = "filter:"
RETIRED_FILTERS_JOB = "filters:retired"


def _filters(client, state: RunState, step) -> None:
    """Describe-or-create every configured filter; publish each one once it is ACTIVE; then delete the filters
    they replaced a day or more ago (pipeline.filters.superseded)."""
    settings = state.settings
    for key, definition in filters.definitions(settings).items():
        job_key = f"{FILTER_JOB}{key}"
        previous = step.jobs.get(job_key)
        job = ensure_job(
            client,
            state,
            step=STEP,
            key=job_key,
            kind="filter",
            name=filters.filter_name(settings, definition),
            create_args={"datasetGroupArn": settings.dataset_group_arn, "filterExpression": definition.expression},
        )
        job.detail["expression"] = definition.expression
        step.jobs[job_key] = job
        if job.status != "SUCCEEDED" or not job.arn:
            continue
        state.filters[key] = job.arn
        if not definition.published:
            continue
        if previous is not None and "parameter" in previous.detail:  # published on an earlier poll of this run
            # (a run state written before published_before existed counts as just published)
            job.detail.update(
                parameter=previous.detail["parameter"],
                published_before=previous.detail.get("published_before", False),
            )
            continue
        parameter = filters.parameter_name(settings, key)
        job.detail["published_before"] = _parameter_value(parameter) == job.arn
        with transient_errors_named():
            clients.ssm().put_parameter(Name=parameter, Value=job.arn, Type="String", Overwrite=True)
        job.detail["parameter"] = parameter
    filter_jobs = {k: j for k, j in step.jobs.items() if k.startswith(FILTER_JOB)}
    if RETIRED_FILTERS_JOB not in step.jobs and all_succeeded(filter_jobs):
        step.jobs[RETIRED_FILTERS_JOB] = _retire_replaced_filters(client, state, filter_jobs)


def _parameter_value(name: str) -> str | None:
    try:
        with transient_errors_named():
            return clients.ssm().get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise


def _retire_replaced_filters(client, state: RunState, filter_jobs: dict[str, Job]) -> Job:
    """Delete what `filters.superseded` names; once per run. A listing or a delete Personalize refuses does not
    fail the run: it is recorded (with the error code) and the next run tries again. A throttled listing is
    raised as every other call of the step is (the state machine retries the step)."""
    settings = state.settings
    published_before = [
        key.removeprefix(FILTER_JOB) for key, job in filter_jobs.items() if job.detail.get("published_before")
    ]
    job = Job(kind="filter-retirement", name="replaced filters", status="SUCCEEDED")
    try:
        listed = list_all(client, "list_filters", "Filters", datasetGroupArn=settings.dataset_group_arn)
    except ClientError as error:
        job.detail["not_listed"] = error_code(error)
        logger.warning("filters not listed: replaced filters stay until the next run", extra={"error": str(error)})
        return job
    deleted, kept = [], {}
    for arn in filters.superseded(settings, listed, clock.now(), published_before):
        try:
            client.delete_filter(filterArn=arn)
            deleted.append(arn)
        except ClientError as error:
            if is_not_found(error):
                deleted.append(arn)
            else:
                kept[arn] = error_code(error)
                logger.warning("replaced filter not deleted", extra={"filter_arn": arn, "error": str(error)})
    job.detail.update(deleted=deleted, kept=kept)
    return job


def _retirement_notes(job: Job | None) -> list[str]:
    """What the run record says of the replaced filters (the record keeps a job's status, not its detail)."""
    if job is None:
        return []
    notes = []
    if job.detail.get("not_listed"):
        notes.append(f"filters not listed ({job.detail['not_listed']}): replaced filters kept until the next run")
    if job.detail.get("deleted"):
        notes.append(f"replaced filters deleted: {', '.join(a.rsplit('/', 1)[-1] for a in job.detail['deleted'])}")
    for arn, code in job.detail.get("kept", {}).items():
        notes.append(f"replaced filter {arn.rsplit('/', 1)[-1]} not deleted ({code}): the next run tries again")
    return notes


def promote(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    approved = [d for d in state.gate if d.approved]
    check_timeout(state, STEP, timedelta(hours=settings.timeouts.campaign_hours))
    client = clients.personalize()
    _filters(client, state, step)
    if settings.campaign_enabled:
        for decision in approved:
            if spec(decision.recipe).campaign:
                step.jobs[decision.recipe.value] = _campaign(
                    client,
                    state,
                    decision.recipe,
                    decision.solution_version_arn,
                    step.jobs.get(decision.recipe.value),
                )
    if not all_succeeded(step.jobs):
        next_poll(step, step_names.PROMOTE)
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
    notes = ([] if approved else ["no version approved"]) + _retirement_notes(step.jobs.get(RETIRED_FILTERS_JOB))
    note = "; ".join(notes)
    finish_step(step, StepStatus.SUCCEEDED if approved or not state.gate else StepStatus.SKIPPED, note=note)
    return state


handler = step_handler(step_names.PROMOTE, promote)
