from __future__ import annotations


def test_full_day_happy_path(harness):
    execution = harness.run("KR", run_date="2026-11-15")  # a Sunday: the full-training day
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause, harness.invocations[-3:])
    print(execution.states_entered())
    print(harness.creates())
