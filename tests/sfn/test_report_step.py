"""The report step on the executed pipeline: its Athena queries fail once, then a redrive runs attempt r2; the
deployed report trains the open baseline on the report SQL's history output, as `make report` does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.queries import DEFAULT_BASELINE_HISTORY_ITEMS, DEFAULT_BASELINE_TRAINING_PAIRS, ReportOutput
from evaluation.sql_report import parse_json_lines
from testkit.fakes import athena as fake_athena

SUNDAY = "2026-11-15"
RESULTS = "personalize-dev-results-123456789012-us-east-1"
OUTPUTS = len(ReportOutput)


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
    # attempt r1 (every query, one failed), then all again under r2: UNLOAD needs an empty target
    assert [t.split("/")[-3] for t in report_targets].count("r1") == OUTPUTS
    assert [t.split("/")[-3] for t in report_targets].count("r2") == OUTPUTS
    # the served curation's UNLOAD too, beside the batch output, one empty folder per attempt
    curation = [sql.rsplit("TO '", 1)[1].split("'")[0] for sql in started if f"/KR/{SUNDAY}/curation/" in sql]
    assert [t.split("/")[-2] for t in curation] == ["r1", "r2"]
    assert harness.ledger_run("KR", SUNDAY)["report_url"].endswith(f"/KR/{SUNDAY}/report.html")


def _unloaded(harness, output: ReportOutput) -> list[dict]:
    started = [p["QueryString"] for op, p in harness.athena.calls if op == "StartQueryExecution"]
    (target,) = [sql.rsplit("TO '", 1)[1].split("'")[0] for sql in started if f"/{output.value}/'" in sql]
    bucket, _, prefix = target.removeprefix("s3://").partition("/")
    listed = harness.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    chunks = [harness.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed]
    return parse_json_lines(chunks, output.value)


DAY = 86_400
END = int(datetime(2026, 11, 15, tzinfo=UTC).timestamp())  # the run date's 00:00 UTC: the window's end
USERS, ITEMS = 60, 40


def _interactions_with_truth(output: str, now: float, original=fake_athena._lines) -> bytes:
    """Prepared interactions with a history and truth days (FakeAthena's default few rows have no truth): user u
    touched 3 + u % 6 items in the history's last week (so popularity ranks every item) and 2 in the truth days."""
    if not output.startswith("interactions"):
        return original(output, now)
    rows = []
    for u in range(USERS):
        for k in range(3 + u % 6):
            rows.append(f"u{u},i{(u * 7 + k * 3) % ITEMS},{END - (8 + k % 6) * DAY},view,1.0")
        for item in ((u * 7 + 9) % ITEMS, (u * 5 + 2) % ITEMS):
            rows.append(f"u{u},i{item},{END - 2 * DAY},view,1.0")
    return ("\n".join(rows) + "\n").encode()


def _batch_output(harness) -> None:
    """Personalize's batch output where the batch job writes it (the fake jobs write none)."""
    lines = [
        json.dumps({"input": {"userId": f"u{u}"}, "output": {"recommendedItems": [f"i{(u + j) % ITEMS}" for j in
                    range(25)]}, "error": None})
        for u in range(USERS)
    ]  # fmt: skip
    key = f"KR/{SUNDAY}/user-personalization/all_users.json.out"
    harness.s3.put_object(Bucket=RESULTS, Key=key, Body=("\n".join(lines) + "\n").encode())


def test_the_deployed_report_scores_the_open_baseline_on_the_same_users_and_list_lengths(harness, monkeypatch):
    monkeypatch.setattr(fake_athena, "_lines", _interactions_with_truth)
    _batch_output(harness)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    report = json.loads(harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/report.json")["Body"].read())
    scored = {r["name"]: r for r in report["recommenders"] if r["name"] != "cold-start-fallback"}
    assert list(scored) == ["curation", "personalize", OPEN_BASELINE, "popularity"]
    evaluated = report["counts"]["evaluated_users"]
    assert evaluated == USERS
    for row in scored.values():
        assert row["users_evaluated"] == evaluated
        assert set(row["metrics"]) == set(scored["curation"]["metrics"])
    assert scored[OPEN_BASELINE]["users_with_lists"] == report["counts"]["users"]
    assert scored[OPEN_BASELINE]["metrics"] != scored["popularity"]["metrics"]  # personalised, not popularity
    # the new-to-user evaluation scores it too
    assert OPEN_BASELINE in json.dumps(report["new_to_user"])
    # and the verdict says whether Personalize beats it
    assert OPEN_BASELINE in json.dumps(report["verdict"])
    # every shown (heavy) user has a list as long as the curation's and popularity's
    for heavy in report["heavy_users"]:
        lengths = {name: len(items) for name, items in heavy["lists"].items()}
        assert lengths[OPEN_BASELINE] == lengths["curation"] == lengths["personalize"] == lengths["popularity"] == 10
    info = report["open_baseline"]
    assert info["library"] == "implicit 0.7.3" and info["training_seconds"] >= 0 and info["users_trained"] > 0

    # trained on the report_history UNLOAD: the shown users (report_users) and, within the pairs bound, others
    history = _unloaded(harness, ReportOutput.HISTORY)
    shown = {row["user_id"] for row in _unloaded(harness, ReportOutput.USERS)}
    assert {row["user_id"] for row in history if row["shown"]} <= shown
    assert info["users_trained"] == len(history) <= report["counts"]["users"] - report["counts"]["cold_users"]
    assert all(0 < len(row["items"]) <= DEFAULT_BASELINE_HISTORY_ITEMS for row in history)
    pairs = sum(len(row["items"]) for row in history)
    assert pairs <= max(DEFAULT_BASELINE_TRAINING_PAIRS, len(shown) * DEFAULT_BASELINE_HISTORY_ITEMS)

    page = harness.s3.get_object(Bucket=RESULTS, Key=f"KR/{SUNDAY}/report.html")["Body"].read().decode()
    assert f'data-recommender="{OPEN_BASELINE}"' in page and 'id="open-baseline"' in page
    assert 'data-training-seconds="' in page
