"""The data that flows through the daily pipeline's state machine.

The schedule's input is a `PipelineInput`: the country's settings as deployed (CDK writes them, with the
ARNs of this env's resources) plus the scheduled time. `begin_run` turns it into a `RunState`, which each
step handler receives whole and returns updated. Choice states read only a few fields of it:
`run.admission`, `guard.ok`, `steps.<step>.status`, `steps.<step>.wait_seconds`, `outcome.status`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.recipes import Recipe
from dataprep.quality import QualityThresholds


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Timeouts(_Model):
    prepare_minutes: int = 120
    import_hours: float = 12
    training_hours: float = 48
    campaign_hours: float = 6
    batch_hours: float = 24


class GateSettings(_Model):
    tolerance: dict[str, float]
    floors: dict[str, float]
    min_interactions: int = 1000  # gate of recipes without offline metrics (stacks/config.py MetricGate)


class ExplorationSettings(_Model):
    """itemExplorationConfig for recipes that take it (stacks/config.py Exploration)."""

    weight: float = 0.5
    item_age_cutoff_days: float = 30

    def item_exploration_config(self) -> dict[str, str]:
        # The API's HyperParameters map is string -> string (botocore model), so the numbers go as strings.
        return {
            "explorationWeight": f"{self.weight:g}",
            "explorationItemAgeCutOff": f"{self.item_age_cutoff_days:g}",
        }


class FilterSettings(_Model):
    exclude_purchased: bool = True
    exclude_genres: list[str] = Field(default_factory=list)
    max_item_age_days: int | None = None


class RunSettings(_Model):
    """One country's settings as deployed; rendered by CDK into the schedule's input."""

    env: str
    name_prefix: str  # every Personalize name of this env starts with it (IAM policies are scoped to it)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    time_zone: str
    recipes: list[Recipe]
    full_training_weekday: int = Field(ge=1, le=7)  # ISO weekday, Monday = 1
    other_days: Literal["update", "skip"]
    auto_training: bool
    batch_mode: Literal["changed-users", "all-users"]
    campaign_enabled: bool
    # Users the comparison page evaluates (bounds the report step's input; stacks/sizing.py sizes it from this).
    report_evaluated_users: int = Field(default=20_000, ge=100, le=1_000_000)
    campaign_min_tps: int
    gate: GateSettings
    # Absent in inputs rendered before they existed: the defaults apply.
    exploration: ExplorationSettings = ExplorationSettings()
    filters: FilterSettings = FilterSettings()
    window_days: int
    # data.quality of the config; absent in inputs rendered before it existed: the defaults apply.
    quality: QualityThresholds = QualityThresholds()
    timeouts: Timeouts
    dataset_group_arn: str
    dataset_arns: dict[str, str]  # Interactions / Users / Items
    # Digest of each dataset's current schema (common.schemas): an import under another digest means the schema
    # was replaced since, and the next run imports and trains FULL (docs/schema-evolution.md).
    schema_digests: dict[str, str] = Field(default_factory=dict)
    personalize_role_arn: str
    prepared_bucket: str
    results_bucket: str
    genre_mapping_uri: str  # where the genre_mapping table reads the packaged mapping (published by prepare)
    athena_database: str
    athena_workgroup: str


class PipelineInput(_Model):
    settings: RunSettings
    scheduled_time: datetime | None = None  # from EventBridge Scheduler; run date = its local date
    run_date: date | None = None  # explicit date (reruns); wins over scheduled_time
    force: bool = False  # rerun a date that already succeeded


class Admission(StrEnum):
    ADMITTED = "ADMITTED"
    DUPLICATE = "DUPLICATE"  # another execution is running this country and date
    ALREADY_DONE = "ALREADY_DONE"  # this date already finished (use force to redo)


class Mode(StrEnum):
    FULL = "FULL"
    UPDATE = "UPDATE"


class RunInfo(_Model):
    run_date: date
    mode: Mode
    previous_success_date: date | None
    # The interactions high-water mark: run date of the last interactions import that ran (ledger `IMPORTED#`);
    # today's increment starts there, so a skipped one (< 1,000 rows) is carried forward.
    interactions_imported_before: date | None = None
    execution_arn: str
    execution_name: str
    started_at: datetime
    admission: Admission
    reason: str = ""


class StepStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    SKIPPED = "SKIPPED"


class Job(_Model):
    kind: str
    name: str
    arn: str | None = None
    status: str  # PENDING | RUNNING | SUCCEEDED | FAILED | WAITING (quota full, not created yet)
    failure_reason: str | None = None
    created: bool = False
    detail: dict[str, Any] = Field(default_factory=dict)


class Step(_Model):
    status: StepStatus = StepStatus.RUNNING
    started_at: datetime
    finished_at: datetime | None = None
    polls: int = 0
    wait_seconds: int = 0
    jobs: dict[str, Job] = Field(default_factory=dict)
    note: str = ""


class Guard(_Model):
    ok: bool
    reason: str = ""


class GateDecision(_Model):
    recipe: Recipe
    solution_version_arn: str
    approved: bool
    reasons: list[str]
    gated_on: str = "metrics"  # what the decision was taken on (metrics, or the stated rule without them)
    new_metrics: dict[str, float]
    promoted_metrics: dict[str, float] | None
    promoted_version_arn: str | None


class TrainingChoice(_Model):
    """What the train step does for one recipe today, why, and what it was billed (trainingHours)."""

    choice: Literal["FULL", "UPDATE", "NONE"]
    reason: str
    training_hours: float | None = None  # DescribeSolutionVersion's trainingHours once the version is ACTIVE


class Outcome(_Model):
    status: Literal["SUCCEEDED", "SKIPPED", "REJECTED"]
    reason: str = ""


class RunState(_Model):
    settings: RunSettings
    run: RunInfo
    steps: dict[str, Step] = Field(default_factory=dict)
    counts: dict[str, int] | None = None
    # dataprep.quality.DataQuality of the run (per raw table and per problem file); set by Prepare.
    data_quality: dict[str, Any] | None = None
    prepared: dict[str, str] = Field(default_factory=dict)  # output -> s3:// URI of the assembled file
    guard: Guard | None = None
    trained: dict[str, str] = Field(default_factory=dict)  # recipe -> new solution version ARN
    solutions: dict[str, str] = Field(default_factory=dict)  # recipe -> solution ARN
    training: dict[str, TrainingChoice] = Field(default_factory=dict)  # recipe -> today's training choice
    # The published cold-start fallback's manifest (pipeline.cold_start: primary fallback, figure); set by Report.
    cold_start: dict[str, Any] | None = None
    gate: list[GateDecision] = Field(default_factory=list)
    promoted: dict[str, str] = Field(default_factory=dict)  # recipe -> version used from now on
    filters: dict[str, str] = Field(default_factory=dict)  # pipeline.filters key -> ARN of the ACTIVE filter
    outcome: Outcome | None = None
    notification: dict[str, Any] | None = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
