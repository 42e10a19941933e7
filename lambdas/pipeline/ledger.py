"""The run ledger (one DynamoDB table per env): run records, run locks, promoted versions, reported failures.

Items (pk, sk):
- `RUN#<CC>`, `<run date>`: the run record. `status` RUNNING while an execution holds the date (its ARN in
  `execution_arn`), then SUCCEEDED | SKIPPED | REJECTED | FAILED | TIMED_OUT | ABORTED, with step timings,
  job ARNs, counts, metrics, promoted versions and the failure (step, error, reason).
  A failure after Finish (an abort while notifying) is kept as `late_failure` and never changes the status.
  `reported` is the set of failures (job ARNs, step timeouts) already reported by failing the execution:
  when a replay meets one of them again it starts a new attempt instead of failing again.
  `attempt_series` (absent: 1) is how many series of attempts the date's jobs have been granted
  (pipeline.jobs.ensure_job); `attempt_series_by` the execution that started the latest one.
  `quarantined` keeps the raw values of fields that could not be decoded when an execution took the date over.
- `PROMOTED#<CC>`, `<recipe>`: the solution version now promoted and its metrics (the gate's baseline).
- `STATUS_CHANGE#<EventBridge event id>`, `recorder`: a status-change event the failure recorder took
  (pipeline/status_changes.py).
- `IMPORTED#<CC>`, `<dataset type>`: the last successful import (a first import must be FULL) and the digest of
  the schema it was imported under (a replaced schema makes the next import FULL). For Interactions its
  `run_date` is the high-water mark: partitions before it are in Personalize, and the next increment starts
  there (a skipped import, < 1,000 rows, does not move it: its rows are carried into the next increment).

How items are encoded and decoded (a field that cannot be decoded never crashes a reader): pipeline/ledger_codec.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from common import clients, clock
from pipeline.environment import environment
from pipeline.ledger_codec import decode_item, to_dynamo, undecodable_fields
from pipeline.model import Mode

DONE_STATUSES = frozenset({"SUCCEEDED", "SKIPPED", "REJECTED"})
USABLE_BASE = frozenset({"SUCCEEDED", "REJECTED"})  # runs whose imports and batch outputs completed


def table_name() -> str:
    return environment().ledger_table


def item_key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def run_key(country: str, run_date: date | str) -> dict[str, Any]:
    return item_key(f"RUN#{country}", str(run_date))


def _get_run_item(country: str, run_date: date | str) -> dict[str, Any] | None:
    response = clients.dynamodb().get_item(TableName=table_name(), Key=run_key(country, run_date), ConsistentRead=True)
    item: dict[str, Any] | None = response.get("Item")
    return item


def get_run(country: str, run_date: date | str) -> dict[str, Any] | None:
    """The run record; fields that cannot be decoded are left out and named under MALFORMED."""
    item = _get_run_item(country, run_date)
    return decode_item(item, partial=True) if item is not None else None


def claim_run(country: str, run_date: date, execution_arn: str, holder_is_running) -> tuple[bool, str]:
    """Take the (country, run date) lock for `execution_arn`. Returns (admitted, reason if not).

    A lock held by an execution that is no longer running (failed, aborted, timed out) is taken over;
    `holder_is_running(arn)` asks Step Functions. The write is conditional on what was read, so two
    executions starting at once cannot both be admitted. Fields of the record that cannot be decoded are moved,
    raw, into `quarantined` (with why and by whom), so the new run's record is readable and nothing is lost.
    """
    item = _get_run_item(country, run_date)
    current = decode_item(item, partial=True) if item is not None else None
    holder = current.get("execution_arn") if current else None
    # Whatever the record says: a FAILED run being redriven is running again under the same execution.
    if current and holder != execution_arn and holder_is_running(holder):
        return False, f"execution {holder} is already running {country} {run_date}"
    names = {"#status": "status"}
    now = clock.now().isoformat()
    values: dict[str, Any] = {
        ":running": {"S": "RUNNING"},
        ":me": {"S": execution_arn},
        ":now": {"S": now},
    }
    assignments = "SET #status = :running, execution_arn = :me, updated_at = :now, started_at = :now"
    removed = {"failure"}
    if item is None:
        condition = "attribute_not_exists(pk)"
    else:
        if "execution_arn" in item:
            condition = "execution_arn = :previous"
            values[":previous"] = item["execution_arn"]
        else:
            condition = "attribute_not_exists(execution_arn)"
        bad = undecodable_fields(item)
        if bad:
            kept = (current or {}).get("quarantined") or []
            kept += [
                {"field": field, "value": item[field], "problem": why, "by": execution_arn, "at": now}
                for field, why in bad.items()
            ]
            assignments += ", quarantined = :quarantined"
            values[":quarantined"] = to_dynamo(kept)
            # A field the claim sets anyway (status, execution_arn) is overwritten rather than removed.
            removed |= set(bad) - {"status", "execution_arn", "quarantined"}
    for index, field in enumerate(sorted(removed)):
        names[f"#gone{index}"] = field
    update = f"{assignments} REMOVE {', '.join(f'#gone{i}' for i in range(len(removed)))}"
    try:
        clients.dynamodb().update_item(
            TableName=table_name(),
            Key=run_key(country, run_date),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False, f"another execution claimed {country} {run_date} at the same time"
        raise
    return True, ""


def attempt_series(record: dict[str, Any] | None) -> int:
    """The attempt series a run record grants its date's jobs (1 until a fresh series was started)."""
    series = (record or {}).get("attempt_series")
    return series if isinstance(series, int) and series >= 1 else 1


