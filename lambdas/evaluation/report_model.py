"""report.json's shape: the Report model and its parts, the options a report is built with, the labels."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from evaluation.composition import Composition
from evaluation.decision import Decision, NewToUser, VerdictLine
from evaluation.intervals import MeanInterval
from evaluation.online import OnlineOutcome
from evaluation.open_baseline import NAME as OPEN_BASELINE
from evaluation.open_baseline import OpenBaselineInfo
from evaluation.queries import (
    DEFAULT_BASELINE_EXCLUDED_PAIRS,
    DEFAULT_BASELINE_HISTORY_ITEMS,
    DEFAULT_BASELINE_TRAINING_PAIRS,
    DEFAULT_COOCCURRENCE_ITEMS,
    DEFAULT_CURATION_RECENT_ITEMS,
    DEFAULT_MAX_EVALUATED_USERS,
)
from evaluation.trend import TrendPoint
from evaluation.user_counts import UserCount

SCHEMA_VERSION = 3  # 2: verdict, new_to_user, open_baseline, trend, explanations; 3: decision, composition,
# metric_intervals, user_counts (added fields: a reader of version 2 reads version 3)
LABELS = {
    "curation": "Current curation",
    "personalize": "Personalize",
    OPEN_BASELINE: "Open baseline (implicit BM25)",
    "popularity": "Popularity (7 days)",
}


# Without a batch output the page still compares the curation, the open baseline (when it trained) and popularity.
NO_PERSONALIZE_NOTE = (
    "No Personalize batch output was given: the page has no Personalize column; the other recommenders are "
    "compared as usual (`make report RESULTS=DIR` with the run's batch output adds it: README)."
)


class ReportOptions(BaseModel):
    """Knobs of one report; the defaults are what the pipeline uses."""

    model_config = ConfigDict(extra="forbid")

    truth_days: int = Field(7, ge=1, le=90, description="last days of the window used as the truth")
    popularity_days: int = Field(7, ge=1, le=90)
    fresh_days: int = Field(30, ge=1, le=365, description="an item released this recently is 'new'")
    top_users: int = Field(10, ge=1, le=500, description="heavy users shown on the page")
    list_length: int = Field(25, ge=1, le=500, description="items per recommendation list (MRR is at 25)")
    neighbours: int = Field(20, ge=1, le=500, description="top-k Jaccard neighbours kept per item")
    recent_items: int = Field(
        DEFAULT_CURATION_RECENT_ITEMS, ge=1, le=500, description="a user's recent items merged by the curation"
    )
    recall_goal: float = Field(0.9, gt=0, le=1, description="top-10 recall MinHash must reach to be used")
    shown_items: int = Field(10, ge=1, le=100, description="items per list and history shown on the page")
    cooccurrence_items: int = Field(
        DEFAULT_COOCCURRENCE_ITEMS, ge=1, le=1000, description="a user's recent items counted in item neighbours"
    )
    max_evaluated_users: int = Field(
        DEFAULT_MAX_EVALUATED_USERS, ge=1, le=1_000_000, description="evaluated users, sampled by md5 of the id"
    )
    # Bounds of the open baseline's training history on the SQL path (evaluation.queries explains both).
    baseline_history_items: int = Field(
        DEFAULT_BASELINE_HISTORY_ITEMS, ge=1, le=10_000, description="newest distinct history items per user"
    )
    baseline_training_pairs: int = Field(
        DEFAULT_BASELINE_TRAINING_PAIRS, ge=1, le=50_000_000, description="history pairs the baseline trains on"
    )
    baseline_excluded_pairs: int = Field(
        DEFAULT_BASELINE_EXCLUDED_PAIRS, ge=0, le=50_000_000, description="older seen titles kept out of its lists"
    )


class ItemEntry(BaseModel):
    item_id: str
    title: str
    genres: list[str]
    new: bool  # released in the fresh_days before run_date
    hit: bool = False  # in the user's truth (what they actually did in the held-out days)
    when: str | None = None  # ISO date of the interaction, for history entries


class ColdStart(BaseModel):
    users: int
    distinct_lists: int
    most_common_list_share: float | None


class RecommenderResult(BaseModel):
    name: str
    label: str
    users_evaluated: int
    users_with_lists: int
    metrics: dict[str, float]
    cold_start: ColdStart
    fresh_share: float | None


class CurationInfo(BaseModel):
    method: str
    reason: str
    neighbours_k: int
    recent_items: int
    exact_seconds: float
    exact_seconds_extrapolated: bool
    minhash_seconds: float
    minhash_top10_recall: float
    sample_items: int


class HeavyUser(BaseModel):
    user_id: str
    history_interactions: int
    history: list[ItemEntry]
    truth: list[ItemEntry]
    lists: dict[str, list[ItemEntry]]


class Window(BaseModel):
    start: str
    cutoff: str
    end: str
    truth_days: int
    popularity_days: int
    fresh_days: int


class Counts(BaseModel):
    interactions: int
    history_interactions: int
    truth_interactions: int
    users: int
    items: int
    evaluated_users: int
    cold_users: int
    new_items: int


class Report(BaseModel):
    schema_version: int = SCHEMA_VERSION
    country: str
    run_date: str
    generated_at: str
    window: Window
    counts: Counts
    curation: CurationInfo
    recommenders: list[RecommenderResult]
    heavy_users: list[HeavyUser]
    notes: list[str]
    verdict: list[VerdictLine] = []
    new_to_user: NewToUser | None = None
    open_baseline: OpenBaselineInfo | None = None
    trend: list[TrendPoint] = []
    explanations: dict[str, str] = {}
    # The bottom line: one metric on warm users, one candidate against the curation, a fixed rule (decision.RULE).
    # (The model's types are imported by name: this field shadows the decision module in the class body.)
    decision: Decision | None = None
    # The raw data a local report was built from (evaluation.raw_identity); None for the deployed report.
    raw_digest: str | None = None
    # What each list is made of, the popularity tie share (evaluation.composition), and the charted metrics' 95 %
    # intervals: evaluation ("all", "new_to_user") -> recommender -> metric (evaluation.intervals).
    composition: Composition | None = None
    metric_intervals: dict[str, dict[str, dict[str, MeanInterval]]] = {}
    # recommender -> 95 % interval of its fresh_share, the freshness chart's whiskers (evaluation.intervals).
    fresh_share_intervals: dict[str, MeanInterval] = {}
    # Every user count the page shows, each drawn from an earlier one by a stated filter (evaluation.user_counts).
    user_counts: list[UserCount] = []
    # The running experiment's online outcome (evaluation.online): users, hits and the fixed-horizon verdict per arm;
    # None when the country has no experiment with exposures to report.
    online: OnlineOutcome | None = None
