"""bench/bench_cost.py prices the trial-size drivers it states, with the pricing defaults."""

from __future__ import annotations

import pytest

from bench import bench_cost
from pipeline.pricing import FULL_DAYS_PER_MONTH, UPDATE_DAYS_PER_MONTH, PricingSettings


@pytest.fixture
def scans(monkeypatch):
    # The scan models are bench_prepare's and bench_report's; fixed here so the arithmetic is what is checked.
    monkeypatch.setattr(bench_cost, "_prepare_scan_gb", lambda: 8.0)
    monkeypatch.setattr(bench_cost, "_report_scan_gb", lambda: 2.0)


def test_a_day_with_the_defaults_prices_the_athena_scan_only(scans):
    assert bench_cost.daily_usd(True) == pytest.approx(10 / 1000 * 5.0)  # 10 GB at $5 per TB
    assert bench_cost.daily_usd(False) == pytest.approx(0.05)


def test_full_and_update_days_differ_by_their_imports_and_users_scored(scans):
    prices = PricingSettings(athena_usd_per_tb_scanned=0, ingestion_usd_per_gb=1, batch_usd_per_1000_scored=1)
    full, update = bench_cost.daily_usd(True, prices), bench_cost.daily_usd(False, prices)
    # FULL: 2.01 GB imported, 2.4 M users + 20,000 items; UPDATE: 1.9/183 + 0.11 GB, 24,000 users + 20,000 items
    assert full == pytest.approx(2.01 + 2_420)
    assert update == pytest.approx(1.9 / 183 + 0.11 + 44)
    figures = {name: value for name, value, _ in bench_cost.figures()}
    assert figures["monthly_cost_usd_trial_size"] == pytest.approx(
        FULL_DAYS_PER_MONTH * figures["daily_run_cost_usd_trial_size_full"]
        + UPDATE_DAYS_PER_MONTH * figures["daily_run_cost_usd_trial_size_update"]
    )
    assert figures["cost_driver_campaign_tps_hours_trial_size_full"] == 24
