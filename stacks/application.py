"""Builds the whole app for one environment: used by app.py, the tests and the benchmarks alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk

from stacks.config import EnvironmentConfig
from stacks.country_stack import CountryStack, frozen_stack_tags
from stacks.data_stack import DataStack
from stacks.nag import enable_checks
from stacks.names import (
    country_stack_name,
    data_stack_name,
    pipeline_stack_name,
    realtime_stack_name,
    serving_stack_name,
)
from stacks.pipeline_stack import PipelineStack
from stacks.realtime_stack import RealtimeStack
from stacks.serving_stack import ServingStack


@dataclass
class Application:
    app: cdk.App
    config: EnvironmentConfig
    data: DataStack
    countries: dict[str, CountryStack] = field(default_factory=dict)
    pipeline: PipelineStack | None = None
    serving: ServingStack | None = None
    realtime: RealtimeStack | None = None

    @property
    def stacks(self) -> list[cdk.Stack]:
        later = (self.pipeline, self.serving, self.realtime)
        return [self.data, *self.countries.values(), *(s for s in later if s)]


def build_application(
    config: EnvironmentConfig, app: cdk.App | None = None, *, nag: bool = True
) -> Application:
    app = app or cdk.App()
    env = cdk.Environment(account=config.account, region=config.region)
    tags = {"project": "personalize-recommendations", "env": config.env}

    data = DataStack(app, data_stack_name(config), config=config, env=env, tags=tags)
    application = Application(app=app, config=config, data=data)
    for country in config.countries:
        application.countries[country.code] = CountryStack(
            app,
            country_stack_name(config, country.code),
            config=config,
            country=country,
            key=data.key,
            personalize_role=data.personalize_role,
            env=env,
            tags=frozen_stack_tags(config, country),
        )
    application.pipeline = PipelineStack(
        app,
        pipeline_stack_name(config),
        config=config,
        key=data.key,
        personalize_role=data.personalize_role,
        countries=application.countries,
        env=env,
        tags=tags,
    )
    # After the pipeline: the serving stack's alarms notify the pipeline's topic; the Publish step names the read
    # model by name (names.read_model_table_name), so the pipeline depends on nothing of the serving stack.
    application.serving = ServingStack(
        app,
        serving_stack_name(config),
        config=config,
        key=data.key,
        alarm_topic=application.pipeline.topic,
        env=env,
        tags=tags,
    )
    application.realtime = RealtimeStack(
        app,
        realtime_stack_name(config),
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
