"""The data that flows through the daily pipeline's state machine.

The schedule's input is a `PipelineInput`: the country's settings as deployed (CDK writes them, with the
ARNs of this env's resources) plus the scheduled time. `begin_run` turns it into a `RunState`, which each
step handler receives whole and returns updated. Choice states read only a few fields of it:
`run.admission`, `guard.ok`, `steps.<step>.status`, `steps.<step>.wait_seconds`, `outcome.status`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.experiments import Experiment
from common.recipes import Recipe
from dataprep.quality import QualityThresholds
from evaluation.queries import DEFAULT_CURATION_RECENT_ITEMS
from pipeline.pricing import PricingSettings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Setting(BaseModel):
    """A settings block: the env config (stacks/config.py) declares its fields with these models, and the
    Lambdas parse the same models from the schedule's input, so both sides validate with one set of rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StepTimeouts(_Setting):
    """`timeouts:` of the env config: how long a step may poll its jobs before the run fails."""

    prepare_minutes: Annotated[int, Field(ge=5)] = 120
    import_hours: Annotated[float, Field(gt=0)] = 12
    campaign_hours: Annotated[float, Field(gt=0)] = 6
    batch_hours: Annotated[float, Field(gt=0)] = 24


class Timeouts(StepTimeouts):
    training_hours: Annotated[float, Field(gt=0, le=168)] = 48  # per country: its training.timeout_hours


GATE_METRICS = (
    "normalized_discounted_cumulative_gain_at_10",
    "precision_at_10",
    "mean_reciprocal_rank_at_25",
    "coverage",
)


class GateSettings(_Setting):
    """A new version is promoted only if no metric drops more than `tolerance` (relative) below the promoted one."""

    tolerance: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {m: 0.05 for m in GATE_METRICS}
    )
    # Floors for the very first version of a solution, which has nothing to compare with.
    floors: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"normalized_discounted_cumulative_gain_at_10": 0.01, "coverage": 0.01}
    )
    # Recipes without offline metrics (spec(recipe).metrics false, e.g. trending-now) are gated on this instead:
    # the version is ACTIVE and the run prepared at least this many interactions (Personalize's own minimum).
    min_interactions: Annotated[int, Field(ge=1000)] = 1000

    @field_validator("tolerance", "floors")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(GATE_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {list(GATE_METRICS)}")
        return value

    @field_validator("tolerance")
    @classmethod
    def _compares_something(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError(f"is empty: the gate would compare nothing; set a tolerance for some of {GATE_METRICS}")
        return value


class ExplorationSettings(_Setting):
    """New-item exploration (itemExplorationConfig) on campaigns and batch jobs, where the recipe takes it
    (`spec(recipe).exploration`). The API's defaults are explorationWeight 0.3 and explorationItemAgeCutOff 30
    days; the trial's problem was new titles never surfacing, so the default here explores more (0.5) over
    the same 30 days the report's freshness figure counts as new (docs/personalize-behaviour.md)."""

    weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    item_age_cutoff_days: Annotated[float, Field(gt=0, le=3650)] = 30

    def item_exploration_config(self) -> dict[str, str]:
        # The API's HyperParameters map is string -> string (botocore model), so the numbers go as strings.
        return {
            "explorationWeight": f"{self.weight:g}",
            "explorationItemAgeCutOff": f"{self.item_age_cutoff_days:g}",
        }


# Personalize's filter expressions name values in double quotes; a quote or backslash would break the expression.
_FILTER_VALUE = re.compile(r'^[^"\\]{1,100}$')


class FilterSettings(_Setting):
    """Filters the pipeline creates per country, applied to batch jobs and published for the app's own
    GetRecommendations calls (SSM /personalize/<env>/<country>/filters/<name>)."""

    exclude_purchased: bool = True  # EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")
    exclude_genres: tuple[str, ...] = ()  # EXCLUDE ItemID WHERE Items.GENRES IN (...)
    # INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $CREATED_AFTER: published for real-time calls only (a
    # placeholder needs filterValues on every batch input line); None: no such filter.
    max_item_age_days: Annotated[int, Field(ge=1, le=3650)] | None = None

    @field_validator("exclude_genres")
    @classmethod
    def _quotable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for genre in value:
            if not _FILTER_VALUE.fullmatch(genre):
                raise ValueError(f"genre {genre!r} must be 1-100 characters without double quotes or backslashes")
        return value


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
    # The curation's window on the comparison page (evaluation.queries.DEFAULT_CURATION_RECENT_ITEMS explains it).
    curation_recent_items: int = Field(default=DEFAULT_CURATION_RECENT_ITEMS, ge=1, le=500)
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
    # pricing: of the env config (the run's cost estimate); absent in inputs rendered before it existed: defaults.
    pricing: PricingSettings = PricingSettings()
    # The country's online experiments (config countries[].experiments); the report gives the one running its
    # online outcome (evaluation.online). Absent in inputs rendered before they existed: none.
    experiments: tuple[Experiment, ...] = ()


class PipelineInput(_Model):
    settings: RunSettings
    scheduled_time: datetime | None = None  # from EventBridge Scheduler; run date = its local date
    run_date: date | None = None  # explicit date (reruns); wins over scheduled_time
    force: bool = False  # rerun a date that already succeeded, or take over a record the ledger cannot decode
    # Grant the date's jobs a fresh series of attempts (pipeline.jobs.ensure_job): for a date whose job failed on
    # every attempt of its series, once the cause is fixed.
    fresh_attempts: bool = False


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
    attempt_series: int = Field(default=1, ge=1)  # which series of attempts the run's jobs are in (ledger)


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