def start_attempt_series(country: str, run_date: date | str, execution_arn: str) -> int:
    """Grant the date's jobs a fresh series of attempts, once per execution (a retried or redriven BeginRun gets
    the series its execution started); only the lock holder may. Returns the series now in force."""
    try:
        response = clients.dynamodb().update_item(
            TableName=table_name(),
            Key=run_key(country, run_date),
            UpdateExpression="SET attempt_series = if_not_exists(attempt_series, :one) + :one, attempt_series_by = :me",
            ConditionExpression="execution_arn = :me AND "
            "(attribute_not_exists(attempt_series_by) OR attempt_series_by <> :me)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":me": {"S": execution_arn}},
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        record = get_run(country, run_date) or {}
        if record.get("execution_arn") != execution_arn:
            raise RuntimeError(
                f"{execution_arn} no longer holds {country} {run_date}: no attempt series started"
            ) from None
        return attempt_series(record)  # this execution started it already
    return int(response["Attributes"]["attempt_series"]["N"])


def write_run(
    country: str, run_date: date | str, record: dict[str, Any], *, execution_arn: str, unless_done: bool = False
) -> None:
    """Write the run record's fields (keeps `reported`); only the lock holder may write it.

    `unless_done`: not over a record that is already SUCCEEDED / SKIPPED / REJECTED (the failure recorder: an
    execution that fails or is aborted after Finish recorded its run must not turn that run into a failed one,
    or a rerun would train again). Refused writes raise ConditionalCheckFailedException.
    """
    fields = {k: v for k, v in record.items() if k not in ("pk", "sk", "reported")}
    fields["updated_at"] = clock.now().isoformat()
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":v{i}": to_dynamo(value) for i, value in enumerate(fields.values())}
    values[":me"] = {"S": execution_arn}
    assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
    condition = "(attribute_not_exists(execution_arn) OR execution_arn = :me)"
    if unless_done:
        names["#status_now"] = "status"
        done = sorted(DONE_STATUSES)
        values.update({f":done{i}": {"S": status} for i, status in enumerate(done)})
        condition += f" AND NOT #status_now IN ({', '.join(f':done{i}' for i in range(len(done)))})"
    clients.dynamodb().update_item(
        TableName=table_name(),
        Key=run_key(country, run_date),
        UpdateExpression=f"SET {assignments}",
        ConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def was_reported(country: str, run_date: date | str, marker: str) -> bool:
    run = get_run(country, run_date) or {}
    return marker in (run.get("reported") or [])


def mark_reported(country: str, run_date: date | str, marker: str) -> None:
    clients.dynamodb().update_item(
        TableName=table_name(),
        Key=run_key(country, run_date),
        UpdateExpression="ADD reported :marker",
        ExpressionAttributeValues={":marker": {"SS": [marker]}},
    )


def runs(country: str, *, since: date | None = None, until: date | None = None, newest_first: bool = True):
    """Run records of one country, optionally between two dates (inclusive)."""
    values: dict[str, Any] = {":pk": {"S": f"RUN#{country}"}}
    condition = "pk = :pk"
    if since and until:
        condition += " AND sk BETWEEN :since AND :until"
        values[":since"], values[":until"] = {"S": str(since)}, {"S": str(until)}
    elif since:
        condition += " AND sk >= :since"
        values[":since"] = {"S": str(since)}
    elif until:
        condition += " AND sk <= :until"
        values[":until"] = {"S": str(until)}
    kwargs: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": not newest_first,
    }
    while True:
        page = clients.dynamodb().query(**kwargs)
        for item in page.get("Items", []):
            yield decode_item(item, partial=True)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def previous_success(country: str, before: date) -> date | None:
    """The latest run date before `before` whose run completed its imports (the changed-users baseline)."""
    for run in runs(country, until=before, newest_first=True):
        if run["sk"] != str(before) and run.get("status") in USABLE_BASE:
            return date.fromisoformat(run["sk"])
    return None


