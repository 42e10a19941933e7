"""Counts of one preparation run and the minimum-data guard in front of import and training."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Personalize minimums: every import job and every training needs >= 1,000 interaction records; training
# also needs >= 25 users with >= 2 interactions each (see /work/shared/notes/personalize.md).
MIN_INTERACTIONS = 1000
MIN_USERS_WITH_2_INTERACTIONS = 25


class Counts(BaseModel):
    """One row of counts.sql. `dropped_*` cover the whole window (all countries), see docs/data-layout.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interactions: int = Field(ge=0)
    users: int = Field(
        ge=0, description="distinct users with interactions in the window (= rows of all_users)"
    )
    users_with_2_interactions: int = Field(ge=0)
    items: int = Field(ge=0, description="rows of the prepared items file (shared catalogue)")
    interacted_items: int = Field(ge=0)
    country_users: int = Field(ge=0, description="rows of the prepared users file")
    changed_users: int = Field(ge=0, description="rows of the changed-users batch input")
    # The pipeline imports interactions_incremental only when this reaches MIN_INTERACTIONS: Personalize
    # rejects smaller import jobs, INCREMENTAL ones too.
    new_interactions: int = Field(
        ge=0, description="rows of interactions_incremental: interactions first seen since the last run"
    )
    duplicates_removed: int = Field(ge=0)
    dropped_missing_ids: int = Field(ge=0)
    dropped_unparsable_timestamp: int = Field(ge=0)
    dropped_unknown_country: int = Field(ge=0)
    items_dropped_unparsable_timestamp: int = Field(ge=0)
    items_with_unmapped_genre: int = Field(ge=0)
    # Lines of the raw files that are not one well-formed CSV record (quality.sql, the same on Athena and
    # DuckDB); filled from the data-quality result, see dataprep.quality.
    malformed_csv_rows: int = Field(default=0, ge=0)
    # The country's kept rows in the window's last partition (run_date - 1) and the one before: rows one day and
    # none the next means an export went missing (dataprep.quality's missing-day check).
    last_day_rows: int = Field(default=0, ge=0)
    day_before_rows: int = Field(default=0, ge=0)

    def meets_minimum(self) -> tuple[bool, str]:
        """(True, "") when Personalize can import and train on this data, else (False, why)."""
        problems = []
        if self.interactions < MIN_INTERACTIONS:
            problems.append(f"{self.interactions} interactions < {MIN_INTERACTIONS}")
        if self.users_with_2_interactions < MIN_USERS_WITH_2_INTERACTIONS:
            problems.append(
                f"{self.users_with_2_interactions} users with >= 2 interactions"
                f" < {MIN_USERS_WITH_2_INTERACTIONS}"
            )
        return (not problems, "; ".join(problems))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Counts:
        # NULL from an aggregate over nothing means zero.
        return cls.model_validate({key: (0 if value is None else value) for key, value in row.items()})

    @classmethod
    def from_athena_result(cls, response: dict[str, Any]) -> Counts:
        """Parse a GetQueryResults response of counts.sql: first row is the header, second the values."""
        rows = response.get("ResultSet", {}).get("Rows", [])
        if len(rows) != 2:
            raise ValueError(f"counts query must return a header and exactly one row, got {len(rows)} rows")
        names = [cell.get("VarCharValue") for cell in rows[0]["Data"]]
        values = [cell.get("VarCharValue") for cell in rows[1]["Data"]]
        if len(names) != len(values):
            raise ValueError("counts result: header and values differ in length")
        return cls.from_row(dict(zip(names, values, strict=True)))
