"""One shape for every run notification (SNS e-mail text and the EventBridge event detail)."""

from __future__ import annotations

import json
from typing import Any

EVENT_SOURCE = "personalize.pipeline"
DETAIL_TYPE = "Personalize Pipeline Run"
# What a notification holds: the state machine's Notify (SNS) and Announce (EventBridge) read each of these, and
# its Notifiable? guard checks they are all present (stacks/state_machine_definition.py).
NOTIFICATION_FIELDS = ("subject", "message", "source", "detail_type", "detail")


def notification(record: dict[str, Any]) -> dict[str, Any]:
    """record: the ledger run record (country, run_date, status, ...). Returns subject/message/detail."""
    country, run_date, status = record["country"], record["run_date"], record["status"]
    subject = f"[personalize {record.get('env', '')}] {country} {run_date}: {status}"[:100]
    lines = [f"Country {country}, run date {run_date}: {status}."]
    failure = record.get("failure")
    if failure:
        lines.append(f"Failed step: {failure.get('step')} ({failure.get('error')})")
        lines.append(f"Reason: {failure.get('reason')}")
    if record.get("reason"):
        lines.append(f"Reason: {record['reason']}")
    for recipe, choice in sorted((record.get("training") or {}).items()):
        hours = choice.get("training_hours")
        billed = f", {hours:g} training hours billed" if hours is not None else ""
        lines.append(f"Training {recipe}: {choice.get('choice')} ({choice.get('reason')}{billed})")
    for decision in record.get("gate") or []:
        verdict = "approved" if decision["approved"] else "REJECTED"
        lines.append(f"Gate {decision['recipe']}: {verdict} (gated on: {decision.get('gated_on', 'metrics')})")
        for reason in decision.get("reasons", []):
            lines.append(f"  - {reason}")
        lines.append(f"  new metrics:      {json.dumps(decision.get('new_metrics'), sort_keys=True)}")
        lines.append(f"  promoted metrics: {json.dumps(decision.get('promoted_metrics'), sort_keys=True)}")
    cold = record.get("cold_start") or {}
    if cold.get("figure"):
        figure, primary = cold["figure"], cold.get("primary") or {}
        share = figure.get("most_common_list_share")
        if share is None:
            lines.append("Cold start: no user without a list")
        else:
            lines.append(
                f"Cold start: {figure.get('users')} users without a list get {figure.get('distinct_lists')} "
                f"distinct segment lists (largest group {share:.0%})"
            )
        lines.append(f"  fallback first: {primary.get('campaign_arn') or primary.get('segments_uri')}")
    lines.extend(data_quality_lines(record.get("data_quality") or {}))
    lines.extend(cost_lines(record.get("cost") or {}))
    if record.get("report_decision"):
        lines.append(f"Decision: {record['report_decision']}")
    if record.get("report_url"):
        lines.append(f"Report: {record['report_url']}")
    lines.append(f"Execution: {record.get('execution_arn')}")
    detail = {
        k: record.get(k)
        for k in (
            "env",
            "country",
            "run_date",
            "status",
            "execution_arn",
            "failure",
            "reason",
            "promoted",
            "training",
            "report_url",
            "report_decision",
            "cost",
        )
    }
    values = (subject, "\n".join(lines), EVENT_SOURCE, DETAIL_TYPE, json.dumps(detail, default=str, sort_keys=True))
    return dict(zip(NOTIFICATION_FIELDS, values, strict=True))


def cost_lines(cost: dict[str, Any]) -> list[str]:
    """The run's cost drivers, then its estimated cost and the estimated month (pipeline.pricing)."""
    if not cost:
        return []
    d = cost.get("drivers") or {}
    scored = ", ".join(
        f"{recipe} {job.get('scored', 0):,} {job.get('scored_kind') or 'rows'}"
        for recipe, job in sorted((d.get("batch_scored") or {}).items())
    )
    lines = [
        f"Cost drivers: Athena {d.get('athena_scanned_bytes', 0) / 1e9:,.2f} GB scanned; "
        f"training {sum((d.get('training_hours') or {}).values()):g} h; "
        f"imports {sum((d.get('import_bytes') or {}).values()) / 1e6:,.1f} MB; "
        f"batch scored: {scored or 'none'}; "
        f"campaigns {sum((d.get('campaign_tps_hours') or {}).values()):g} TPS-hours"
    ]
    run_estimate = cost.get("estimate") or {}
    if run_estimate:
        unpriced = run_estimate.get("not_priced") or []
        missing = f" (not priced: {', '.join(unpriced)})" if unpriced else ""
        lines.append(f"Estimated cost of this run ({cost.get('label')}): ${run_estimate['total_usd']:,.2f}{missing}")
    month = cost.get("month")
    if month:
        runs = ", ".join(f"{mode} {day}" for mode, day in sorted(month["from_runs"].items()))
        label = cost.get("label")
        lines.append(f"Estimated cost per month for this country ({label}, from {runs}): ${month['usd']:,.2f}")
    return lines


def data_quality_lines(quality: dict[str, Any]) -> list[str]:
    """One line per raw table with dropped rows, then the files not fully read (none: nothing to say)."""
    lines = []
    for table, figures in sorted((quality.get("tables") or {}).items()):
        dropped = {reason: n for reason, n in (figures.get("dropped") or {}).items() if n}
        if dropped or figures.get("not_fully_read"):
            reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items())) or "none"
            lines.append(
                f"Data {table}: {figures.get('kept', 0)} of {figures.get('lines', 0)} rows kept; dropped: {reasons}"
            )
    for figures in quality.get("files") or []:
        if figures.get("not_fully_read"):
            malformed = figures.get("malformed_lines", 0)
            lines.append(f"  file not fully read: {figures.get('file')} ({malformed} malformed)")
    lines.extend(f"  {problem}" for problem in quality.get("problems") or [])
    return lines
