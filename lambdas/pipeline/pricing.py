"""List prices the run's cost estimate uses (`pricing:` of the env config) and the estimate's arithmetic.

Every figure the pipeline shows from this module is an ESTIMATE: the drivers are measured (pipeline.cost_drivers),
the prices are the ones configured here, and the month is a typical one (FULL_DAYS_PER_MONTH full-training days,
the rest update days). Taxes, free tiers, S3, Lambda, Step Functions and DynamoDB are not counted.

A price left unset (None) is a price nobody could read from AWS's page when the default was written: its driver is
still recorded and shown, and the estimate names it as not priced instead of guessing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

ESTIMATE_LABEL = "estimate"
BYTES_PER_TB = 10**12
BYTES_PER_GB = 10**9
HOURS_PER_DAY = 24
# A typical month: 365.25 / 12 days, of which one in seven is the full-training weekday (pipeline.steps.begin
# trains FULL once a week, on the configured weekday; every other day's run is an UPDATE run).
DAYS_PER_MONTH = 365.25 / 12
FULL_DAYS_PER_MONTH = DAYS_PER_MONTH / 7
UPDATE_DAYS_PER_MONTH = DAYS_PER_MONTH - FULL_DAYS_PER_MONTH

_Price = Annotated[float, Field(ge=0)] | None


class PricingSettings(BaseModel):
    """`pricing:` of the env config, USD list prices for the env's region; an env overrides any of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Athena SQL queries, per TB scanned. The official page (https://aws.amazon.com/athena/pricing/) was not in
    # the reference corpus; read 2026-12-07 from pages quoting it: "It's a flat $5 per TB of data scanned,
    # rounded to the nearest MB, with a 10 MB minimum" (https://athena.guide/articles/athena-basics-pricing-model/)
    # and "$5 per TB of data scanned ... 10MB minimum per query" (https://rcpedia.stanford.edu/services/athena.html).
    # The 10 MB minimum per query is not applied (the scan of each query here is far above it).
    athena_usd_per_tb_scanned: _Price = 5.0
    # Amazon Personalize (https://aws.amazon.com/personalize/pricing/, read 2026-12-07 in its German edition
    # https://aws.amazon.com/de/personalize/pricing/): it bills training hours ("Eine Trainingsstunde ist eine
    # Stunde an Rechenkapazität unter Verwendung von 4v-CPUs und 8 GiB Arbeitsspeicher"), data ingested per GB
    # ("Die Gebühren werden pro GB an Daten, die in Amazon Personalize hochgeladen werden, berechnet") and
    # real-time throughput ("Sie bezahlen für das Maximum entweder minimal bereitgestellt[en TPS oder der
    # tatsächlichen TPS]"). The dollar figures of that page were not in the text that could be read: these
    # defaults stay unset (not priced) until someone reads them from the page and sets them for the env.
    training_usd_per_hour: _Price = None
    ingestion_usd_per_gb: _Price = None
    # Batch recommendations per 1,000 users or items scored. The page's batch prices may be tiered by monthly
    # volume: one flat figure (the tier the env's monthly volume falls in) keeps the estimate simple.
    batch_usd_per_1000_scored: _Price = None
    campaign_usd_per_tps_hour: _Price = None


def _times(quantity: float, price: float | None, unit: float = 1.0) -> float | None:
    return None if price is None else quantity / unit * price


def estimate(drivers: dict[str, float], pricing: PricingSettings) -> dict[str, Any]:
    """USD per driver (None: not priced), the total of the priced ones, and which are not priced.

    drivers: pipeline.cost_drivers.CostDrivers.totals() (athena_scanned_bytes, training_hours, import_bytes,
    batch_scored, campaign_tps_hours)."""
    usd = {
        "athena": _times(drivers["athena_scanned_bytes"], pricing.athena_usd_per_tb_scanned, BYTES_PER_TB),
        "training": _times(drivers["training_hours"], pricing.training_usd_per_hour),
        "ingestion": _times(drivers["import_bytes"], pricing.ingestion_usd_per_gb, BYTES_PER_GB),
        "batch": _times(drivers["batch_scored"], pricing.batch_usd_per_1000_scored, 1000),
        "campaign": _times(drivers["campaign_tps_hours"], pricing.campaign_usd_per_tps_hour),
    }
    return {
        "label": ESTIMATE_LABEL,
        "usd": {k: None if v is None else round(v, 6) for k, v in usd.items()},
        "total_usd": round(sum(v for v in usd.values() if v is not None), 6),
        "not_priced": sorted(k for k, v in usd.items() if v is None),
    }


def monthly_usd(full_day_usd: float, update_day_usd: float) -> float:
    """A typical month of one country: FULL_DAYS_PER_MONTH full days and the rest update days."""
    return round(FULL_DAYS_PER_MONTH * full_day_usd + UPDATE_DAYS_PER_MONTH * update_day_usd, 6)
