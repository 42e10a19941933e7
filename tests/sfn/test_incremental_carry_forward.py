"""Incremental imports carry forward, executed end to end: 400 new interactions on Monday are not imported
(Personalize's 1,000 minimum), Tuesday's increment starts after Sunday's import (the ledger's high-water mark),
so 400 + 700 = 1,100 are imported and the changed-users batch covers Monday's users too."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

SUNDAY, MONDAY, TUESDAY = "2026-11-15", "2026-11-16", "2026-11-17"
# new interactions per export partition (dt)
ARRIVALS = {SUNDAY: 400, MONDAY: 700}
_SINCE = re.compile(r"first_dt >= '(\d{4}-\d{2}-\d{2})'")
_RUN_DATE = re.compile(r"dt < '(\d{4}-\d{2}-\d{2})'")


def _counts_for(sql: str) -> dict[str, int]:
    """new_interactions as the rendered boundary [import_since, run_date) selects them."""
    since, until = _SINCE.search(sql), _RUN_DATE.search(sql)
    if not since or not until:
        return {}
    return {"new_interactions": sum(n for dt, n in ARRIVALS.items() if since[1] <= dt < until[1])}


def _unload_since(harness, output: str, run_date: str) -> str:
    """The first partition of an output's UNLOAD rendered for a run date (its new_interactions boundary)."""
    for operation, params in harness.athena.calls:
        sql = params.get("QueryString", "")
        if operation == "StartQueryExecution" and f"/{run_date}/" in sql and f"/{output}/'" in sql:
            boundaries = re.findall(r"first_dt >= '(\d{4}-\d{2}-\d{2})'", sql)
            return boundaries[-1]
    raise AssertionError(f"no UNLOAD of {output} for {run_date}")


def _interaction_imports(harness, since: int) -> list[dict]:
    return [
        c.kwargs
        for c in harness.personalize.calls[since:]
        if c.operation == "create_dataset_import_job"
        and c.outcome == "ok"
        and "interactions" in c.kwargs["jobName"].lower()
    ]


def test_a_skipped_increment_is_imported_with_the_next_one(harness, monkeypatch):
    from pipeline import ledger

    harness.athena.counts_for = _counts_for
    assert harness.run("KR", run_date=SUNDAY).status == "SUCCEEDED"
    harness.clock.advance_to(datetime(2026, 11, 15, 18, 0, tzinfo=UTC))
    calls = len(harness.personalize.calls)

    monday = harness.run("KR", run_date=MONDAY)

    assert monday.status == "SUCCEEDED" and monday.output["run"]["mode"] == "UPDATE"
    assert monday.output["counts"]["new_interactions"] == 400
    assert _interaction_imports(harness, calls) == []
    note = harness.ledger_run("KR", MONDAY)["steps"]["import"]["note"]
    assert note == (
        f"interactions not imported: 400 new < 1000; carried forward (the next increment starts at partition {SUNDAY})"
    )
    monkeypatch.setenv("LEDGER_TABLE", harness.ledger_table)
    monkeypatch.setenv("ENV_NAME", "dev")
    assert ledger.last_import("KR", "Interactions")["run_date"] == SUNDAY  # the mark stayed on Sunday's import
    harness.clock.advance_to(datetime(2026, 11, 16, 18, 0, tzinfo=UTC))
    calls = len(harness.personalize.calls)

    tuesday = harness.run("KR", run_date=TUESDAY)

    assert tuesday.status == "SUCCEEDED", (tuesday.error, tuesday.cause)
    assert tuesday.output["run"]["previous_success_date"] == MONDAY
    assert tuesday.output["run"]["interactions_imported_before"] == SUNDAY
    assert tuesday.output["counts"]["new_interactions"] == 1_100
    (job,) = _interaction_imports(harness, calls)
    assert job["importMode"] == "INCREMENTAL"
    assert job["dataSource"]["dataLocation"].endswith("/interactions_incremental.csv")
    # both the increment and the changed users start at Sunday's partition, not at Monday's run
    assert _unload_since(harness, "interactions_incremental", TUESDAY) == SUNDAY
    assert _unload_since(harness, "changed_users", TUESDAY) == SUNDAY
    assert ledger.last_import("KR", "Interactions")["run_date"] == TUESDAY
    assert ledger.interactions_imported_before("KR", date(2026, 11, 18)) == date(2026, 11, 17)
