"""The publish step on the executed pipeline (moto DynamoDB): the read model holds the run's lists, profiles and
item metadata, the country's pointer moves once and only after the load, a load spans several invocations
through its cursor, a redrive in the middle of a load finishes it, and an older date's rerun leaves the newer
run served."""

from __future__ import annotations

import json
from datetime import date

import pytest
from botocore.exceptions import ClientError

from pipeline import read_model_writer
from pipeline.steps import publish as publish_step
from serving import read_model as rm

SUNDAY, MONDAY = "2026-11-15", "2026-11-16"
RESULTS = "personalize-dev-results-123456789012-us-east-1"
PREPARED = "personalize-dev-prepared-123456789012-us-east-1"
USERS, ITEMS = 50, 30


def _batch_output(harness, run_date: str, users: int = USERS) -> None:
    """Personalize's batch output where the batch jobs write it (the fake jobs write none)."""
    lists = [
        json.dumps(
            {"input": {"userId": f"u{u}"}, "output": {"recommendedItems": [f"i{(u + j) % ITEMS}" for j in range(5)]}}
        )
        for u in range(users)
    ]
    lists.append(json.dumps({"input": {"userId": "broken"}, "output": None, "error": "scripted"}))
    lists += ["not json", json.dumps({"input": {"userId": "u-no-output"}})]  # not batch records: skipped, counted
    similar = [
        json.dumps({"input": {"itemId": f"i{i}"}, "output": {"recommendedItems": [f"i{(i + 1) % ITEMS}"]}})
        for i in range(ITEMS)
    ]
    for key, lines in (
        (f"KR/{run_date}/user-personalization/all_users.jsonl.out", lists[: users // 2]),
        (f"KR/{run_date}/user-personalization/part2.jsonl.out", lists[users // 2 :]),
        (f"KR/{run_date}/similar-items/items_batch.jsonl.out", similar),
    ):
        harness.s3.put_object(Bucket=RESULTS, Key=key, Body=("\n".join(lines) + "\n").encode())


@pytest.fixture
def small_invocations(monkeypatch):
    """Every invocation past its budget after one window of 40 items: the load resumes through the Wait loop."""
    monkeypatch.setattr(publish_step, "TIME_BUDGET_S", -1)
    monkeypatch.setattr(publish_step, "WINDOW_ITEMS", 40)


@pytest.fixture
def pointer_writes(monkeypatch):
    moved: list[str] = []
    original = read_model_writer.move_pointer

    def counted(client, table, item):
        moved.append(item["run_date"]["S"])
        return original(client, table, item)

    monkeypatch.setattr(read_model_writer, "move_pointer", counted)
    return moved


def _items(harness) -> dict[tuple[str, str], dict]:
    found, start = {}, {}
    while True:
        page = harness.ddb.scan(TableName=harness.read_model_table, **start)
        for item in page["Items"]:
            found[item[rm.PK]["S"], item[rm.SK]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return found
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def _prepared_rows(harness, file_name: str, run_date: str) -> list[str]:
    listed = harness.s3.list_objects_v2(Bucket=PREPARED, Prefix=f"athena/runs/KR/{run_date}/")["Contents"]
    (key,) = [o["Key"] for o in listed if o["Key"].endswith(f"/{file_name}")]
    lines = harness.s3.get_object(Bucket=PREPARED, Key=key)["Body"].read().decode().splitlines()
    return [line.split(",")[0].strip('"') for line in lines[1:] if line.strip()]


def _prepared_lines(harness, output: str, run_date: str) -> list[str]:
    listed = harness.s3.list_objects_v2(Bucket=PREPARED, Prefix=f"athena/runs/KR/{run_date}/")["Contents"]
    keys = [o["Key"] for o in listed if f"/{output}/" in o["Key"]]
    body = b"".join(harness.s3.get_object(Bucket=PREPARED, Key=k)["Body"].read() for k in keys)
    return [line for line in body.decode().splitlines() if line.strip()]


def _publish_invocations(harness) -> int:
    return sum(1 for handler, _ in harness.invocations if handler == "publish")


def test_a_full_day_loads_lists_profiles_items_and_segments_then_points_the_country_at_the_run(
    harness, small_invocations, pointer_writes
):
    _batch_output(harness, SUNDAY)

    execution = harness.run("KR", run_date=SUNDAY)

    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    states = execution.states_entered()
    assert states.index("Publish") > states.index("Report") and "WaitForPublish" in states
    assert _publish_invocations(harness) > 3  # the load resumed from its cursor several times
    items = _items(harness)
    for u in range(USERS):
        assert items[f"USER#KR#u{u}", f"LIST#{SUNDAY}"]["items"]["L"][0] == {"S": f"i{u % ITEMS}"}
    assert ("USER#KR#broken", f"LIST#{SUNDAY}") not in items  # Personalize's error line: no list
    assert ("USER#KR#u-no-output", f"LIST#{SUNDAY}") not in items
    note = execution.output["steps"]["publish"]["note"]
    assert "3 batch output lines skipped (Personalize errors or not a record)" in note, note
    assert items[rm.similar_pk("KR", "i3"), f"LIST#{SUNDAY}"]["items"]["L"] == [{"S": "i4"}]
    # the full day: every user of the run's users.csv has a profile; every item of items.csv its metadata
    users = _prepared_rows(harness, "users.csv", SUNDAY)
    assert users and all((rm.user_pk("KR", u), rm.PROFILE) in items for u in users)
    catalogue = _prepared_rows(harness, "items.csv", SUNDAY)
    assert catalogue and all((f"ITEM#{i}", rm.META) in items for i in catalogue)
    assert (rm.country_list_pk("KR"), f"LIST#{SUNDAY}") in items  # the country's list from cold_start
    # the legacy curation's list of every user the full day's batch job scored (its all_users input), from the
    # report step's UNLOAD under results/KR/<date>/curation/
    curated = {pk for pk, sk in items if sk == rm.curation_sk(date.fromisoformat(SUNDAY))}
    scored = {json.loads(line)["userId"] for line in _prepared_lines(harness, "all_users", SUNDAY)}
    assert scored and curated == {rm.user_pk("KR", u) for u in scored}
    assert all(items[pk, rm.curation_sk(date.fromisoformat(SUNDAY))]["items"]["L"] for pk in curated)
    report_jobs = execution.output["steps"]["report"]["jobs"]
    assert f"/KR/{SUNDAY}/curation/" in report_jobs["curation_lists"]["detail"]["location"]
    pointer = items["COUNTRY#KR", rm.CURRENT]
    assert pointer["run_date"]["S"] == SUNDAY
    assert pointer["report_key"]["S"] == f"KR/{SUNDAY}/report.html"
    assert pointer_writes == [SUNDAY]
    list_item = items[rm.user_pk("KR", "u1"), f"LIST#{SUNDAY}"]
    assert int(list_item[rm.EXPIRES_AT]["N"]) == rm.expires_at(
        __import__("datetime").date.fromisoformat(SUNDAY), rm.DEFAULT_TTL_DAYS
    )


def test_a_redrive_in_the_middle_of_a_load_finishes_it_and_moves_the_pointer_once(
    harness, small_invocations, pointer_writes, monkeypatch
):
    _batch_output(harness, SUNDAY)
    calls = {"n": 0}
    original = read_model_writer.write_batch

    def failing_mid_way(client, table, items):
        calls["n"] += 1
        if calls["n"] == 6:  # a few windows in: the table refuses once
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "scripted"}}, "BatchWriteItem")
        return original(client, table, items)

    monkeypatch.setattr(read_model_writer, "write_batch", failing_mid_way)

    failed = harness.run("KR", run_date=SUNDAY)

    assert failed.status == "FAILED", (failed.error, failed.cause)
    assert harness.failed_state(failed)[0] == "Publish"
    half = _items(harness)
    assert ("COUNTRY#KR", rm.CURRENT) not in half  # a half-loaded run is never pointed at
    resumed_from = json.loads(harness.failed_state(failed)[1])["steps"]["publish"]["jobs"]["load"]["detail"]
    assert resumed_from["part"] > 0 or resumed_from["offset"] > 0  # the redrive starts from the cursor

    resumed = harness.redrive(failed)

    assert resumed.status == "SUCCEEDED", (resumed.error, resumed.cause)
    items = _items(harness)
    assert all((rm.user_pk("KR", f"u{u}"), f"LIST#{SUNDAY}") in items for u in range(USERS))
    assert all((f"ITEM#{i}", rm.META) in items for i in _prepared_rows(harness, "items.csv", SUNDAY))
    assert pointer_writes == [SUNDAY]
    assert items["COUNTRY#KR", rm.CURRENT]["run_date"]["S"] == SUNDAY


def test_a_rerun_of_an_older_date_loads_its_lists_but_leaves_the_newer_run_served(harness, pointer_writes):
    _batch_output(harness, SUNDAY)
    _batch_output(harness, MONDAY, users=10)
    assert harness.run("KR", run_date=MONDAY).status == "SUCCEEDED"

    older = harness.run("KR", run_date=SUNDAY, force=True)

    assert older.status == "SUCCEEDED", (older.error, older.cause)
    items = _items(harness)
    assert items["COUNTRY#KR", rm.CURRENT]["run_date"]["S"] == MONDAY
    assert (rm.user_pk("KR", "u40"), f"LIST#{SUNDAY}") in items  # written under its own date, never served
    assert pointer_writes == [MONDAY, SUNDAY]  # tried, refused by the condition
    assert "pointer not moved" in older.output["steps"]["publish"]["note"]
