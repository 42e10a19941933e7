"""Read the run ledger (DynamoDB, one table per env) with the tool's own client.

The item layout and the decoding belong to the pipeline (lambdas/pipeline/ledger.py, ledger_codec.py); this reuses
its key and decoding functions so both always agree, and only adds the client, the table name and paging. Records are
decoded partially: a field that cannot be decoded is left out and named under `MALFORMED`, so one bad record never
stops the tool.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from pipeline.ledger import run_key
from pipeline.ledger_codec import decode_item  # the writer's own decoding: one format, one place
from tools.replay.aws import error_code
from tools.replay.errors import NotFound


class Ledger:
    def __init__(self, client: Any, table: str, where: str = "") -> None:
        self.client = client
        self.table = table
        self.where = where

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                raise NotFound(
                    f"run ledger table {self.table} not found ({self.where}): is this env deployed "
                    "in this account and region? (check --env, --profile, --region)"
                ) from None
            raise

    def get_run(self, country: str, run_date: date | str) -> dict[str, Any] | None:
        response = self._call("get_item", Key=run_key(country, run_date), ConsistentRead=True)
        return decode_item(response["Item"], partial=True) if "Item" in response else None

    def runs(
        self, country: str, *, since: date | None = None, until: date | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Run records of one country, newest run date first, between two dates (inclusive)."""
        values: dict[str, Any] = {":pk": {"S": f"RUN#{country}"}}
        condition = "pk = :pk"
        if since or until:
            condition += " AND sk BETWEEN :since AND :until"
            values[":since"] = {"S": str(since or "0000-00-00")}
            values[":until"] = {"S": str(until or "9999-99-99")}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._call("query", **kwargs)
            found.extend(decode_item(item, partial=True) for item in page.get("Items", []))
            if (limit and len(found) >= limit) or "LastEvaluatedKey" not in page:
                return found[:limit] if limit else found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
