"""The Kinesis record as delivery and the dead letters see it, whoever parsed the Lambda event (the handler,
the replay command)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """What delivery needs from a Kinesis record, independent of how the Lambda event was parsed."""

    sequence_number: str
    data: str  # base64, as Lambda delivers Kinesis data
    partition_key: str = ""
    shard_id: str = ""
    source_arn: str = ""
    approximate_arrival: float | None = None
