"""What a run consumed of each billed quantity (its cost drivers), read from what its steps recorded.

The steps record each driver where they meet it, in their jobs' `detail` under the keys below:
- Athena bytes scanned: GetQueryExecution's `QueryExecution.Statistics.DataScannedInBytes` of every Prepare and
  Report query (pipeline.athena_jobs), summed over both steps.
- Personalize training hours: DescribeSolutionVersion's `solutionVersion.trainingHours`, per recipe (the train
  step keeps it in `state.training`).
- Import sizes: the bytes of the assembled CSV each import job reads, as the Prepare step wrote it
  (dataprep.s3_outputs.assemble_csv returns the size it wrote; no HeadObject needed).
- Users or items scored by each batch job: the row count of the prepared input it reads (counts.json).
- Campaign TPS-hours: minProvisionedTPS x 24 h for each campaign serving a promoted version. The promote step
  creates and keeps every campaign at the configured `campaign_min_tps` (CreateCampaign's minProvisionedTPS), so
  that is the figure used; a campaign billed above its minimum (traffic beyond it) is not seen here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.prepared_outputs import Output
from common.recipes import Recipe, spec
from pipeline import step_names
from pipeline.model import RunState
from pipeline.pricing import HOURS_PER_DAY

# Job.detail keys the steps record the drivers under.
SCANNED_BYTES = "scanned_bytes"  # an Athena query's DataScannedInBytes
ASSEMBLED_BYTES = "assembled_bytes"  # a prepared CSV's size as assembled
IMPORT_BYTES = "import_bytes"  # bytes of the file an import job reads
SCORED = "scored"  # users or items in a batch job's input
SCORED_KIND = "scored_kind"  # "users" | "items"

ATHENA_STEPS = (step_names.PREPARE.key, step_names.REPORT.key)
# Prepared batch input -> (what its rows are, the counts.json figure that counts them).
SCORED_BY: dict[Output, tuple[str, str]] = {
    Output.ALL_USERS: ("users", "users"),
    Output.CHANGED_USERS: ("users", "changed_users"),
    Output.RANKING_INPUT: ("users", "changed_users"),
    Output.ITEMS_BATCH: ("items", "items"),
}


class CostDrivers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    athena_scanned_bytes: int = 0
    training_hours: dict[str, float] = Field(default_factory=dict)  # recipe -> billed trainingHours
    import_bytes: dict[str, int] = Field(default_factory=dict)  # dataset type -> bytes of the file imported
    batch_scored: dict[str, dict[str, Any]] = Field(default_factory=dict)  # recipe -> {scored, scored_kind}
    campaign_tps_hours: dict[str, float] = Field(default_factory=dict)  # recipe -> minProvisionedTPS x 24 h

    def totals(self) -> dict[str, float]:
        """The sums pipeline.pricing.estimate prices."""
        return {
            "athena_scanned_bytes": float(self.athena_scanned_bytes),
            "training_hours": sum(self.training_hours.values()),
            "import_bytes": float(sum(self.import_bytes.values())),
            "batch_scored": float(sum(job[SCORED] for job in self.batch_scored.values())),
            "campaign_tps_hours": sum(self.campaign_tps_hours.values()),
        }


def prepared_bytes(state: RunState, uri: str) -> int | None:
    """The size Prepare recorded for the assembled file at `uri` (None: not assembled by this run's Prepare)."""
    prepare = state.steps.get(step_names.PREPARE.key)
    for output, prepared_uri in state.prepared.items():
        if prepared_uri == uri and prepare and output in prepare.jobs:
            return prepare.jobs[output].detail.get(ASSEMBLED_BYTES)
    return None


def scored_by(state: RunState, input_uri: str) -> dict[str, Any]:
    """{scored, scored_kind} of a batch job reading `input_uri`; empty when the input is not a known one."""
    counts = state.counts or {}
    for output, uri in state.prepared.items():
        if uri == input_uri and output in SCORED_BY:
            kind, figure = SCORED_BY[Output(output)]
            return {SCORED: int(counts.get(figure, 0)), SCORED_KIND: kind}
    return {}


def campaigns_serving(state: RunState) -> list[str]:
    """Recipes whose real-time campaign serves a promoted version after this run."""
    if not state.settings.campaign_enabled:
        return []
    return sorted(r for r in state.promoted if spec(Recipe(r)).campaign)


def drivers_of(state: RunState) -> CostDrivers:
    scanned = sum(
        int(job.detail.get(SCANNED_BYTES, 0))
        for name in ATHENA_STEPS
        if name in state.steps
        for job in state.steps[name].jobs.values()
    )
    imports = state.steps.get(step_names.IMPORT.key)
    batch = state.steps.get(step_names.BATCH.key)
    return CostDrivers(
        athena_scanned_bytes=scanned,
        training_hours={
            recipe: choice.training_hours
            for recipe, choice in state.training.items()
            if choice.training_hours is not None
        },
        import_bytes={
            dataset: int(job.detail[IMPORT_BYTES])
            for dataset, job in (imports.jobs.items() if imports else ())
            if job.detail.get(IMPORT_BYTES) is not None
        },
        batch_scored={
            recipe: {SCORED: int(job.detail[SCORED]), SCORED_KIND: job.detail.get(SCORED_KIND)}
            for recipe, job in (batch.jobs.items() if batch else ())
            if job.detail.get(SCORED) is not None
        },
        campaign_tps_hours={
            recipe: float(state.settings.campaign_min_tps * HOURS_PER_DAY) for recipe in campaigns_serving(state)
        },
    )
