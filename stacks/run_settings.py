"""A country's settings as the pipeline reads them: the config model (stacks/config.py) and the country's
deployed resources, built as the runtime's own model (pipeline.model.RunSettings) so that a field the Lambdas
would refuse fails the synth, not the first run. The schedule renders it as JSON into each execution's input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from common.schemas import DATASET_TYPES
from pipeline.model import RunSettings, Timeouts
from stacks.names import bucket_name

if TYPE_CHECKING:
    from stacks.config import Country, EnvironmentConfig
    from stacks.constructs.raw_catalog import RawCatalog
    from stacks.country_stack import CountryStack


def run_settings(
    config: EnvironmentConfig,
    country: Country,
    country_stack: CountryStack,
    *,
    personalize_role_arn: str,
    catalog: RawCatalog,
) -> dict[str, Any]:
    settings = RunSettings(
        env=config.env,
        name_prefix=config.name_prefix,
        country=country.code,
        time_zone=country.time_zone,
        recipes=list(country.recipes),
        full_training_weekday=country.training.full_training_weekday.iso,
        other_days=country.training.other_days.value,
        auto_training=country.training.auto_training,
        batch_mode=country.batch_inference.value,
        campaign_enabled=country.campaign.enabled,
        campaign_min_tps=country.campaign.min_tps,
        gate=country.gate,
        exploration=country.exploration,
        filters=country.filters,
        window_days=config.data.window_days,
        report_evaluated_users=country.data.report_evaluated_users,
        curation_recent_items=country.data.curation_recent_items,
        quality=config.data.quality,
        timeouts=Timeouts(**config.timeouts.model_dump(), training_hours=country.training.timeout_hours),
        dataset_group_arn=country_stack.dataset_group_arn,
        dataset_arns={t: country_stack.dataset_arn(t) for t in DATASET_TYPES},
        schema_digests={t: country_stack.schema_digest(t) for t in DATASET_TYPES},
        personalize_role_arn=personalize_role_arn,
        prepared_bucket=bucket_name(config, "prepared"),
        results_bucket=bucket_name(config, "results"),
        genre_mapping_uri=f"s3://{bucket_name(config, 'raw')}/{catalog.genre_mapping_key}",
        athena_database=catalog.database_name,
        athena_workgroup=catalog.workgroup_name,
        pricing=config.pricing,
        experiments=country.experiments,
    )
    return settings.model_dump(mode="json")
