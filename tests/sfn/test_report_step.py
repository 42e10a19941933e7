"""The report step on the executed pipeline: its Athena queries fail once, then a redrive runs attempt r2."""

from __future__ import annotations

import json

SUNDAY = "2026-11-15"


def test_a_failed_report_query_fails_the_run_at_report_and_a_redrive_runs_the_next_attempt(harness):
    harness.athena.fail_next("/report_summary/", "HIVE_BAD_DATA: scripted")

    failed = harness.run("KR", run_date=SUNDAY)

    assert failed.status == "FAILED" and failed.error == "ReportFailed", (failed.error, failed.cause)
    assert harness.failed_state(failed)[0] == "Report"
    assert "report_summary query FAILED: HIVE_BAD_DATA: scripted" in json.loads(failed.cause)["errorMessage"]

    resumed = harness.redrive(failed)

    assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)
    assert resumed.states_entered()[0] == "Report"
    started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
    report_targets = sorted(sql.rsplit("TO '", 1)[1].split("'")[0] for sql in started if "/athena/reports/" in sql)
    # attempt r1 (4 queries, one failed), then all four again under r2: UNLOAD needs an empty target
    assert [t.split("/")[-3] for t in report_targets].count("r1") == 4
    assert [t.split("/")[-3] for t in report_targets].count("r2") == 4
    assert harness.ledger_run("KR", SUNDAY)["report_url"].endswith(f"/KR/{SUNDAY}/report.html")
