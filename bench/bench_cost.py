"""What a daily run costs at the trial's size: an ESTIMATE from the pricing defaults (pipeline.pricing).

The drivers are modelled, not measured; every assumption:
- Athena: the Prepare scan of a daily run (bench/bench_prepare.py, `scan_figures`) and the Report scan
  (bench/bench_report.py, `_report_scan_gb`), the same on a FULL and an UPDATE day.
- Imports (bytes the import jobs read): bench_report's TRIAL_PREPARED_GB. A FULL day imports the whole prepared
  interactions, users and items; an UPDATE day imports users and items whole (the import step imports those
  outputs every day) and one day's new interactions, taken as 1/TRIAL_WINDOW_DAYS of the window's interactions.
- Batch: the default recipes (user-personalization, similar-items). user-personalization scores every user
  (TRIAL_USERS) on a FULL day and the changed users on an UPDATE day, taken as CHANGED_USER_SHARE of them
  (bench.trial: the users export changes ~1 % of users a day); similar-items scores the catalogue (ITEMS titles)
  every day.
- Campaigns: one (user-personalization) at the default minimum of 1 TPS, 24 h a day.
- Training hours: none is documented for the trial's size (docs/personalize-behaviour.md gives no figure), and
  the default training price is unset, so training is not priced here: the estimate names it.
- Every price left unset in pipeline.pricing (Personalize's) is not priced: the figures below are the priced
  drivers only (Athena with the defaults). Set the Personalize prices in the env config for a complete figure.
- Month: FULL_DAYS_PER_MONTH full days and UPDATE_DAYS_PER_MONTH update days (one full day a week).
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.bench_prepare import scan_figures
from bench.bench_report import ITEMS, _report_scan_gb
from bench.trial import TRIAL_PREPARED_GB, TRIAL_USERS, TRIAL_WINDOW_DAYS
from pipeline.cost_drivers import SCORED, SCORED_KIND, CostDrivers
from pipeline.pricing import BYTES_PER_GB, HOURS_PER_DAY, PricingSettings, estimate, monthly_usd

CHANGED_USER_SHARE = 0.01
CAMPAIGN_MIN_TPS = 1


def _prepare_scan_gb() -> float:
    return scan_figures()["prepare_athena_scan_gb_per_run"]


def trial_drivers(full: bool) -> CostDrivers:
    """The cost drivers of one run at the trial's size (the module docstring states each assumption)."""
    scan_gb = _prepare_scan_gb() + _report_scan_gb()
    interactions_gb = TRIAL_PREPARED_GB["prepared_interactions"] * (1 if full else 1 / TRIAL_WINDOW_DAYS)
    imports_gb = {
        "Interactions": interactions_gb,
        "Users": TRIAL_PREPARED_GB["prepared_users"],
        "Items": TRIAL_PREPARED_GB["prepared_items"],
    }
    users = TRIAL_USERS if full else round(TRIAL_USERS * CHANGED_USER_SHARE)
    return CostDrivers(
        athena_scanned_bytes=round(scan_gb * BYTES_PER_GB),
        training_hours={},
        import_bytes={dataset: round(gb * BYTES_PER_GB) for dataset, gb in imports_gb.items()},
        batch_scored={
            "user-personalization": {SCORED: users, SCORED_KIND: "users"},
            "similar-items": {SCORED: ITEMS, SCORED_KIND: "items"},
        },
        campaign_tps_hours={"user-personalization": float(CAMPAIGN_MIN_TPS * HOURS_PER_DAY)},
    )


def daily_usd(full: bool, pricing: PricingSettings | None = None) -> float:
    result = estimate(trial_drivers(full).totals(), pricing or PricingSettings())
    return float(result["total_usd"])


def figures() -> Iterator[tuple[str, float, str]]:
    full, update = daily_usd(True), daily_usd(False)
    yield "daily_run_cost_usd_trial_size_full", full, "USD (estimate, priced drivers only)"
    yield "daily_run_cost_usd_trial_size_update", update, "USD (estimate, priced drivers only)"
    yield "monthly_cost_usd_trial_size", monthly_usd(full, update), "USD per country (estimate)"
    for day, is_full in (("full", True), ("update", False)):
        totals = trial_drivers(is_full).totals()
        yield f"cost_driver_athena_gb_trial_size_{day}", totals["athena_scanned_bytes"] / BYTES_PER_GB, "GB"
        yield f"cost_driver_import_gb_trial_size_{day}", totals["import_bytes"] / BYTES_PER_GB, "GB"
        yield f"cost_driver_batch_scored_trial_size_{day}", totals["batch_scored"], "users+items"
        yield f"cost_driver_campaign_tps_hours_trial_size_{day}", totals["campaign_tps_hours"], "TPS-hours"
