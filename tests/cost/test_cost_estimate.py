"""The cost estimate's arithmetic on stated inputs (pipeline.pricing) and the drivers it reads from a run state."""

from __future__ import annotations

import pytest

from pipeline.cost_drivers import CostDrivers
from pipeline.pricing import FULL_DAYS_PER_MONTH, UPDATE_DAYS_PER_MONTH, PricingSettings, estimate, monthly_usd

PRICES = PricingSettings(
    athena_usd_per_tb_scanned=5.0,
    training_usd_per_hour=0.25,
    ingestion_usd_per_gb=0.05,
    batch_usd_per_1000_scored=0.1,
    campaign_usd_per_tps_hour=0.2,
)
DRIVERS = CostDrivers(
    athena_scanned_bytes=200 * 10**9,  # 0.2 TB
    training_hours={"user-personalization": 10.0, "similar-items": 2.0},
    import_bytes={"Interactions": 3 * 10**9, "Users": 10**9},
    batch_scored={"user-personalization": {"scored": 2_000_000, "scored_kind": "users"}},
    campaign_tps_hours={"user-personalization": 24.0},
)


def test_each_driver_is_priced_at_its_unit():
    result = estimate(DRIVERS.totals(), PRICES)
    assert result["label"] == "estimate"
    assert result["usd"] == {
        "athena": pytest.approx(1.0),  # 0.2 TB x $5
        "training": pytest.approx(3.0),  # 12 h x $0.25
        "ingestion": pytest.approx(0.2),  # 4 GB x $0.05
        "batch": pytest.approx(200.0),  # 2,000 thousands x $0.1
        "campaign": pytest.approx(4.8),  # 24 TPS-hours x $0.2
    }
    assert result["total_usd"] == pytest.approx(209.0)
    assert result["not_priced"] == []


def test_an_unset_price_is_named_not_priced_and_left_out_of_the_total():
    result = estimate(DRIVERS.totals(), PricingSettings())  # the defaults: only Athena is priced
    assert result["not_priced"] == ["batch", "campaign", "ingestion", "training"]
    assert result["usd"]["training"] is None
    assert result["total_usd"] == pytest.approx(1.0)


def test_a_month_is_one_full_day_a_week_and_update_days_otherwise():
    assert FULL_DAYS_PER_MONTH + UPDATE_DAYS_PER_MONTH == pytest.approx(30.4375)
    assert FULL_DAYS_PER_MONTH == pytest.approx(30.4375 / 7)
    assert monthly_usd(10.0, 1.0) == pytest.approx(FULL_DAYS_PER_MONTH * 10 + UPDATE_DAYS_PER_MONTH * 1)


def test_a_negative_price_is_refused():
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        PricingSettings(athena_usd_per_tb_scanned=-1)
