"""Load the serving read model from the run's outputs, then point the country at this run.

Each invocation streams the run's parts (pipeline.publishing: item metadata, similar-items, segment and country
lists, users' batch lists, profiles) from its cursor, writes them through a pool of BatchWriteItem writers
(pipeline.read_model_writer) and, after each window of lines is written, moves the cursor (part index, byte
offset) it keeps in `steps.publish.jobs["load"]`: a few numbers, whatever the run's size. Past its time budget it
returns RUNNING and the Wait -> Publish -> Choice loop resumes from the cursor; a redrive resumes from the cursor
of the last invocation that returned, so a line is written at most one window twice, as the same item.

Only after every part is written does the country's pointer move (conditional: never to an older run than the one
it names), so the API never serves a half-loaded run and a rerun of an older date leaves a newer run served.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from common import clients, clock
from pipeline import publishing, read_model_writer, step_names
from pipeline.environment import environment
from pipeline.jobs import check_timeout, finish_step, next_poll, start_step
from pipeline.model import Job, RunState
from pipeline.publishing import Load, Part, PartKind
from pipeline.step_handler import step_handler
from serving.read_model import DEFAULT_TTL_DAYS

STEP = step_names.PUBLISH.key
LOAD = "load"
LOAD_LIMIT = timedelta(hours=2)  # the whole load, over every invocation (a full day takes well under 30 min)
# Per invocation: the Lambda's timeout (stacks/pipeline_steps.py) minus a window's worst case of retries.
TIME_BUDGET_S = 12 * 60
WINDOW_ITEMS = read_model_writer.WORKERS * read_model_writer.BATCH_SIZE * 4  # lines' items written per checkpoint
READ_CHUNK = 1 << 20


def _lines(s3: Any, part: Part, offset: int) -> Iterator[tuple[str, int]]:
    """(line, offset just past it) from `offset` to the part's end."""
    if offset >= part.size:
        return
    body = s3.get_object(Bucket=part.bucket, Key=part.key, Range=f"bytes={offset}-")["Body"]
    rest = b""
    while chunk := body.read(READ_CHUNK):
        rest += chunk
        *complete, rest = rest.split(b"\n")
        for raw in complete:
            offset += len(raw) + 1
            yield raw.decode("utf-8").rstrip("\r"), offset
    if rest:
        yield rest.decode("utf-8").rstrip("\r"), offset + len(rest)


def _header(s3: Any, part: Part) -> list[str]:
    first = next(_lines(s3, part, 0), ("", 0))[0]
    return [column.strip().strip('"') for column in first.split(",")]


def _profile_users(s3: Any, parts: list[Part]) -> frozenset[str]:
    return publishing.batch_users(
        line for part in parts if part.kind is PartKind.USER_LISTS for line, _ in _lines(s3, part, 0)
    )


def publish(state: RunState) -> RunState:
    settings = state.settings
    step = start_step(state, STEP)
    check_timeout(state, STEP, LOAD_LIMIT)
    env = environment()
    if not env.read_model_table:
        raise RuntimeError("publish function misconfigured: READ_MODEL_TABLE is not set")
    s3, ddb = clients.s3(), clients.dynamodb()
    parts = publishing.list_parts(s3, state)
    job = step.jobs.get(LOAD) or Job(
        kind="read-model-load", name=f"{settings.country}/{state.run.run_date}", status="RUNNING"
    )
    step.jobs[LOAD] = job
    cursor = job.detail
    cursor.setdefault("part", 0)
    cursor.setdefault("offset", 0)
    cursor.setdefault("items", 0)
    cursor.setdefault("skipped", 0)
    cursor["parts"] = len(parts)
    load = Load(settings.country, state.run.run_date, env.read_model_ttl_days or DEFAULT_TTL_DAYS)
    started = time.monotonic()
    with read_model_writer.Writer(ddb, env.read_model_table) as writer:
        while cursor["part"] < len(parts):
            part = parts[cursor["part"]]
            part_load = load
            if part.kind is PartKind.PROFILES and not publishing.full_batch(state):
                part_load = Load(load.country, load.run_date, load.ttl_days, _profile_users(s3, parts))
            header = _header(s3, part) if part.kind in publishing.CSV_KINDS else None
            offset = cursor["offset"]
            if header is not None and offset == 0:
                offset = next(_lines(s3, part, 0), ("", 0))[1]  # past the header row
            window: list[publishing.Item] = []
            skipped = 0  # batch lines of this window that gave no item, counted once the window is written
            for line, end in _lines(s3, part, offset):
                if line.strip():
                    produced = publishing.items_of(part.kind, part_load, line, header)
                    skipped += not produced and part.kind in publishing.BATCH_KINDS
                    window.extend(produced)
                if len(window) >= WINDOW_ITEMS:
                    writer.write(window)
                    cursor["items"] += len(window)
                    cursor["skipped"] += skipped
                    cursor["offset"], window, skipped = end, [], 0
                    if time.monotonic() - started > TIME_BUDGET_S:
                        next_poll(step, step_names.PUBLISH)
                        return state
            writer.write(window)
            cursor["items"] += len(window)
            cursor["skipped"] += skipped
            cursor["part"], cursor["offset"] = cursor["part"] + 1, 0
            if time.monotonic() - started > TIME_BUDGET_S and cursor["part"] < len(parts):
                next_poll(step, step_names.PUBLISH)
                return state
    job.status = "SUCCEEDED"
    moved = read_model_writer.move_pointer(
        ddb, env.read_model_table, publishing.pointer(state, clock.now().isoformat())
    )
    note = f"{cursor['items']} items from {len(parts)} parts"
    if cursor["skipped"]:
        note += f"; {cursor['skipped']} batch output lines skipped (Personalize errors or not a record)"
    finish_step(step, note=note if moved else f"{note}; a newer run stays served (pointer not moved)")
    return state


handler = step_handler(step_names.PUBLISH, publish)
