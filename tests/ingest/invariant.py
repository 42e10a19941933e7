"""THE invariant every ingest test checks: each record of a batch ends in exactly one place."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from testkit.fakes.ingest import FakePersonalizeEvents, Record


@dataclass
class Outcome:
    response: dict[str, Any]
    delivered: list[str]  # sequence numbers, in the order PutEvents accepted them
    retried: list[str]
    dead_letters: dict[str, dict[str, Any]]  # sequence number -> DLQ message body
    client: FakePersonalizeEvents

    def events_by_call(self) -> list[list[str]]:
        return [[e["eventId"] for e in call["eventList"]] for call in self.client.accepted]


def assert_nothing_lost(records: list[Record], outcome_parts: dict[str, Any]) -> Outcome:
    """THE invariant: every record is delivered exactly once, or reported for retry, or dead-lettered."""
    client: FakePersonalizeEvents = outcome_parts["client"]
    response = outcome_parts["response"]
    assert client.shape_errors == [], f"PutEvents called with a shape botocore rejects: {client.shape_errors}"
    for call in client.calls:
        assert 1 <= len(call["eventList"]) <= 10, "PutEvents takes 1-10 events per call"

    by_event_id = {r.event_id: r.sequence_number for r in records if r.event_id is not None}
    accepted_ids = client.accepted_event_ids()
    duplicates = [i for i, n in Counter(accepted_ids).items() if n > 1]
    assert not duplicates, f"delivered twice in one invocation: {duplicates}"
    unknown = [i for i in accepted_ids if i not in by_event_id]
    assert not unknown, f"PutEvents got events that match no input record: {unknown}"
    delivered = [by_event_id[i] for i in accepted_ids]

    retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert len(set(retried)) == len(retried), "a record reported twice"
    dead = outcome_parts["dead_letters"]

    everything = [r.sequence_number for r in records]
    places = Counter(delivered) + Counter(retried) + Counter(dead.keys())
    lost = [s for s in everything if places[s] == 0]
    doubled = [s for s in everything if places[s] > 1]
    assert not lost, f"records neither delivered, retried nor dead-lettered: {lost}"
    assert not doubled, f"records in more than one place (delivered/retry/DLQ): {doubled}"
    assert set(places) == set(everything), "outcomes for records that were not in the batch"
    return Outcome(response, delivered, retried, dead, client)
