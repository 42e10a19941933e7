"""Admit a run: decide its date and mode, and hold the (country, date) lock so no two executions overlap."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from common import clients, clock
from common.observability import logger
from pipeline import ledger, step_names
from pipeline.errors import InvalidRunInput, LedgerRecordMalformed
from pipeline.ledger_codec import MALFORMED
from pipeline.model import Admission, Mode, PipelineInput, RunInfo, RunSettings, RunState
from pipeline.runs import run_date_of
from pipeline.step_handler import entry_point


def choose_mode(settings: RunSettings, run_date: date) -> Mode:
    """FULL on the configured weekday, whenever a dataset has never been imported (first run), or when a dataset's
    schema was replaced since its last import: its data must be re-imported whole under the new schema, and the
    models retrained FULL (the campaigns keep serving the promoted versions until new ones pass the gate).

    Also FULL on any day when no FULL training ran in the week before it: a full day that did not run (its
    schedule skipped, e.g. a local time the clocks skipped), failed or trained nothing is made up by the next
    run instead of a week later (ledger.last_full_training says which runs count)."""
    if run_date.isoweekday() == settings.full_training_weekday:
        return Mode.FULL
    for dataset in settings.dataset_arns:
        last = ledger.last_import(settings.country, dataset)
        if last is None:
            return Mode.FULL
        expected = settings.schema_digests.get(dataset)
        if expected and last.get("schema_digest") != expected:
            return Mode.FULL
    period = timedelta(weeks=1)  # the full-training weekday comes once a week
    last_full = ledger.last_full_training(settings.country, run_date, since=run_date - period)
    if last_full is None or run_date - last_full >= period:
        return Mode.FULL
    return Mode.UPDATE


def _execution_running(execution_arn: str | None) -> bool:
    if not execution_arn:
        return False
    try:
        status = clients.stepfunctions().describe_execution(executionArn=execution_arn)["status"]
    except clients.stepfunctions().exceptions.ExecutionDoesNotExist:
        return False
    # PENDING_REDRIVE: a redrive of that execution was just requested; it owns the date again.
    return status in ("RUNNING", "PENDING_REDRIVE")


def begin(raw_input: dict[str, Any], execution_arn: str) -> RunState:
    # arn:aws:states:<region>:<account>:execution:<state machine>:<execution name>
    execution_name = execution_arn.rsplit(":", 1)[-1]
    try:
        request = PipelineInput.model_validate(raw_input)
    except ValidationError as error:
        raise InvalidRunInput("begin", f"execution input is not a run request: {error}") from None
    settings = request.settings
    run_date = run_date_of(request)
    existing = ledger.get_run(settings.country, run_date)
    info = dict(
        run_date=run_date,
        mode=Mode.FULL,
        previous_success_date=None,
        execution_arn=execution_arn,
        execution_name=execution_name,
        started_at=clock.now(),
    )
    if existing and MALFORMED in existing and not request.force:
        raise LedgerRecordMalformed(
            "begin",
            f"{existing[MALFORMED]}; start the date with force to take it over (the values that cannot be "
            "decoded are kept, raw, in the record's quarantined list)",
        )
    if existing and existing.get("status") in ledger.DONE_STATUSES and not request.force:
        reason = f"{settings.country} {run_date} already ended {existing['status']}; start with force to redo it"
        return RunState(settings=settings, run=RunInfo(**info, admission=Admission.ALREADY_DONE, reason=reason))
    admitted, reason = ledger.claim_run(settings.country, run_date, execution_arn, _execution_running)
    if not admitted:
        return RunState(settings=settings, run=RunInfo(**info, admission=Admission.DUPLICATE, reason=reason))
    if request.fresh_attempts:
        info["attempt_series"] = ledger.start_attempt_series(settings.country, run_date, execution_arn)
    else:
        info["attempt_series"] = ledger.attempt_series(existing)
    info["mode"] = choose_mode(settings, run_date)
    info["previous_success_date"] = ledger.previous_success(settings.country, run_date)
    info["interactions_imported_before"] = ledger.interactions_imported_before(settings.country, run_date)
    return RunState(settings=settings, run=RunInfo(**info, admission=Admission.ADMITTED))


@entry_point
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """BeginRun's payload is the execution input (the schedule's) and the execution ARN, not a run state."""
    state = begin(event["input"], event["execution_arn"])
    logger.append_keys(country=state.settings.country, run_date=str(state.run.run_date), step=step_names.BEGIN.key)
    logger.info("run admission", extra={"admission": state.run.admission.value, "mode": state.run.mode.value})
    return state.dump()
