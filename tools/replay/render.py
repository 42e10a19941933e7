"""The text of `--output table`: values, tables and each command's result (JSON output is the data itself).

The commands (tools/replay/cli.py) decide what to show; this says how it reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pipeline.notify import cost_lines

if TYPE_CHECKING:
    from tools.replay.actions import RedrivePlan, RerunPlan
    from tools.replay.events import Plan as ReplayPlan


def duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def timestamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def short(text: Any, width: int) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None or c == "" else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def to_json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, (datetime, date)):
            return item.isoformat()
        return str(item)

    return json.dumps(value, indent=2, default=default, sort_keys=False)


# ------------------------------------------------------------------------------------- command results


def runs_table(rows: list[dict[str, Any]]) -> str:
    """`list`: one line per run (Runs.list rows)."""
    return table(
        [
            (
                r["country"],
                r["run_date"],
                r["status"] + (f" (redrive {r['redrive_count']})" if r["redrive_count"] else ""),
                r["failed_step"],
                short(r["reason"], 70),
                duration(r["seconds"]),
                r["note"],
            )
            for r in rows
        ],
        ("COUNTRY", "RUN DATE", "STATUS", "FAILED STEP", "REASON", "DURATION", "NOTE"),
    )


def run_details(d: dict[str, Any]) -> str:
    """`show`: one run (Runs.details): its header lines, then its steps, jobs, gate decisions and promotions."""
    lines = [f"{d['country']} {d['run_date']}  {d['status']}  (env {d['env']}, mode {d['mode'] or '-'})"]
    lines.append(f"execution  {d['execution_arn']}")
    if d["redrive_count"]:
        lines.append(f"redriven   {d['redrive_count']}x, last at {timestamp(d['redrive_date'])}")
    lines.append(
        f"started    {timestamp(d['started_at'])}   finished {timestamp(d['finished_at'])}"
        f"   duration {duration(d['seconds'])}"
    )
    failure = d["failure"]
    if failure:
        lines.append(
            f"failed     step {failure.get('step')} (state {failure.get('state')}): {failure.get('error')}: "
            f"{failure.get('reason')}"
        )
    if d["earlier_failure"]:
        e = d["earlier_failure"]
        lines.append(f"earlier    failed at {e.get('step')}: {e.get('error')}: {e.get('reason')} (then redriven)")
    if d["attempt_series"] > 1:
        lines.append(f"attempts   series {d['attempt_series']} (started with --fresh-attempts)")
    if d["reason"]:
        lines.append(f"reason     {d['reason']}")
    for note in d["notes"]:
        lines.append(f"note       {note}")
    lines += [
        "",
        table(
            [
                (
                    s["step"],
                    s["status"],
                    timestamp(s["started_at"]),
                    timestamp(s["finished_at"]),
                    duration(s["seconds"]),
                    s["polls"],
                    short(s["note"], 50),
                )
                for s in d["steps"]
            ],
            ("STEP", "STATUS", "STARTED", "FINISHED", "DURATION", "POLLS", "NOTE"),
        ),
    ]
    jobs = [(s["step"], j["job"], j["status"], j["arn"] or j["name"]) for s in d["steps"] for j in s["jobs"]]
    if jobs:
        lines += ["", table(jobs, ("STEP", "JOB", "STATUS", "ARN"))]
    if d["gate"]:
        lines += ["", _gate_table(d["gate"])]
    if d["promoted"]:
        lines += ["", table(sorted(d["promoted"].items()), ("RECIPE", "PROMOTED VERSION"))]
    if d["counts"]:
        lines += ["", "counts     " + ", ".join(f"{k} {v:,}" for k, v in sorted(d["counts"].items()))]
    if d["report_url"]:
        lines.append(f"report     {d['report_url']}")
    if d.get("cost"):
        lines += ["", *cost_lines(d["cost"])]
    return "\n".join(lines)


def _gate_table(gate: list[dict[str, Any]]) -> str:
    rows = []
    for decision in gate:
        new, old = decision.get("new_metrics") or {}, decision.get("promoted_metrics") or {}
        ndcg = "normalized_discounted_cumulative_gain_at_10"
        rows.append(
            (
                decision["recipe"],
                "approved" if decision["approved"] else "REJECTED",
                _metric(new.get(ndcg)),
                _metric(old.get(ndcg)),
                _metric(new.get("coverage")),
                short("; ".join(decision.get("reasons") or []), 80),
            )
        )
    return table(rows, ("GATE", "DECISION", "NDCG@10", "PROMOTED NDCG@10", "COVERAGE", "REASONS"))


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def redrive_plan(plan: RedrivePlan) -> str:
    """`redrive`: what the redrive will do (also what --dry-run prints)."""
    summary = plan.summary()
    failure = plan.failure or {}
    return (
        f"redrive {plan.run.label}: execution {plan.run.execution_arn}\n"
        f"  {summary['status']} at step {failure.get('step')} ({failure.get('error')}: {failure.get('reason')})\n"
        f"  resumes at state {plan.resume_state} with the same input; redrive count becomes "
        f"{summary['redrive_count']}"
    )


def rerun_plan(plan: RerunPlan) -> str:
    """`rerun`: what each date will get, and why."""
    return table([(str(i.run_date), i.action, i.reason) for i in plan.items], ("RUN DATE", "ACTION", "WHY"))


def rerun_results(plan: RerunPlan) -> str:
    """`rerun`: each date's execution and how it ended."""
    rows = [
        (str(i.run_date), i.action, i.execution_name, i.status, short(i.detail or i.reason, 70)) for i in plan.items
    ]
    return table(rows, ("RUN DATE", "ACTION", "EXECUTION", "STATUS", "DETAIL"))


