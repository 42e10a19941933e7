"""The run's comparison page: current curation vs Personalize vs popularity, computed where the data lives.

The first invocation starts the report's Athena queries (evaluation.queries: neighbours, every user's curation
list, popularity, a sample of evaluated users, counts, the open baseline's bounded training history) over the
Glue tables of this run's prepared outputs and the batch output (stacks/constructs/report_catalog.py); later
invocations poll them (Wait -> Report -> Choice, like every long step). When all succeeded, the Lambda reads only
their small JSON-lines outputs (evaluation.sql_report: the sample, the history bounds and the catalogue decide
their size, not the interactions), trains the open baseline (implicit's item-item BM25) on the history output,
builds the report and writes report.html + report.json under results/<country>/<run_date>/; the notification
links the page.
A query failure fails the step once (ReportFailed); a replay starts the next attempt under a new prefix.
"""

from __future__ import annotations

import gzip
import re
import time
from datetime import timedelta

from botocore.exceptions import ClientError

from common import clients, clock
from common.recipes import Recipe, spec, user_list_recipe
from dataprep.s3_outputs import split_uri
from evaluation.decision import TREND_RUNS
from evaluation.online import OnlineOutcome, rows_from_json, trend_values
from evaluation.online import decide as online_decision
from evaluation.online_sql import OUTPUT as ONLINE_OUTPUT
from evaluation.online_sql import OnlineQueryParams, running_experiment
from evaluation.online_sql import athena_statement as online_statement
from evaluation.page import render
from evaluation.queries import (
    CURATION_FOLDER,
    CURATION_LISTS,
    CurationUsers,
    ReportOutput,
    ReportQueryParams,
    athena_statements,
    curation_statement,
)
from evaluation.report_model import ReportOptions
from evaluation.sql_report import build_report_from_outputs, inputs_from_rows, parse_json_lines, train_open_baseline
from evaluation.trend import TrendPoint, trend_from_documents
from pipeline import cold_start, ledger, step_names
from pipeline.athena_jobs import DONE, advance_queries, attempt_of, start_query
from pipeline.errors import ReportFailed
from pipeline.jobs import check_timeout, finish_step, next_poll, start_step
from pipeline.model import Job, RunState
from pipeline.notify import data_quality_lines
from pipeline.publishing import full_batch
from pipeline.step_handler import step_handler

STEP = step_names.REPORT.key
QUERY_KIND = "athena-query"
_RUN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _prefix(state: RunState, attempt: int) -> str:
    s = state.settings
    # Under athena/, the workgroup's result area: the only prefix of the prepared bucket Athena writes to.
    return f"s3://{s.prepared_bucket}/athena/reports/{s.country}/{state.run.run_date}/{state.run.execution_name}/r{attempt}"


def with_personalize(state: RunState) -> bool:
    """Personalize's column is compared when the batch step ran a per-user job (user-personalization v1 or v2)."""
    batch = state.steps.get("batch")
    recipe = user_list_recipe(state.settings.recipes)
    job = batch.jobs.get(recipe.value) if batch and recipe else None
    return bool(job and job.detail.get("output"))


def report_options(state: RunState) -> ReportOptions:
    """The country's deployed report settings (the evaluated-user sample bounds what this Lambda reads)."""
    return ReportOptions(
        max_evaluated_users=state.settings.report_evaluated_users,
        recent_items=state.settings.curation_recent_items,
    )


def query_params(state: RunState, options: ReportOptions | None = None) -> ReportQueryParams:
    opts = options or report_options(state)
    prepare = state.steps["prepare"]
    attempt = attempt_of(prepare.jobs)
    return ReportQueryParams(
        country=state.settings.country,
        run_date=state.run.run_date,
        execution=state.run.execution_name,
        attempt=f"a{attempt}",
        with_personalize=with_personalize(state),
        personalize_recipe=(user_list_recipe(state.settings.recipes) or Recipe.USER_PERSONALIZATION).value,
        **opts.model_dump(include=set(ReportQueryParams.model_fields) & set(ReportOptions.model_fields)),
    )


