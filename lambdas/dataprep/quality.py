"""Data quality of one preparation run (quality.sql) and the thresholds that fail the run.

The quality query returns one row per raw table (every file summed) and one per file with a problem (worst
first, at most `queries.MAX_LISTED_FILES`). `DataQuality` is what counts.json (`data_quality`) and the
Prepare step's output (`RunState.data_quality`) carry; `check` turns threshold violations into one line that
names the file, the reason and the count. No third-party imports besides pydantic (runs in the Lambda).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dataprep.counts import Counts

# Reasons a raw row is dropped, in the order the SQL checks them (malformed first: it never becomes a row; then
# bytes no import may carry: not UTF-8, a control byte).
DROP_REASONS: tuple[str, ...] = (
    "malformed_csv",
    "invalid_utf8",
    "control_character",
    "missing_ids",
    "unknown_country",
    "unparsable_timestamp",
    "duplicate",
)
# Duplicates are exact copies: nothing is lost, so they do not count towards max_dropped_share.
LOSS_REASONS: tuple[str, ...] = tuple(r for r in DROP_REASONS if r != "duplicate")
DEFAULT_MAX_DROPPED_SHARE = 0.02


class QualityThresholds(BaseModel):
    """Thresholds that fail the Prepare step: `data.quality` of the env config (stacks/config.py declares it
    with this model) and `settings.quality` of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # per raw table, duplicates not counted
    max_dropped_share: float = Field(default=DEFAULT_MAX_DROPPED_SHARE, ge=0, le=1)
    fail_on_file_not_fully_read: bool = True  # a raw file whose lines the CSV reader did not all turn into rows
    fail_on_missing_day: bool = True  # the country had rows the day before the last day, and none on it


