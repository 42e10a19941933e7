"""A run record the code cannot decode is reported as malformed, in one line naming its key, by every command
and by BeginRun; it never crashes them; `force` (BeginRun) and `rerun --force` take the date over and keep the
values that could not be read."""

from __future__ import annotations

import boto3
import pytest
from replay_fakes import SUNDAY

from pipeline import ledger, ledger_codec
from testkit.pipeline_harness import REGION

SATURDAY = "2026-11-14"
BROKEN_JSON = '{"train": {"status": "SUCC'


def corrupt(world, field: str, value: dict, country: str = "KR", run_date: str = SUNDAY) -> None:
    """What a hand edit gone wrong leaves in the ledger: `field` of the run record set to a raw DynamoDB value."""
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=world.harness.ledger_table,
        Key=ledger.run_key(country, run_date),
        UpdateExpression="SET #f = :v",
        ExpressionAttributeNames={"#f": field},
        ExpressionAttributeValues={":v": value},
    )


def one_line_naming_the_key(text: str, field: str, country: str = "KR", run_date: str = SUNDAY) -> bool:
    return len(text.strip().splitlines()) == 1 and f"RUN#{country} {run_date}" in text and field in text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"S": BROKEN_JSON}, "is not valid JSON"),
        ({"S": '"trained"'}, "is not a JSON object"),
        ({"N": "3"}, "is not a JSON object"),
    ],
)
def test_a_field_that_cannot_be_decoded_is_named_and_the_rest_is_kept(value, problem):
    item = {**ledger.run_key("KR", SUNDAY), "status": {"S": "FAILED"}, "steps": value}

    with pytest.raises(ledger_codec.MalformedRecord) as raised:
        ledger_codec.decode_item(item)
    partial = ledger_codec.decode_item(item, partial=True)

    assert str(raised.value).startswith(f"ledger record RUN#KR {SUNDAY} is malformed: steps {problem}")
    assert len(str(raised.value).splitlines()) == 1
    assert partial["status"] == "FAILED" and "steps" not in partial
    assert partial[ledger_codec.MALFORMED] == str(raised.value)


def test_list_and_show_report_a_malformed_record_and_go_on(world):
    assert world.run("KR", SATURDAY)["status"] == "SUCCEEDED"
    assert world.run("KR", SUNDAY)["status"] == "SUCCEEDED"
    corrupt(world, "steps", {"S": BROKEN_JSON})

    listed = world.cli("list", "--output", "json")
    table = world.cli("list")
    shown = world.cli("show", f"KR:{SUNDAY}")

    assert listed.code == 0, listed.err
    rows = {r["run_date"]: r for r in listed.json()}
    assert rows[SATURDAY]["status"] == "SUCCEEDED" and rows[SUNDAY]["status"] == "MALFORMED"
    assert one_line_naming_the_key(rows[SUNDAY]["reason"], "steps")
    assert table.code == 0 and "MALFORMED" in table.out
    assert shown.code == 0, shown.err
    assert f"KR {SUNDAY}  MALFORMED" in shown.out
    assert f"ledger record RUN#KR {SUNDAY} is malformed: steps is not valid JSON" in shown.out
    assert f"personalize-runs rerun --env dev --country KR --date {SUNDAY} --force" in shown.out
    assert world.cli("list", "--status", "malformed", "--output", "json").json() == [rows[SUNDAY]]


def test_redrive_and_rerun_refuse_a_malformed_record_and_force_takes_the_date_over(world):
    world.fail_at("train")
    failed = world.run("KR", SUNDAY)["executionArn"]
    corrupt(world, "failure", {"S": "{not json"})

    redrive = world.cli("redrive", f"KR:{SUNDAY}", "--yes")
    redrive_by_arn = world.cli("redrive", failed, "--yes")
    rerun = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--yes", "--output", "json")

    for refused in (redrive, redrive_by_arn):
        assert refused.code == 3, refused.err
        assert one_line_naming_the_key(refused.err, "failure") and "--force" in refused.err
    assert rerun.code == 0, rerun.err
    ((item),) = rerun.json()["items"]
    assert item["action"] == "skip" and "is malformed: failure is not valid JSON" in item["reason"]
    assert "--force takes the date over" in item["reason"]
    assert world.sfn.redrive_calls == [] and len(world.executions()) == 1

    forced = world.cli("rerun", "--country", "KR", "--date", SUNDAY, "--force", "--yes", "--wait")

    assert forced.code == 0, forced.out + forced.err
    record = world.ledger()
    assert record["status"] == "SUCCEEDED" and ledger_codec.MALFORMED not in record
    assert record["execution_arn"].endswith(f":KR-{SUNDAY}-rerun-1")
    (kept,) = record["quarantined"]
    assert kept["field"] == "failure" and kept["value"] == {"S": "{not json"}
    assert "is not valid JSON" in kept["problem"] and kept["by"] == record["execution_arn"]
    shown = world.cli("show", f"KR:{SUNDAY}", "--output", "json").json()
    assert shown["quarantined"] == record["quarantined"]
    assert any("kept in the record's quarantined list (failure)" in note for note in shown["notes"])
    assert world.harness.personalize.duplicate_create_attempts() == []


def test_begin_run_refuses_a_malformed_record_clearly_and_takes_it_over_with_force(world):
    first = world.run("KR", SUNDAY)["executionArn"]
    corrupt(world, "gate", {"S": "[{"})
    world.harness.notifications()  # the first run's

    refused = world.run("KR", SUNDAY)

    assert refused["status"] == "FAILED" and refused["error"] == "LedgerRecordMalformed"
    assert f"RUN#KR {SUNDAY} is malformed: gate is not valid JSON" in refused["cause"]
    assert "start the date with force" in refused["cause"]
    record = world.ledger()
    assert record["execution_arn"] == first and "gate is not valid JSON" in record[ledger_codec.MALFORMED]
    (notice,) = world.harness.notifications()  # the failure recorder went through
    assert "LedgerRecordMalformed" in notice["message"] or "malformed" in notice["message"]

    taken = world.run("KR", SUNDAY, force=True)

    assert taken["status"] == "SUCCEEDED", taken.get("cause")
    record = world.ledger()
    assert record["execution_arn"] == taken["executionArn"] and record["status"] == "SUCCEEDED"
    assert isinstance(record["gate"], list) and ledger_codec.MALFORMED not in record
    assert [(q["field"], q["value"]) for q in record["quarantined"]] == [("gate", {"S": "[{"})]
