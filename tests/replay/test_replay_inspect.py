"""`list` and `show` on runs executed by the synthesised pipeline (moto Step Functions, fake Personalize)."""

from __future__ import annotations

from replay_fakes import SUNDAY

SATURDAY = "2026-11-14"


def test_list_shows_each_run_newest_first_with_failed_step_reason_and_duration(world):
    assert world.run("KR", SATURDAY)["status"] == "SUCCEEDED"
    assert world.run("KR", SUNDAY)["status"] == "SUCCEEDED"
    reason = world.fail_at("import", "Input CSV has a column count mismatch")
    assert world.run("JP", SUNDAY)["status"] == "FAILED"

    listed = world.cli("list", "--output", "json")

    assert listed.code == 0, listed.err
    rows = listed.json()
    assert [(r["country"], r["run_date"], r["status"]) for r in rows] == [
        ("KR", SUNDAY, "SUCCEEDED"),
        ("JP", SUNDAY, "FAILED"),
        ("KR", SATURDAY, "SUCCEEDED"),
    ]
    jp = rows[1]
    assert jp["failed_step"] == "import" and jp["reason"] == reason
    assert jp["execution_arn"] == world.ledger("JP")["execution_arn"]
    recorded = world.ledger("JP")
    assert jp["seconds"] == round((_utc(recorded["finished_at"]) - _utc(recorded["started_at"])).total_seconds())
    assert rows[0]["seconds"] == world.ledger("KR")["seconds"] and rows[0]["failed_step"] is None

    table = world.cli("list")
    assert table.code == 0
    header, *lines = table.out.splitlines()
    assert header.split()[:4] == ["COUNTRY", "RUN", "DATE", "STATUS"]
    assert lines[1].split()[:4] == ["JP", SUNDAY, "FAILED", "import"] and reason in lines[1]

    def dates(*args):
        result = world.cli("list", "--output", "json", *args)
        assert result.code == 0, result.err
        return [(r["country"], r["run_date"]) for r in result.json()]

    assert dates("--country", "jp") == [("JP", SUNDAY)]
    assert dates("--country", "KR", "JP", "--status", "failed") == [("JP", SUNDAY)]
    assert dates("--status", "SUCCEEDED", "--until", SATURDAY) == [("KR", SATURDAY)]
    assert dates("--since", SUNDAY, "--until", SUNDAY) == [("KR", SUNDAY), ("JP", SUNDAY)]
    assert dates("--limit", "1") == [("KR", SUNDAY)]
    assert dates("--country", "US") == []
    assert "no runs in env dev match" in world.cli("list", "--country", "US").out


def test_list_reports_a_running_execution_as_running(world):
    arn, hold = world.start_held("US", SUNDAY)
    try:
        rows = world.cli("list", "--output", "json").json()
        assert [(r["country"], r["status"], r["execution_arn"]) for r in rows] == [("US", "RUNNING", arn)]
        assert world.cli("show", f"US:{SUNDAY}", "--output", "json").json()["status"] == "RUNNING"
    finally:
        hold.release()
    assert world.cli("list", "--output", "json").json()[0]["status"] == "SUCCEEDED"


def test_show_a_failed_run_then_the_redriven_run(world):
    reason = world.fail_at("train", "Insufficient data: fewer than 25 users with at least 2 interactions")
    failed = world.run("KR", SUNDAY)
    arn = failed["executionArn"]

    shown = world.cli("show", f"kr:{SUNDAY}", "--output", "json")

    assert shown.code == 0, shown.err
    run = shown.json()
    assert (run["country"], run["run_date"], run["status"], run["execution_arn"]) == ("KR", SUNDAY, "FAILED", arn)
    assert run["failure"]["step"] == "train" and run["failure"]["state"] == "Train"
    assert run["failure"]["reason"] == reason and run["failure"]["error"] == "PersonalizeJobFailed"
    steps = {s["step"]: s for s in run["steps"]}
    assert list(steps) == ["begin", "prepare", "import", "train"]
    assert [steps[s]["status"] for s in ("begin", "prepare", "import")] == ["SUCCEEDED"] * 3
    assert steps["train"]["status"] == "FAILED"
    imported = {j["job"]: j for j in steps["import"]["jobs"]}
    personalize_imports = {
        c.kwargs["jobName"]
        for c in world.harness.personalize.calls
        if c.operation == "create_dataset_import_job" and c.outcome == "ok"
    }
    assert {j["arn"].rsplit("/", 1)[-1] for j in imported.values()} == personalize_imports
    assert {j["status"] for j in imported.values()} == {"SUCCEEDED"}
    trained = {j["job"]: j for j in steps["train"]["jobs"]}
    assert trained["similar-items"]["status"] == "FAILED" and trained["similar-items"]["failure_reason"] == reason
    assert trained["similar-items"]["arn"] == run["failure"]["detail"]["arn"]
    assert {trained[r]["status"] for r in trained if r != "similar-items"} <= {"PENDING", "RUNNING", "SUCCEEDED"}
    assert run["gate"] == [] and run["redrive_count"] == 0
    assert steps["import"]["seconds"] == round(
        (_utc(steps["import"]["finished_at"]) - _utc(steps["import"]["started_at"])).total_seconds()
    )

    text = world.cli("show", arn)
    assert text.code == 0
    assert f"failed     step train (state Train): PersonalizeJobFailed: {reason}" in text.out
    assert any(line.split()[:2] == ["train", "FAILED"] for line in text.out.splitlines())

    assert world.cli("redrive", arn, "--yes", "--wait").code == 0
    redriven = world.cli("show", f"KR:{SUNDAY}", "--output", "json").json()

    assert redriven["status"] == "SUCCEEDED" and redriven["redrive_count"] == 1
    assert redriven["failure"] is None and redriven["earlier_failure"]["reason"] == reason
    steps = {s["step"]: s for s in redriven["steps"]}
    assert {"gate", "promote", "batch", "finish"} <= set(steps)
    assert {s["status"] for s in steps.values()} == {"SUCCEEDED"}
    record = world.ledger("KR")
    assert redriven["gate"] == record["gate"] and len(redriven["gate"]) == 4
    assert all(d["approved"] for d in redriven["gate"])
    assert redriven["metrics"] == record["metrics"]
    serving = world.harness.personalize.serving("personalize-dev-kr-userpers-campaign")
    assert redriven["promoted"]["user-personalization"] == serving
    batch_jobs = {j["arn"] for j in steps["batch"]["jobs"]}
    assert batch_jobs == {job["arn"] for job in record["steps"]["batch"]["jobs"].values()}
    text = world.cli("show", f"KR:{SUNDAY}").out
    assert "redriven   1x" in text and "user-personalization  approved" in text
    # the run's cost drivers and its estimate, as the run recorded them
    assert redriven["cost"] == record["cost"] and record["cost"]["drivers"]["athena_scanned_bytes"] > 0
    gb = record["cost"]["drivers"]["athena_scanned_bytes"] / 1e9
    assert f"Cost drivers: Athena {gb:,.2f} GB scanned; training " in text
    assert f"Estimated cost of this run (estimate): ${record['cost']['estimate']['total_usd']:,.2f}" in text


def _utc(text):
    from tools.replay.executions import utc

    return utc(text)
