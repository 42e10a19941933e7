"""One shape for every run notification (SNS e-mail text and the EventBridge event detail)."""

from __future__ import annotations

import json
from typing import Any

EVENT_SOURCE = "personalize.pipeline"
DETAIL_TYPE = "Personalize Pipeline Run"


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
    for decision in record.get("gate") or []:
        verdict = "approved" if decision["approved"] else "REJECTED"
        lines.append(f"Gate {decision['recipe']}: {verdict}")
        for reason in decision.get("reasons", []):
            lines.append(f"  - {reason}")
        lines.append(f"  new metrics:      {json.dumps(decision.get('new_metrics'), sort_keys=True)}")
        lines.append(f"  promoted metrics: {json.dumps(decision.get('promoted_metrics'), sort_keys=True)}")
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
            "report_url",
        )
    }
    return {
        "subject": subject,
        "message": "\n".join(lines),
        "source": EVENT_SOURCE,
        "detail_type": DETAIL_TYPE,
        "detail": json.dumps(detail, default=str, sort_keys=True),
    }
