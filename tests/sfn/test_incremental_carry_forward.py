"""Incremental imports carry forward, executed end to end: 400 new interactions on Monday are not imported
(Personalize's 1,000 minimum), Tuesday's increment starts after Sunday's import (the ledger's high-water mark),
so 400 + 700 = 1,100 are imported and the changed-users batch covers Monday's users too."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

SUNDAY, MONDAY, TUESDAY = "2026-11-15", "2026-11-16", "2026-11-17"
# new interactions per export partition (dt)
ARRIVALS = {SUNDAY: 400, MONDAY: 700}
# The run window (dataprep/sql/window.sql) sorts the country's interactions into parts by the partition that first
# carried them: `new` from import_since, `changed` from changes_since; its SQL names both boundaries in that order.
_BOUNDARY = re.compile(r"first_dt >= '(\d{4}-\d{2}-\d{2})'")
_ATTEMPT = re.compile(r"run_date = '([^']+)' AND execution = '([^']+)' AND attempt = '([^']+)'")


def _window_sql(harness, path: str) -> str:
    for operation, params in harness.athena.calls:
        sql = params.get("QueryString", "")
        if operation == "StartQueryExecution" and path in sql and "/window/'" in sql:
            return sql
    raise AssertionError(f"no run window UNLOAD under {path}")


def _counts_for(harness):
    def counts_for(sql: str) -> dict[str, int]:
        """new_interactions as the attempt's window selects them: first seen in [import_since, run_date)."""
        attempt = _ATTEMPT.search(" ".join(sql.split()))
        if not attempt:
            return {}
        run_date, execution, number = attempt.groups()
        since = _BOUNDARY.findall(_window_sql(harness, f"/{run_date}/{execution}/{number}/window/"))[0]
        return {"new_interactions": sum(n for dt, n in ARRIVALS.items() if since <= dt < run_date)}

    return counts_for


def _window_since(harness, run_date: str) -> tuple[str, str]:
    """The run's window boundaries: where the increment (`new`) and the changed users start."""
    import_since, changes_since = _BOUNDARY.findall(_window_sql(harness, f"/{run_date}/"))[:2]
    return import_since, changes_since


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

    harness.athena.counts_for = _counts_for(harness)
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
    assert _window_since(harness, TUESDAY) == (SUNDAY, SUNDAY)
    assert ledger.last_import("KR", "Interactions")["run_date"] == TUESDAY
    assert ledger.interactions_imported_before("KR", date(2026, 11, 18)) == date(2026, 11, 17)
