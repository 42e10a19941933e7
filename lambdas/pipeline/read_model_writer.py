"""Writes read-model items to DynamoDB: BatchWriteItem in batches of 25 from a pool of threads, unprocessed items
retried with backoff, and the country pointer's conditional write.

The DynamoDB API reference (BatchWriteItem): a call carries "up to 25 item put or delete operations"; failed
operations "are returned in the UnprocessedItems response parameter", and "If DynamoDB returns any unprocessed
items, you should retry the batch operation on those items. However, we strongly recommend that you use an
exponential backoff algorithm."
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from pipeline.publishing import Item
from serving import read_model as rm

BATCH_SIZE = 25  # BatchWriteItem's maximum number of requests per call
MAX_ATTEMPTS = 8  # per batch: unprocessed items retried after 0.05 .. 3.2 s (full jitter)
BASE_DELAY_S, MAX_DELAY_S = 0.05, 3.2
WORKERS = 16  # parallel BatchWriteItem calls per invocation (bench/bench_publish.py measures the rate)


class ReadModelThrottled(RuntimeError):
    """Items stayed unprocessed after every retry (the table throttled the load): the step fails and a redrive
    resumes from its last recorded part and offset."""


def _key(item: Item) -> tuple[str, str]:
    return item[rm.PK]["S"], item[rm.SK]["S"]


def batches(items: Sequence[Item]) -> list[list[Item]]:
    """Batches of at most 25 items with distinct keys (BatchWriteItem refuses a call naming one key twice: the
    last item of a key wins, as writing them in order would leave it)."""
    unique = {_key(item): item for item in items}
    values = list(unique.values())
    return [values[i : i + BATCH_SIZE] for i in range(0, len(values), BATCH_SIZE)]


def write_batch(client: Any, table: str, items: list[Item]) -> int:
    """Write one batch; returns the number of calls it took."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(MAX_ATTEMPTS):
        response = client.batch_write_item(RequestItems={table: pending})
        pending = response.get("UnprocessedItems", {}).get(table, [])
        if not pending:
            return attempt + 1
        time.sleep(random.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt)))
    raise ReadModelThrottled(f"{len(pending)} item(s) still unprocessed after {MAX_ATTEMPTS} BatchWriteItem calls")


class Writer:
    """A pool of BatchWriteItem writers; `write(items)` returns once every item is written (or raises)."""

    def __init__(self, client: Any, table: str, workers: int = WORKERS) -> None:
        self.client, self.table = client, table
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish")
        self.calls = 0

    def write(self, items: Sequence[Item]) -> None:
        futures = [self.pool.submit(write_batch, self.client, self.table, batch) for batch in batches(items)]
        self.calls += sum(future.result() for future in futures)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def move_pointer(client: Any, table: str, item: Item) -> bool:
    """Point the country at this run unless a newer run already is: False (and nothing written) then. The same
    date again writes the same pointer (a rerun or redrive)."""
    try:
        client.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(#pk) OR #run_date <= :run_date",
            ExpressionAttributeNames={"#pk": rm.PK, "#run_date": "run_date"},
            ExpressionAttributeValues={":run_date": item["run_date"]},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
