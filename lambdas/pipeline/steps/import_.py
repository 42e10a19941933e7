"""Import users, items and interactions: FULL on the full-training day or a first run, else INCREMENTAL."""

from __future__ import annotations

from datetime import timedelta

from common import clients
from common.personalize_resources import resource_name
from dataprep.counts import MIN_INTERACTIONS
from pipeline import cost_drivers, ledger, step_names
from pipeline.jobs import all_succeeded, check_timeout, ensure_job, finish_step, next_poll, start_step
from pipeline.model import Mode, RunState
from pipeline.step_handler import step_handler

STEP = step_names.IMPORT.key
# dataset type -> prepared output (FULL, INCREMENTAL)
SOURCES = {
    "Users": ("users", "users"),
    "Items": ("items", "items"),
    "Interactions": ("interactions", "interactions_incremental"),
}


def import_plan(state: RunState) -> tuple[dict[str, str], list[str]]:
    """{dataset type: s3 uri} to import now, and notes on what is skipped and why."""
    full = state.run.mode is Mode.FULL
    plan, notes = {}, []
    for dataset, (full_output, incremental_output) in SOURCES.items():
        output = full_output if full else incremental_output
        uri = state.prepared.get(output)
        if dataset == "Interactions" and not full:
            new = (state.counts or {}).get("new_interactions", 0)
            if new < MIN_INTERACTIONS or not uri:
                # Personalize rejects an import of fewer than 1,000 interactions, incremental ones too. The
                # ledger's high-water mark stays put, so the next increment carries these rows forward.
                since = state.run.interactions_imported_before or "the window start"
                notes.append(
                    f"interactions not imported: {new} new < {MIN_INTERACTIONS}; "
                    f"carried forward (the next increment starts at partition {since})"
                )
                continue
        if not uri:
            raise ValueError(f"prepared output {output!r} is missing for the {dataset} import")
        plan[dataset] = uri
    return plan, notes


def import_(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    check_timeout(state, STEP, timedelta(hours=settings.timeouts.import_hours))
    plan, notes = import_plan(state)
    mode = "FULL" if state.run.mode is Mode.FULL else "INCREMENTAL"
    client = clients.personalize()
    for dataset, uri in plan.items():
        step.jobs[dataset] = ensure_job(
            client,
            state,
            step=STEP,
            key=dataset,
            kind="dataset-import-job",
            name=resource_name(settings.name_prefix, settings.country, state.run.run_date, f"import-{dataset}"),
            create_args={
                "datasetArn": settings.dataset_arns[dataset],
                "dataSource": {"dataLocation": uri},
                "roleArn": settings.personalize_role_arn,
                "importMode": mode,
            },
        )
        step.jobs[dataset].detail[cost_drivers.IMPORT_BYTES] = cost_drivers.prepared_bytes(state, uri)
    if all_succeeded(step.jobs):
        for dataset, job in step.jobs.items():
            ledger.set_imported(
                settings.country, dataset, state.run.run_date, mode, job.arn or "", settings.schema_digests.get(dataset)
            )
        finish_step(step, note="; ".join(notes))
    else:
        next_poll(step, step_names.IMPORT)
    return state


handler = step_handler(step_names.IMPORT, import_)
