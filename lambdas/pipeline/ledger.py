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
- `STATUS_CHANGE#<EventBridge event id>`, `recorder`: a status-change event the failure recorder took:
  `state` CLAIMED while an invocation records it (until `claimed_until`, epoch seconds), then RECORDED; a copy
  of the event delivered again finds it and is not recorded, notified or counted twice.
- `IMPORTED#<CC>`, `<dataset type>`: the last successful import (a first import must be FULL) and the digest of
  the schema it was imported under (a replaced schema makes the next import FULL). For Interactions its
  `run_date` is the high-water mark: partitions before it are in Personalize, and the next increment starts
  there (a skipped import, < 1,000 rows, does not move it: its rows are carried into the next increment).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from common import clients, clock
from pipeline.environment import environment
from pipeline.model import Mode

DONE_STATUSES = frozenset({"SUCCEEDED", "SKIPPED", "REJECTED"})
USABLE_BASE = frozenset({"SUCCEEDED", "REJECTED"})  # runs whose imports and batch outputs completed


def table_name() -> str:
    return environment().ledger_table


def _to_dynamo(value: Any) -> dict[str, Any]:
    """Plain JSON values as DynamoDB attribute values (nested documents are stored as JSON strings)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, (date, datetime)):
        return {"S": value.isoformat()}
    if isinstance(value, str):
        return {"S": value}
    return {"S": json.dumps(value, default=str, sort_keys=True)}


# Fields stored as JSON strings, and the JSON type each holds (null is allowed for all).
_JSON_FIELDS: dict[str, type] = {
    "steps": dict,
    "counts": dict,
    "data_quality": dict,
    "metrics": dict,
    "promoted": dict,
    "failure": dict,
    "earlier_failure": dict,
    "late_failure": dict,
    "jobs": dict,
    "gate": list,
    "new_metrics": dict,
    "training": dict,
    "cold_start": dict,
    "quarantined": list,
}
_JSON_NAMES: dict[type, str] = {dict: "a JSON object", list: "a JSON array"}
# Fields the ledger's own conditions and the readers compare as strings.
_STRING_FIELDS = frozenset({"pk", "sk", "status", "execution_arn"})

# Key a partially decoded record carries when some of its fields could not be decoded: one line naming the
# item's key and each such field (`decode_item(..., partial=True)`).
MALFORMED = "malformed"


class MalformedRecord(ValueError):
    """A ledger item with fields the code cannot decode (a hand edit gone wrong, a foreign writer)."""


class _Undecodable(ValueError):
    pass


def _decode_value(key: str, value: dict[str, Any]) -> Any:
    ((kind, raw),) = value.items()
    expected = _JSON_FIELDS.get(key)
    if expected is not None and kind != "NULL":
        if kind != "S":
            raise _Undecodable(f"is not {_JSON_NAMES[expected]}")
        try:
            decoded = json.loads(raw)
        except ValueError as error:
            raise _Undecodable(f"is not valid JSON ({error})") from None
        if decoded is not None and not isinstance(decoded, expected):
            raise _Undecodable(f"is not {_JSON_NAMES[expected]}")
        return decoded
    if key in _STRING_FIELDS and kind != "S":
        raise _Undecodable("is not a string")
    if kind == "S":
        return raw
    if kind == "N":
        number = Decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NULL":
        return None
    if kind == "SS":
        return sorted(raw)
    return raw  # BOOL, and kinds the ledger does not write, as they are


def undecodable_fields(item: dict[str, Any]) -> dict[str, str]:
    """Field -> why it cannot be decoded, for each field of a raw DynamoDB item that cannot."""
    problems: dict[str, str] = {}
    for key, value in item.items():
        try:
            _decode_value(key, value)
        except _Undecodable as why:
            problems[key] = str(why)
    return problems


def decode_item(item: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """A raw DynamoDB item as plain values. A field that cannot be decoded raises MalformedRecord, whose message is
    one line naming the item's key and the field; `partial`: leave such fields out and put that line under
    MALFORMED instead (readers that must go on: the tool, BeginRun, the failure recorder)."""
    out: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in item.items():
        try:
            out[key] = _decode_value(key, value)
        except _Undecodable as why:
            problems[key] = str(why)
    if problems:
        where = " ".join(str(item.get(part, {}).get("S", "?")) for part in ("pk", "sk"))
        line = f"ledger record {where} is malformed: " + "; ".join(f"{k} {why}" for k, why in problems.items())
        if not partial:
            raise MalformedRecord(" ".join(line.split()))
        out[MALFORMED] = " ".join(line.split())
    return out


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def run_key(country: str, run_date: date | str) -> dict[str, Any]:
    return _key(f"RUN#{country}", str(run_date))


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
            values[":quarantined"] = _to_dynamo(kept)
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
            UpdateExpression="SET attempt_series = if_not_exists(attempt_series, :one) + :one, "
            "attempt_series_by = :me",
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
    values = {f":v{i}": _to_dynamo(value) for i, value in enumerate(fields.values())}
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
        TableName=table_name(), Key=_key(f"PROMOTED#{country}", recipe), ConsistentRead=True
    )
    return decode_item(response["Item"]) if "Item" in response else None


def set_promoted(country: str, recipe: str, version_arn: str, metrics: dict[str, float], run_date: date) -> None:
    item = {
        **_key(f"PROMOTED#{country}", recipe),
        "solution_version_arn": {"S": version_arn},
        "metrics": _to_dynamo(metrics),
        "run_date": {"S": str(run_date)},
        "updated_at": {"S": clock.now().isoformat()},
    }
    clients.dynamodb().put_item(TableName=table_name(), Item=item)


def last_import(country: str, dataset_type: str) -> dict[str, Any] | None:
    response = clients.dynamodb().get_item(
        TableName=table_name(), Key=_key(f"IMPORTED#{country}", dataset_type), ConsistentRead=True
    )
    return decode_item(response["Item"]) if "Item" in response else None


def set_imported(
    country: str, dataset_type: str, run_date: date, mode: str, job_arn: str, schema_digest: str | None = None
) -> None:
    item = {
        **_key(f"IMPORTED#{country}", dataset_type),
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


# ------------------------------------------------------------- status changes the failure recorder handled

STATUS_CHANGE_CLAIMED = "CLAIMED"
STATUS_CHANGE_RECORDED = "RECORDED"


def _status_change_key(event_id: str) -> dict[str, Any]:
    return _key(f"STATUS_CHANGE#{event_id}", "recorder")


def claim_status_change(event_id: str, execution_arn: str, until: datetime) -> str | None:
    """Take one status-change event (its EventBridge id) for recording until `until` (the invocation's deadline).

    Returns None when this invocation holds it now; otherwise the `state` of the claim that does: RECORDED (a
    copy delivered again), or CLAIMED by an invocation that may still be recording it. A claim whose invocation
    ended without a word (a crash, a timeout) is taken over once its deadline has passed."""
    now = clock.now()
    try:
        clients.dynamodb().update_item(
            TableName=table_name(),
            Key=_status_change_key(event_id),
            UpdateExpression="SET #state = :claimed, claimed_until = :until, execution_arn = :arn, updated_at = :now",
            ConditionExpression="attribute_not_exists(pk) OR (#state = :claimed AND claimed_until <= :now_epoch)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":claimed": {"S": STATUS_CHANGE_CLAIMED},
                ":until": {"N": str(until.timestamp())},
                ":arn": {"S": execution_arn},
                ":now": {"S": now.isoformat()},
                ":now_epoch": {"N": str(now.timestamp())},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        response = clients.dynamodb().get_item(
            TableName=table_name(), Key=_status_change_key(event_id), ConsistentRead=True
        )
        state: str = response.get("Item", {}).get("state", {}).get("S", STATUS_CHANGE_CLAIMED)
        return state
    return None


def release_status_change(event_id: str) -> None:
    """Give a claim up (recording it failed): the next delivery of the event may take it at once."""
    clients.dynamodb().update_item(
        TableName=table_name(),
        Key=_status_change_key(event_id),
        UpdateExpression="SET claimed_until = :now_epoch",
        ConditionExpression="#state = :claimed",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={
            ":claimed": {"S": STATUS_CHANGE_CLAIMED},
            ":now_epoch": {"N": str(clock.now().timestamp())},
        },
    )


def status_change_recorded(event_id: str) -> None:
    """The event is handled: every later delivery of it is a copy."""
    clients.dynamodb().update_item(
        TableName=table_name(),
        Key=_status_change_key(event_id),
        UpdateExpression="SET #state = :recorded, recorded_at = :now",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={
            ":recorded": {"S": STATUS_CHANGE_RECORDED},
            ":now": {"S": clock.now().isoformat()},
        },
    )
