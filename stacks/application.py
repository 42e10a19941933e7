"""Builds the whole app for one environment: used by app.py, the tests and the benchmarks alike."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk

LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDA_ROOT) not in sys.path:  # the stacks share schema/name code with the Lambda runtime
    sys.path.insert(0, str(LAMBDA_ROOT))

from stacks.config import EnvironmentConfig  # noqa: E402
from stacks.country_stack import CountryStack  # noqa: E402
from stacks.data_stack import DataStack  # noqa: E402
from stacks.nag import enable_checks  # noqa: E402


@dataclass
class Application:
    app: cdk.App
    config: EnvironmentConfig
    data: DataStack
    countries: dict[str, CountryStack] = field(default_factory=dict)

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [self.data, *self.countries.values()]


def stack_prefix(config: EnvironmentConfig) -> str:
    return f"Personalize-{config.env}"


def build_application(config: EnvironmentConfig, app: cdk.App | None = None, *, nag: bool = True) -> Application:
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
            tags={**tags, "country": country.code},
        )
    if nag:
        enable_checks(app)
    return application
