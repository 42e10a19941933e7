"""Status-change events the failure recorder handled, kept in the run ledger so each is recorded once.

Item `STATUS_CHANGE#<EventBridge event id>`, `recorder`: `state` CLAIMED while an invocation records the event (until
`claimed_until`, epoch seconds), then RECORDED; a copy of the event delivered again finds it and is not recorded,
notified or counted twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from common import clients, clock
from pipeline.ledger import item_key, table_name

STATUS_CHANGE_CLAIMED = "CLAIMED"
STATUS_CHANGE_RECORDED = "RECORDED"


def _status_change_key(event_id: str) -> dict[str, Any]:
    return item_key(f"STATUS_CHANGE#{event_id}", "recorder")


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
