"""The drivers a run recorded, as the run record, the notification and `personalize-runs show` carry them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pipeline.cost_drivers import ASSEMBLED_BYTES, IMPORT_BYTES, SCANNED_BYTES, drivers_of, prepared_bytes, scored_by
from pipeline.model import Job, RunState, Step, TrainingChoice
from pipeline.notify import cost_lines, notification
from pipeline.pricing import PricingSettings, estimate

NOW = datetime(2026, 11, 15, 3, tzinfo=UTC)
SETTINGS = {
    "env": "dev",
    "name_prefix": "personalize-dev",
    "country": "KR",
    "time_zone": "Asia/Seoul",
    "recipes": ["user-personalization", "similar-items", "trending-now"],
    "full_training_weekday": 7,
    "other_days": "update",
    "auto_training": False,
    "batch_mode": "changed-users",
    "campaign_enabled": True,
    "campaign_min_tps": 2,
    "gate": {},
    "window_days": 183,
    "timeouts": {},
    "dataset_group_arn": "arn:dsg",
    "dataset_arns": {},
    "personalize_role_arn": "arn:role",
    "prepared_bucket": "prepared",
    "results_bucket": "results",
    "genre_mapping_uri": "s3://raw/genre_mapping.csv",
    "athena_database": "db",
    "athena_workgroup": "wg",
}
RUN = {
    "run_date": date(2026, 11, 15),
    "mode": "FULL",
    "previous_success_date": None,
    "execution_arn": "arn:exec",
    "execution_name": "exec",
    "started_at": NOW,
    "admission": "ADMITTED",
}


def _job(**detail):
    return Job(kind="k", name="n", status="SUCCEEDED", detail=detail)


def _state() -> RunState:
    state = RunState.model_validate({"settings": SETTINGS, "run": RUN})
    state.prepared = {"users": "s3://prepared/u.csv", "all_users": "s3://prepared/all_users/"}
    state.counts = {"users": 12_000, "changed_users": 1_500, "items": 5_000}
    state.steps["prepare"] = Step(
        started_at=NOW,
        jobs={"users": _job(**{SCANNED_BYTES: 300, ASSEMBLED_BYTES: 4_096}), "all_users": _job(**{SCANNED_BYTES: 200})},
    )
    state.steps["report"] = Step(started_at=NOW, jobs={"r": _job(**{SCANNED_BYTES: 50})})
    state.steps["import"] = Step(started_at=NOW, jobs={"Users": _job(**{IMPORT_BYTES: 4_096})})
    state.steps["batch"] = Step(
        started_at=NOW, jobs={"user-personalization": _job(**scored_by(state, "s3://prepared/all_users/"))}
    )
    state.training = {
        "user-personalization": TrainingChoice(choice="FULL", reason="full day", training_hours=3.5),
        "similar-items": TrainingChoice(choice="NONE", reason="-", training_hours=None),
    }
    state.promoted = {"user-personalization": "arn:v1", "similar-items": "arn:v2"}
    return state


def test_the_drivers_are_read_from_what_each_step_recorded():
    state = _state()
    assert prepared_bytes(state, "s3://prepared/u.csv") == 4_096
    assert prepared_bytes(state, "s3://prepared/elsewhere.csv") is None
    drivers = drivers_of(state)
    assert drivers.athena_scanned_bytes == 550  # prepare and report queries
    assert drivers.training_hours == {"user-personalization": 3.5}
    assert drivers.import_bytes == {"Users": 4_096}
    assert drivers.batch_scored == {"user-personalization": {"scored": 12_000, "scored_kind": "users"}}
    # similar-items has no campaign; trending-now has one but no promoted version
    assert drivers.campaign_tps_hours == {"user-personalization": 48.0}  # 2 TPS x 24 h


def test_a_run_without_campaigns_enabled_provisions_no_tps():
    state = _state()
    state.settings.campaign_enabled = False
    assert drivers_of(state).campaign_tps_hours == {}


def test_the_notification_carries_the_drivers_and_the_estimates():
    drivers = drivers_of(_state())
    cost = {
        "label": "estimate",
        "drivers": drivers.model_dump(),
        "estimate": estimate(drivers.totals(), PricingSettings(training_usd_per_hour=1.0)),
        "month": {"usd": 123.456, "from_runs": {"FULL": "2026-11-15", "UPDATE": "2026-11-16"}},
    }
    record = {"country": "KR", "run_date": "2026-11-15", "status": "SUCCEEDED", "cost": cost}
    message = notification(record)["message"].splitlines()
    assert (
        "Cost drivers: Athena 0.00 GB scanned; training 3.5 h; imports 0.0 MB; "
        "batch scored: user-personalization 12,000 users; campaigns 48 TPS-hours"
    ) in message
    assert (
        "Estimated cost of this run (estimate): $3.50 (not priced: batch, campaign, ingestion)" in message
    )  # 3.5 h x $1, Athena's 550 bytes round to $0.00
    assert (
        "Estimated cost per month for this country (estimate, from FULL 2026-11-15, UPDATE 2026-11-16): $123.46"
        in message
    )
    assert cost_lines({}) == []