def curation_location(state: RunState, attempt: int) -> str:
    """Where the attempt's served curation lists go: results/<country>/<run_date>/curation/<execution>/r<attempt>/,
    an empty folder per attempt as UNLOAD requires; the Publish step reads the folder recorded in the job."""
    s = state.settings
    return (
        f"s3://{s.results_bucket}/{s.country}/{state.run.run_date}/{CURATION_FOLDER}/"
        f"{state.run.execution_name}/r{attempt}/"
    )


def _start(state: RunState, attempt: int) -> dict[str, Job]:
    params = query_params(state)
    statements = {
        output.value: (statement.sql, statement.location)
        for output, statement in athena_statements(params, _prefix(state, attempt)).items()
    }
    # The legacy curation's list for every user the batch job scored today, for the serving read model (loaded by
    # Publish): the report's curation definition over the whole window.
    users = CurationUsers.ALL if full_batch(state) else CurationUsers.CHANGED
    location = curation_location(state, attempt)
    statements[CURATION_LISTS] = (
        curation_statement(params.model_copy(update={"curation_users": users}), location),
        location,
    )
    if (experiment := running_experiment(state.settings.experiments, state.run.run_date)) is not None:
        # The running experiment's exposures joined with the views and purchases after them (evaluation.online).
        online = OnlineQueryParams(country=state.settings.country, run_date=state.run.run_date, experiment=experiment)
        statement = online_statement(online, _prefix(state, attempt))
        statements[ONLINE_OUTPUT] = (statement.sql, statement.location)
    jobs = {}
    for name, (sql, location) in statements.items():
        query_id = start_query(state, sql, token_key=f"report/r{attempt}/{name}")
        jobs[name] = Job(
            kind=QUERY_KIND,
            name=name,
            arn=query_id,
            status="RUNNING",
            created=True,
            detail={"attempt": attempt, "location": location},
        )
    return jobs


def _read_chunks(location: str) -> list[bytes]:
    """The parts an UNLOAD wrote under `location`."""
    s3 = clients.s3()
    bucket, prefix = split_uri(location)
    chunks = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            # The UNLOAD asks for no compression; should the engine gzip anyway, the parts still read.
            chunks.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
    return chunks


def _read_outputs(jobs: dict[str, Job]) -> tuple[dict[ReportOutput, list[dict]], int]:
    rows, size = {}, 0
    for output in ReportOutput:
        chunks = _read_chunks(jobs[output.value].detail["location"])
        size += sum(len(c) for c in chunks)
        rows[output] = parse_json_lines(chunks, output.value)
    return rows, size


def _trend(bucket: str, country: str, run_date: str, current: list[TrendPoint]) -> list[TrendPoint]:
    """This run and the earlier runs' report.json under <country>/<run_date>/ (the last TREND_RUNS)."""
    s3 = clients.s3()
    folders = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{country}/", Delimiter="/"):
        folders += [p["Prefix"].split("/")[1] for p in page.get("CommonPrefixes", [])]
    earlier = sorted(d for d in folders if _RUN_DATE.fullmatch(d) and d < run_date)[-(TREND_RUNS - 1) :]
    documents = []
    for day in earlier:
        try:
            documents.append(s3.get_object(Bucket=bucket, Key=f"{country}/{day}/report.json")["Body"].read())
        except ClientError as error:
            # A run that failed before its report: S3 answers 403 rather than 404 for a missing key unless the
            # caller may list the whole bucket, which this role may not (prefix-scoped ListBucket).
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "AccessDenied", "404", "403"):
                raise
    return with_costs(country, trend_from_documents(documents, country, current[-1] if current else None))


def _online(state: RunState, jobs: dict[str, Job]) -> OnlineOutcome | None:
    """The running experiment's outcome from the online query's per-user rows; None without the query."""
    experiment = running_experiment(state.settings.experiments, state.run.run_date)
    if ONLINE_OUTPUT not in jobs or experiment is None:
        return None
    rows = parse_json_lines(_read_chunks(jobs[ONLINE_OUTPUT].detail["location"]), ONLINE_OUTPUT)
    return online_decision(experiment, rows_from_json(rows))