RUNNING = "RUNNING"  # the status claim_run writes while an execution holds its date


def last_full_training(country: str, before: date, *, since: date) -> date | None:
    """The latest run date in [since, before) whose run trained FULL: mode FULL and ended SUCCEEDED or REJECTED
    (the gate judged its new versions). A run that still holds its date counts too: its mode is recorded only
    when it ends, it may be training FULL (for up to two days), and once it ends the next run decides. A FULL
    run that failed, timed out, was aborted or skipped (too little data) trained nothing."""
    for run in runs(country, since=since, until=before, newest_first=True):
        if run["sk"] == str(before):
            continue
        status = run.get("status")
        if status == RUNNING or (run.get("mode") == Mode.FULL.value and status in USABLE_BASE):
            return date.fromisoformat(run["sk"])
    return None


def promoted(country: str, recipe: str) -> dict[str, Any] | None:
    response = clients.dynamodb().get_item(
        TableName=table_name(), Key=item_key(f"PROMOTED#{country}", recipe), ConsistentRead=True
    )
    return decode_item(response["Item"]) if "Item" in response else None


def set_promoted(country: str, recipe: str, version_arn: str, metrics: dict[str, float], run_date: date) -> None:
    item = {
        **item_key(f"PROMOTED#{country}", recipe),
        "solution_version_arn": {"S": version_arn},
        "metrics": to_dynamo(metrics),
        "run_date": {"S": str(run_date)},
        "updated_at": {"S": clock.now().isoformat()},
    }
    clients.dynamodb().put_item(TableName=table_name(), Item=item)


def last_import(country: str, dataset_type: str) -> dict[str, Any] | None:
    response = clients.dynamodb().get_item(
        TableName=table_name(), Key=item_key(f"IMPORTED#{country}", dataset_type), ConsistentRead=True
    )
    return decode_item(response["Item"]) if "Item" in response else None


def set_imported(
    country: str, dataset_type: str, run_date: date, mode: str, job_arn: str, schema_digest: str | None = None
) -> None:
    item = {
        **item_key(f"IMPORTED#{country}", dataset_type),
        "run_date": {"S": str(run_date)},
        "mode": {"S": mode},
        "job_arn": {"S": job_arn},
    }
    if schema_digest:
        item["schema_digest"] = {"S": schema_digest}
    clients.dynamodb().put_item(TableName=table_name(), Item=item)


def interactions_imported_before(country: str, run_date: date) -> date | None:
    """The interactions high-water mark for a run of `run_date`: the run date of the last interactions import
    that ran (FULL or INCREMENTAL), never after `run_date` (a rerun of an older date starts from its own date:
    whatever came later is imported already, and an INCREMENTAL import appends)."""
    last = last_import(country, "Interactions")
    if not last or not last.get("run_date"):
        return None
    return min(date.fromisoformat(last["run_date"]), run_date)