class FileQuality(BaseModel):
    """Figures of one raw file, or of a whole table (`file` None, `files` = files read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    file: str | None = None
    files: int = Field(default=1, ge=0)
    lines: int = Field(ge=0, description="physical lines after the header")
    rows_read: int = Field(ge=0, description="rows the CSV reader produced")
    malformed_lines: int = Field(ge=0)
    kept: int = Field(ge=0, description="rows kept (any country for events)")
    kept_country: int = Field(ge=0, description="rows kept for the run's country")
    dropped: dict[str, int]
    unknown_item: int = Field(default=0, ge=0, description="kept interactions whose item is not in items.csv")
    not_fully_read: int = Field(ge=0, description="files whose lines the reader did not all turn into rows")

    @property
    def lost(self) -> int:
        return sum(self.dropped.get(reason, 0) for reason in LOSS_REASONS)


class DataQuality(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: dict[str, FileQuality]
    files: list[FileQuality] = Field(description="files with a problem, worst first (bounded list)")
    files_not_fully_read: int = Field(ge=0)
    problems: list[str] = Field(default_factory=list, description="threshold violations, one line each")

    @property
    def malformed_lines(self) -> int:
        return sum(t.malformed_lines for t in self.tables.values())

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> DataQuality:
        tables: dict[str, FileQuality] = {}
        files: list[FileQuality] = []
        for row in rows:
            values = {k: (0 if v is None and k != "file" else v) for k, v in row.items()}
            number = {k: int(v) for k, v in values.items() if k not in ("row_kind", "source_table", "file")}
            figures = FileQuality(
                table=values["source_table"],
                file=values.get("file") or None,
                files=number["files"],
                lines=number["lines"],
                rows_read=number["rows_read"],
                malformed_lines=number["malformed_lines"],
                kept=number["kept"],
                kept_country=number["kept_country"],
                dropped={reason: number[f"dropped_{reason}"] for reason in DROP_REASONS},
                unknown_item=number["unknown_item"],
                not_fully_read=number["not_fully_read"],
            )
            if values["row_kind"] == "table":
                tables[figures.table] = figures
            else:
                files.append(figures)
        files.sort(key=lambda f: (-f.not_fully_read, -f.dropped["malformed_csv"], -f.lost, f.file or ""))
        return cls(
            tables=dict(sorted(tables.items())),
            files=files,
            files_not_fully_read=sum(t.not_fully_read for t in tables.values()),
        )

    @classmethod
    def from_athena_result(cls, response: dict[str, Any]) -> DataQuality:
        """GetQueryResults of quality.sql: header row, then one row per table or file (< 1,000 rows: one page)."""
        rows = response.get("ResultSet", {}).get("Rows", [])
        if not rows:
            raise ValueError("quality query returned no header row")
        names = [cell.get("VarCharValue") for cell in rows[0]["Data"]]
        return cls.from_rows(
            [dict(zip(names, (cell.get("VarCharValue") for cell in row["Data"]), strict=True)) for row in rows[1:]]
        )


class DataQualityError(ValueError):
    """The run's raw data breaks a threshold; the message is one line naming file, reason and count."""

    def __init__(self, problems: list[str], first: dict[str, Any]) -> None:
        self.problems = problems
        self.detail = first
        more = f" (+{len(problems) - 1} more: see data_quality.problems)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def violations(
    quality: DataQuality, counts: Counts, thresholds: QualityThresholds, country: str, last_day: str
) -> list[tuple[str, dict[str, Any]]]:
    """(message, detail) per violated threshold, most serious first."""
    found: list[tuple[str, dict[str, Any]]] = []
    if thresholds.fail_on_file_not_fully_read:
        for f in quality.files:
            if not f.not_fully_read:
                continue
            count = f.dropped["malformed_csv"]
            found.append(
                (
                    f"data quality: {f.table} file {f.file} not fully read: {f.lines} lines, {f.rows_read} rows "
                    f"parsed, {f.malformed_lines} malformed ({count} rows lost)",
                    {"file": f.file, "problem": "file_not_fully_read", "count": count},
                )
            )
        unlisted = quality.files_not_fully_read - sum(1 for f in quality.files if f.not_fully_read)
        if unlisted > 0:
            found.append(
                (
                    f"data quality: {unlisted} more files not fully read (beyond the listed ones)",
                    {"file": None, "problem": "file_not_fully_read", "count": unlisted},
                )
            )
    for table, t in quality.tables.items():
        if not t.lines or t.lost / t.lines <= thresholds.max_dropped_share:
            continue
        reason = max(LOSS_REASONS, key=lambda r: t.dropped.get(r, 0))
        worst = max(
            (f for f in quality.files if f.table == table), key=lambda f: f.dropped.get(reason, 0), default=None
        )
        where = f"; most in {worst.file} ({worst.dropped[reason]})" if worst and worst.dropped[reason] else ""
        found.append(
            (
                f"data quality: {table}: {t.lost} of {t.lines} rows dropped ({_share(t.lost, t.lines)} > "
                f"{thresholds.max_dropped_share:.1%} max_dropped_share), mostly {reason} ({t.dropped[reason]}){where}",
                {"file": worst.file if worst else None, "problem": reason, "count": t.dropped[reason], "table": table},
            )
        )
    if thresholds.fail_on_missing_day and counts.day_before_rows > 0 and counts.last_day_rows == 0:
        found.append(
            (
                f"data quality: {country} has no purchases or views in dt={last_day} after {counts.day_before_rows} "
                f"the day before: an export is missing (purchases/dt={last_day}/, views/dt={last_day}/)",
                {"file": f"views/dt={last_day}/", "problem": "missing_day", "count": 0},
            )
        )
    return found


def check(
    quality: DataQuality, counts: Counts, thresholds: QualityThresholds, country: str, last_day: str
) -> DataQuality:
    """The quality with its `problems` filled; raises DataQualityError when a threshold is broken."""
    found = violations(quality, counts, thresholds, country, last_day)
    checked = quality.model_copy(update={"problems": [message for message, _ in found]})
    if found:
        raise DataQualityError(checked.problems, found[0][1])
    return checked


def assess(
    quality: DataQuality, counts: Counts, thresholds: QualityThresholds, country: str, last_day: str
) -> DataQuality:
    """The quality with its `problems` filled, never raising (counts.json records them either way)."""
    found = violations(quality, counts, thresholds, country, last_day)
    return quality.model_copy(update={"problems": [message for message, _ in found]})