def with_costs(country: str, points: list[TrendPoint]) -> list[TrendPoint]:
    """Each earlier run's estimated cost beside its trend point, from its run record (written by finish)."""
    for point in points:
        cost = (ledger.get_run(country, point.run_date) or {}).get("cost") or {}
        point.estimated_cost_usd = (cost.get("estimate") or {}).get("total_usd")
    return points


def _write_report(state: RunState, jobs: dict[str, Job]) -> str:
    settings = state.settings
    started = time.perf_counter()
    rows, size = _read_outputs(jobs)
    inputs = inputs_from_rows(rows, size)
    inputs.query_seconds = sum(
        job.detail.get("engine_seconds", 0.0)
        for name, job in jobs.items()
        if name not in (CURATION_LISTS, ONLINE_OUTPUT)
    )
    options = report_options(state)
    # Trained here on report_history (the bounded history: evaluation.queries), as `make report` does locally;
    # without history or on a data error the page has no open_baseline column and its notes say why.
    baseline, baseline_notes = train_open_baseline(inputs, options)
    inputs.notes.extend(baseline_notes)
    report = build_report_from_outputs(
        inputs,
        settings.country,
        state.run.run_date,
        with_personalize=with_personalize(state),
        options=options,
        open_baseline=baseline,
    )
    report.online = _online(state, jobs)
    if report.trend:  # this run's point carries its online outcome beside the offline values
        report.trend[-1].online = trend_values(report.online)
    report.trend = _trend(settings.results_bucket, settings.country, str(state.run.run_date), report.trend)
    report.notes.extend(run_context_notes(state))
    if "cold_start" in state.prepared:  # prepared by runs since the fallback exists
        state.cold_start = cold_start.publish(state)
        report.recommenders.append(cold_start.report_row(state.cold_start))
    key_prefix = f"{settings.country}/{state.run.run_date}"
    pages = (
        ("report.html", render(report), "text/html; charset=utf-8"),
        ("report.json", report.model_dump_json(indent=1), "application/json"),
    )
    # <country>/latest/ is the back office's stable address; written after the dated copy, so it
    # never points at a run whose own folder is missing.
    for folder in (key_prefix, f"{settings.country}/latest"):
        for name, body, content_type in pages:
            clients.s3().put_object(
                Bucket=settings.results_bucket,
                Key=f"{folder}/{name}",
                Body=body.encode("utf-8"),
                ContentType=content_type,
            )
    state.prepared["report_url"] = f"s3://{settings.results_bucket}/{key_prefix}/report.html"
    if report.decision is not None:  # the notification states it (pipeline.notify)
        state.prepared["report_decision"] = report.decision.text
    return (
        f"written at {clock.now().isoformat()}: {report.counts.evaluated_users} users evaluated, "
        f"{size / 2**20:.1f} MB of query output read in {time.perf_counter() - started:.1f} s"
    )


def report(state: RunState) -> RunState:
    step = start_step(state, STEP)
    # The queries read prepared data, like the prepare step's: the same bound applies.
    check_timeout(state, STEP, timedelta(minutes=state.settings.timeouts.prepare_minutes))
    advance_queries(state, step, _start, ReportFailed, STEP)
    if all(job.status == DONE for job in step.jobs.values()):
        finish_step(step, note=_write_report(state, step.jobs))
    else:
        next_poll(step, step_names.REPORT)
    return state


handler = step_handler(step_names.REPORT, report)


def run_context_notes(state: RunState) -> list[str]:
    """What the reader needs next to the figures: the exploration behind the freshness figure, and what the
    run's raw data lost (the same lines as the notification)."""
    notes = []
    explored = [r.value for r in state.settings.recipes if spec(r).exploration]
    if explored:
        e = state.settings.exploration
        notes.append(
            f"Freshness reflects exploration of new titles: {', '.join(explored)} explores items created within "
            f"{e.item_age_cutoff_days:g} days with weight {e.weight:g} (itemExplorationConfig on campaigns and "
            "batch jobs)."
        )
    notes.extend(line.strip() for line in data_quality_lines(state.data_quality or {}))
    return notes
