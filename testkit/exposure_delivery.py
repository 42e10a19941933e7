"""A local stand-in of the exposure log's delivery (stacks/constructs/exposure_log.py): the log group's
subscription filter, the CloudWatch Logs payload it sends, and the Firehose stream's processors and S3 prefix.

moto's CloudWatch Logs treats a JSON filter pattern as matching everything and its Firehose neither runs
processors nor expands prefix expressions, so this module does, for exactly the forms the construct uses, and
refuses any other (a pattern or processor it does not know is an error, never a silent pass):
- the filter pattern `{ $.a.b = "*" }`: the event is a JSON object whose property a.b is a string;
- the payload: CloudWatch Logs sends a batch of events as gzip-compressed JSON (messageType DATA_MESSAGE, owner,
  logGroup, logStream, subscriptionFilters, logEvents [{id, timestamp, message}]);
- Decompression (GZIP) -> CloudWatchLogProcessing with DataMessageExtraction (the batch's messages, one a line;
  a CONTROL_MESSAGE carries none) -> AppendDelimiterToRecord (a newline after the record);
- the prefix's `!{timestamp:yyyy-MM-dd}` (the record's arrival, UTC) and the GZIP object compression.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_EXISTS = re.compile(r'^\{\s*\$\.([A-Za-z_][\w.]*)\s*=\s*"\*"\s*\}$')
_TIMESTAMP = re.compile(r"!\{timestamp:([^}]*)\}")
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}


def matches(pattern: str, message: str) -> bool:
    """Whether CloudWatch Logs' filter `pattern` (only the `{ $.path = "*" }` form) selects this log message."""
    found = _EXISTS.fullmatch(pattern.strip())
    if not found:
        raise ValueError(f"the stand-in knows only the '{{ $.path = \"*\" }}' filter form, got {pattern!r}")
    try:
        value: Any = json.loads(message)
    except json.JSONDecodeError:
        return False
    for part in found.group(1).split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return isinstance(value, str)


def subscription_records(
    pattern: str, messages: Iterable[str], *, log_group: str, filter_name: str, batch_size: int = 10
) -> list[bytes]:
    """The Firehose records CloudWatch Logs puts for these log messages: the matching ones, in gzip batches."""
    events = [
        {"id": str(n), "timestamp": 1_700_000_000_000 + n, "message": m}
        for n, m in enumerate(messages)
        if matches(pattern, m)
    ]
    return [
        gzip.compress(
            json.dumps(
                {
                    "messageType": "DATA_MESSAGE",
                    "owner": "123456789012",
                    "logGroup": log_group,
                    "logStream": "2026/11/16/[$LATEST]0123456789abcdef",
                    "subscriptionFilters": [filter_name],
                    "logEvents": events[start : start + batch_size],
                }
            ).encode()
        )
        for start in range(0, len(events), batch_size)
    ]


def control_record(log_group: str) -> bytes:
    """The message CloudWatch Logs sends to check that it can reach the destination (no log events)."""
    body = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": log_group,
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [],
    }
    return gzip.compress(json.dumps(body).encode())


def process(record: bytes, processors: Sequence[tuple[str, Mapping[str, str]]]) -> bytes:
    """One Firehose record through the stream's processors, in order."""
    data = record
    for kind, parameters in processors:
        if kind == "Decompression" and parameters == {"CompressionFormat": "GZIP"}:
            data = gzip.decompress(data)
        elif kind == "CloudWatchLogProcessing" and parameters == {"DataMessageExtraction": "true"}:
            payload = json.loads(data)
            messages = [e["message"] for e in payload["logEvents"]] if payload["messageType"] == "DATA_MESSAGE" else []
            data = "\n".join(messages).encode()
        elif kind == "AppendDelimiterToRecord" and not parameters:
            data += b"\n"
        else:
            raise ValueError(f"the stand-in does not know processor {kind} with {dict(parameters)}")
    return data


def object_prefix(prefix: str, arrival: datetime) -> str:
    """The prefix's `!{timestamp:...}` expressions at this arrival time (UTC); any other expression is refused."""

    def expand(found: re.Match[str]) -> str:
        pattern = found.group(1)
        for java, python in _JAVA_TO_STRFTIME.items():
            pattern = pattern.replace(java, python)
        return arrival.astimezone(UTC).strftime(pattern)

    expanded = _TIMESTAMP.sub(expand, prefix)
    if "!{" in expanded:
        raise ValueError(f"the stand-in expands only !{{timestamp:...}} in prefixes, got {prefix!r}")
    return expanded


def deliver(
    s3: Any,
    bucket: str,
    records: Sequence[bytes],
    *,
    processors: Sequence[tuple[str, Mapping[str, str]]],
    prefix: str,
    arrival: datetime,
) -> str:
    """One buffer of records processed, concatenated and written as one GZIP object; returns its key."""
    body = b"".join(process(record, processors) for record in records)
    key = f"{object_prefix(prefix, arrival)}exposures-1-{arrival:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body))
    return key