def replay_table(plan: ReplayPlan) -> str:
    """`events replay`: one line per descriptor; the delivery columns once it has been replayed."""
    rows = [
        (
            i.descriptor.shard_id,
            short(f"{i.descriptor.start}..{i.descriptor.end}", 40),
            i.descriptor.condition,
            i.records,
            sum(i.parse_failures.values()),
            "yes" if i.fetched.start_missing else "",
            i.delivered if i.action != "planned" else "",
            i.dead_lettered if i.action != "planned" else "",
            i.not_delivered if i.action != "planned" else "",
            i.action,
        )
        for i in plan.items
    ]
    headers = ("SHARD", "SEQUENCE NUMBERS", "CONDITION", "RECORDS", "INVALID", "EXPIRED", "DELIVERED", "DLQ", "LEFT")
    return table(rows, (*headers, "DESCRIPTOR"))


def replay_outcome(summary: dict[str, Any]) -> str:
    """`events replay`: the counts of a replay (Plan.summary)."""
    return (
        f"{summary['records']} records: {summary['delivered']} delivered, {summary['dead_lettered']} "
        f"dead-lettered, {summary['not_delivered']} not delivered; descriptors: {summary['descriptors_deleted']} "
        f"deleted, {summary['descriptors_kept']} kept"
    )


# The response fields `recommend` shows (serving.responses.ItemList and Item, camelCase on the wire), in the order
# the renderer unpacks them; a test checks them against the API's OpenAPI document.
SHOWN_FIELDS = ("country", "source", "runDate", "recommendationId", "filterApplied", "items")
SHOWN_ITEM_FIELDS = ("itemId", "title", "genres", "created")


def recommendations(document: dict[str, Any], user_id: str) -> str:
    """`recommend`: where the list came from, then one row per item with the catalogue's metadata."""
    country, source, run_date, recommendation_id, filter_applied, items = (document.get(f) for f in SHOWN_FIELDS)
    head = (
        f"{country or '?'} user {user_id}: source {source or '?'}, run date {run_date or '-'}, "
        f"recommendationId {recommendation_id or '-'}"
    )
    if filter_applied is not None:
        head += f", filter applied: {'yes' if filter_applied else 'no'}"
    if not items:
        return head + "\nno items"
    rows = []
    for rank, item in enumerate(items, start=1):
        item_id, title, genres, created = (item.get(f) for f in SHOWN_ITEM_FIELDS)
        rows.append((rank, item_id, short(title, 48), short(", ".join(genres or []), 32), _created(created)))
    return head + "\n" + table(rows, ("#", "ITEM", "TITLE", "GENRES", "CREATED"))


def _created(value: Any) -> str | None:
    """The catalogue's creation time: epoch seconds (the read model's) shown as a UTC date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).date().isoformat()
    return None if value is None else str(value)
