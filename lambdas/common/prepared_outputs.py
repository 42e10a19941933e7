"""The outputs of a preparation run: the vocabulary the recipe table, dataprep's SQL and the pipeline's steps share.

Kept apart from dataprep.queries (which renders their SQL and imports the recipe table) so that the recipe table
can name the output each batch job reads without an import circle.
"""

from __future__ import annotations

from enum import StrEnum


class Output(StrEnum):
    """Every output of a run; the value names the SQL file, the UNLOAD folder and `state.prepared`'s key."""

    INTERACTIONS = "interactions"
    INTERACTIONS_INCREMENTAL = "interactions_incremental"
    USERS = "users"
    ITEMS = "items"
    CHANGED_USERS = "changed_users"
    ALL_USERS = "all_users"
    ITEMS_BATCH = "items_batch"
    RANKING_INPUT = "ranking_input"
    COLD_START = "cold_start"
    COUNTS = "counts"
    QUALITY = "quality"
