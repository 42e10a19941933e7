"""Builds the whole app for one environment: used by app.py, the tests and the benchmarks alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk

from stacks.config import EnvironmentConfig
from stacks.country_stack import CountryStack, frozen_stack_tags
from stacks.data_stack import DataStack
from stacks.nag import enable_checks
from stacks.pipeline_stack import PipelineStack
from stacks.realtime_stack import RealtimeStack


@dataclass
class Application:
    app: cdk.App
    config: EnvironmentConfig
    data: DataStack
    countries: dict[str, CountryStack] = field(default_factory=dict)
    pipeline: PipelineStack | None = None
    realtime: RealtimeStack | None = None

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.data, *self.countries.values(), *(s for s in (self.pipeline, self.realtime) if s)]


def stack_prefix(config: EnvironmentConfig) -> str:
    return f"Personalize-{config.env}"


def build_application(
    config: EnvironmentConfig, app: cdk.App | None = None, *, nag: bool = True
) -> Application:
    app = app or cdk.App()
    env = cdk.Environment(account=config.account, region=config.region)
    prefix = stack_prefix(config)
    tags = {"project": "personalize-recommendations", "env": config.env}

    data = DataStack(app, f"{prefix}-Data", config=config, env=env, tags=tags)
    application = Application(app=app, config=config, data=data)
    for country in config.countries:
        application.countries[country.code] = CountryStack(
            app,
            f"{prefix}-{country.code}",
            config=config,
            country=country,
            key=data.key,
            personalize_role=data.personalize_role,
            env=env,
            tags=frozen_stack_tags(config, country),
        )
    application.pipeline = PipelineStack(
        app,
        f"{prefix}-Pipeline",
        config=config,
        key=data.key,
        personalize_role=data.personalize_role,
        countries=application.countries,
        env=env,
        tags=tags,
    )
    application.realtime = RealtimeStack(
        app,
        f"{prefix}-Realtime",
        config=config,
        key=data.key,
        countries=application.countries,
        alarm_topic=application.pipeline.topic,
        env=env,
        tags=tags,
    )
    if nag:
        enable_checks(app)
    return application
