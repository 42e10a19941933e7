"""The fake Personalize's job model and the service's numbers it enforces.

A `Job` is anything with Personalize's CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE | CREATE FAILED life
(import jobs, solutions, trainings, campaigns, batch jobs, filters and the updates of solutions and campaigns).
Its status is computed from the simulated clock on every read, so nothing needs a tick. The constants beside it
are what the service enforces on those jobs: durations, region quotas, per-dataset-group limits, recipe rules.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MINUTE = 60.0
HOUR = 3600.0

# Seconds in CREATE IN_PROGRESS per kind (after ``pending_seconds`` in CREATE PENDING).
DEFAULT_DURATIONS: dict[str, float] = {
    "dataset-import-job": 20 * MINUTE,
    "solution": 1 * MINUTE,
    "solution-update": 1 * MINUTE,
    "solution-version": 2 * HOUR,
    "campaign": 10 * MINUTE,
    "campaign-update": 10 * MINUTE,
    "batch-inference-job": 1 * HOUR,
    "filter": 1 * MINUTE,
}

DEFAULT_METRICS: dict[str, float] = {
    "coverage": 0.30,
    "mean_reciprocal_rank_at_25": 0.12,
    "normalized_discounted_cumulative_gain_at_5": 0.10,
    "normalized_discounted_cumulative_gain_at_10": 0.13,
    "normalized_discounted_cumulative_gain_at_25": 0.18,
    "precision_at_5": 0.05,
    "precision_at_10": 0.04,
    "precision_at_25": 0.03,
}

# A training stopped while CREATE IN_PROGRESS stays CREATE STOPPING this long (the API reference gives no
# duration); one stopped while CREATE PENDING goes to CREATE STOPPED at once, as documented.
STOP_SECONDS = 5 * MINUTE

IMPORT_JOB_QUOTA = 5  # pending or running per region; not adjustable
BATCH_JOB_QUOTA = 5
TRAINING_QUOTA = 20
SOLUTIONS_PER_DATASET_GROUP = 10
CAMPAIGNS_PER_DATASET_GROUP = 5
FILTERS_PER_DATASET_GROUP = 30

# trainingMode UPDATE works only for these recipes.
UPDATE_RECIPES = frozenset({"aws-user-personalization", "aws-hrnn-coldstart"})
NO_BATCH_RECIPES = frozenset({"aws-trending-now"})
# The recipes the developer guide lists (their ARNs are arn:aws:personalize:::recipe/<name>): an unknown
# recipeArn is refused as the service does. Kept apart from common.recipes so the fake checks the table.
KNOWN_RECIPES = frozenset(
    {
        "aws-user-personalization-v2", "aws-user-personalization", "aws-trending-now", "aws-popularity-count",
        "aws-personalized-ranking-v2", "aws-personalized-ranking", "aws-semantic-similarity", "aws-similar-items",
        "aws-sims", "aws-next-best-action", "aws-item-affinity", "aws-item-attribute-affinity", "aws-hrnn-coldstart",
    }
)  # fmt: skip
# CampaignConfig/BatchInferenceJobConfig.itemExplorationConfig: "Provide itemExplorationConfig data only if your
# solution uses the User-Personalization recipe" (API reference).
EXPLORATION_RECIPES = frozenset({"aws-user-personalization"})
EXPLORATION_KEYS = frozenset({"explorationWeight", "explorationItemAgeCutOff"})
# Filter expressions (developer guide, "Filter expressions"): each chained part is
# INCLUDE|EXCLUDE ItemID|UserID WHERE <Dataset>.<FIELD> <op> ...; parts are joined with " | ".
FILTER_PART = re.compile(
    r"^(INCLUDE|EXCLUDE) (ItemID|UserID) WHERE (Interactions|Items|Users)\.[A-Z_][A-Z0-9_]* "
    r"(IN|NOT IN|<|<=|>|>=|=) .+$"
)

# Which call creates each kind (the updates count as "creates" of their own kind for the call log).
CREATE_OPERATIONS: dict[str, str] = {
    "dataset-import-job": "create_dataset_import_job",
    "solution": "create_solution",
    "solution-update": "update_solution",
    "solution-version": "create_solution_version",
    "campaign": "create_campaign",
    "campaign-update": "update_campaign",
    "batch-inference-job": "create_batch_inference_job",
    "filter": "create_filter",
}


def short_hex(seed: str) -> str:
    """A stable 8-hex-digit id part derived from ``seed`` (ARNs and tracking ids)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


@dataclass
class Job:
    """Anything with a CREATE PENDING -> IN_PROGRESS -> ACTIVE|CREATE FAILED life (incl. updates)."""

    kind: str
    name: str
    arn: str
    created: datetime
    pending: float
    duration: float
    seq: int
    data: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    stop_requested: datetime | None = None  # StopSolutionVersionCreation
    stop_seconds: float = 0.0  # in CREATE STOPPING after the stop request

    @property
    def started(self) -> datetime:
        return self.created + timedelta(seconds=self.pending)

    @property
    def finished(self) -> datetime:
        return self.started + timedelta(seconds=self.duration)

    def phase(self, now: datetime) -> str:
        if self.stop_requested is not None and now >= self.stop_requested:
            return "stopping" if now < self.stop_requested + timedelta(seconds=self.stop_seconds) else "stopped"
        if now < self.started:
            return "pending"
        if now < self.finished:
            return "running"
        return "failed" if self.failure_reason else "active"

    def running(self, now: datetime) -> bool:
        return self.phase(now) in ("pending", "running", "stopping")

    def status(self, now: datetime) -> str:
        pending, running = (
            ("PENDING", "IN PROGRESS")  # as documented for batch inference jobs
            if self.kind == "batch-inference-job"
            else ("CREATE PENDING", "CREATE IN_PROGRESS")
        )
        return {
            "pending": pending,
            "running": running,
            "active": "ACTIVE",
            "failed": "CREATE FAILED",
            "stopping": "CREATE STOPPING",
            "stopped": "CREATE STOPPED",
        }[self.phase(now)]

    def last_updated(self, now: datetime) -> datetime:
        phase = self.phase(now)
        if phase in ("stopping", "stopped"):
            # A job is stopping or stopped only once a stop was requested (phase() reads stop_requested).
            assert self.stop_requested is not None
            if phase == "stopping":
                return self.stop_requested
            return self.stop_requested + timedelta(seconds=self.stop_seconds)
        return {"pending": self.created, "running": self.started}.get(phase, self.finished)

    def stamp(self, now: datetime) -> dict[str, Any]:
        """status, timestamps and failureReason as the service reports them at ``now``."""
        stamp: dict[str, Any] = {
            "status": self.status(now),
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.last_updated(now),
        }
        if self.phase(now) == "failed":
            stamp["failureReason"] = self.failure_reason
        return stamp
