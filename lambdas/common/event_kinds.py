"""The kinds of user event this app knows: the one place their names are spelled.

A value is the `event_type` of a real-time record (ingest.events, docs/event-contract.md), the EVENT_TYPE of the
prepared Interactions data (dataprep's SQL) and what the filters name (`Interactions.EVENT_TYPE IN (...)`), so
a batch-trained and a real-time event of one kind are the same event type to Personalize. Raw export tables
(`purchases`, `views`) are another vocabulary: dataprep.queries maps each to its kind.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    # In the order the contract lists them (a refused record's message names them in this order).
    VIEW = "view"
    PURCHASE = "purchase"
